#!/usr/bin/env python3
"""Loads a keynet iBUG model (ResNet18, stored as F16, BF16 or F32) into torchvision's resnet18 the way a
PyTorch user would: safetensors.torch.load_file, floats cast to float32, load_state_dict(strict=True).
Given a second file (e.g. the F32 original), both run on the same random batch in eval mode and the
largest difference of their outputs is printed.

    python3 scripts/torch_load_model.py models/ibug_landmarks.safetensors [ORIGINAL.safetensors]

Needs python3-torch, python3-torchvision (Debian) and the safetensors package (pip install safetensors)."""
import sys

import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file


def load(path):
    stored = load_file(path)
    dtypes = sorted({str(v.dtype) for v in stored.values()})
    state = {k: v.float() if v.is_floating_point() else v for k, v in stored.items()}
    with safe_open(path, "pt") as f:
        card = f.metadata()
    net = torchvision.models.resnet18(num_classes=2 * int(card["keynet.num_points"]))
    net.conv1 = torch.nn.Conv2d(int(card["keynet.input_channels"]), 64, 7, 2, 3, bias=False)
    net.load_state_dict(state, strict=True)
    print(f"{path}: stored as {', '.join(dtypes)}; load_state_dict(strict=True) took all {len(state)} tensors")
    return net.eval(), card


net, card = load(sys.argv[1])
size = int(card["keynet.input_width"])
x = torch.rand(4, int(card["keynet.input_channels"]), size, size, generator=torch.Generator().manual_seed(0)) - 0.5
with torch.no_grad():
    y = net(x)
print(f"outputs {tuple(y.shape)}, all finite: {bool(torch.isfinite(y).all())}")
if len(sys.argv) > 2:
    original, _ = load(sys.argv[2])
    with torch.no_grad():
        print(f"largest output difference from {sys.argv[2]}: {(original(x) - y).abs().max().item():.3g} "
              f"(outputs span {y.min().item():.3f} to {y.max().item():.3f})")
