#!/usr/bin/env python3
"""Loads a keynet iBUG model (ResNet18, stored as F16, BF16 or F32) into torchvision's resnet18 the way a
PyTorch user would: safetensors.torch.load_file, floats cast to float32, load_state_dict(strict=True).
A card whose architecture is resnet18-integral gets keynet's integral head (layers/resnet.h) in place of
avgpool and fc, written here in PyTorch with the same state names (head.N.*).
Given a second file (e.g. the F32 original), both run on the same random batch in eval mode and the
largest difference of their outputs is printed.

    python3 scripts/torch_load_model.py models/ibug_landmarks.safetensors [ORIGINAL.safetensors]

Needs python3-torch, python3-torchvision (Debian) and the safetensors package (pip install safetensors)."""
import sys

import torch
import torchvision


class BatchNormReLU(torch.nn.BatchNorm2d):
    """keynet's fused BatchNormReLU: one module, so that the head's indices match keynet's names."""

    def forward(self, x):
        return torch.relu(super().forward(x))


class SoftArgmax2d(torch.nn.Module):
    """Each map's softmax, then the expected cell centre (2j+1)/W - 1, (2i+1)/H - 1; (N, K, H, W) -> (N, 2K)."""

    def forward(self, s):
        n, k, h, w = s.shape
        p = torch.softmax(s.reshape(n, k, h * w), dim=2).reshape(n, k, h, w)
        gx = (2 * torch.arange(w, dtype=s.dtype) + 1) / w - 1
        gy = (2 * torch.arange(h, dtype=s.dtype) + 1) / h - 1
        x = (p.sum(dim=2) * gx).sum(dim=2)
        y = (p.sum(dim=3) * gy).sum(dim=2)
        return torch.stack([x, y], dim=2).reshape(n, 2 * k)


class IntegralResNet18(torchvision.models.ResNet):
    """torchvision's resnet18 body; layer4 upsampled x2 twice (3x3 conv and BatchNormReLU, 256 then 128
    channels), a 1x1 conv scoring each cell per point, and the soft-argmax."""

    def __init__(self, points):
        super().__init__(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2])
        del self.avgpool, self.fc
        layers, channels = [], 512
        for width in (256, 128):
            layers += [torch.nn.Upsample(scale_factor=2, mode="nearest"),
                       torch.nn.Conv2d(channels, width, 3, 1, 1, bias=False), BatchNormReLU(width)]
            channels = width
        self.head = torch.nn.Sequential(*layers, torch.nn.Conv2d(channels, points, 1), SoftArgmax2d())

    def _forward_impl(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.head(self.layer4(self.layer3(self.layer2(self.layer1(x)))))


def load(path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    stored = load_file(path)
    dtypes = sorted({str(v.dtype) for v in stored.values()})
    state = {k: v.float() if v.is_floating_point() else v for k, v in stored.items()}
    with safe_open(path, "pt") as f:
        card = f.metadata()
    points = int(card["keynet.num_points"])
    architecture = card.get("keynet.architecture", "resnet18")
    if architecture == "resnet18-integral":
        net = IntegralResNet18(points)
    elif architecture == "resnet18":
        net = torchvision.models.resnet18(num_classes=2 * points)
    else:
        sys.exit(f"{path}: architecture {architecture} is not one this script knows")
    net.conv1 = torch.nn.Conv2d(int(card["keynet.input_channels"]), 64, 7, 2, 3, bias=False)
    net.load_state_dict(state, strict=True)
    print(f"{path}: {architecture}, stored as {', '.join(dtypes)}; load_state_dict(strict=True) took all "
          f"{len(state)} tensors")
    return net.eval(), card


def main():
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


if __name__ == "__main__":
    main()
