#!/usr/bin/env python3
"""PyTorch reference for apps/bench_gpu: the same networks and the same training step (forward, MSE,
backward, Adam) at fp32 with TF32 off, cuDNN deterministic, timed with CUDA events (median of several
steps after warm-up). Also ResNet18's 3x3 convolutions and the SGEMMs of bench_gpu, one call at a time.
Prints markdown; --markdown FILE writes it there too. Comparison only: keynet itself uses no PyTorch."""
import argparse
import statistics
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def nose_net():  # 1x60x80 -> 2
    return nn.Sequential(
        nn.Conv2d(1, 12, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(12, 24, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(24, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 5 * 8, 128), nn.ReLU(), nn.Linear(128, 2))


def face_net():  # 1x120x160 -> 116
    layers, c_in = [], 1
    for c_out, k in zip((16, 32, 64, 128, 256), (7, 5, 3, 3, 3)):
        layers += [nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c_out
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(256 * 3 * 5, 512), nn.ReLU(), nn.Linear(512, 116))


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(nn.Module):  # torchvision's resnet18 with 1 input channel and 136 outputs
    def __init__(self, in_channels=1, outputs=136):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, c_in = [], 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks.append(nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)))
            c_in = c_out
        self.layer1, self.layer2, self.layer3, self.layer4 = blocks
        self.fc = nn.Linear(512, outputs)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def median_ms(fn, warmup=3, samples=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(samples):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def bench_network(name, model, batch, shape, outputs):
    torch.manual_seed(0)
    model = model.cuda().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, *shape, device="cuda")
    target = torch.rand(batch, outputs, device="cuda")

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss = F.mse_loss(model(x), target)
        loss.backward()
        optimizer.step()

    torch.cuda.reset_peak_memory_stats()
    ms = median_ms(step)
    peak = torch.cuda.max_memory_allocated() / 2**20
    return f"| {name} | {batch} | {ms:.2f} | {1000 / ms:.1f} | {peak:.0f} |"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", help="also write the tables to this file")
    parser.add_argument("--op-batch", type=int, default=64)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_torch_gpu: PyTorch sees no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False

    lines = [f"## PyTorch {torch.__version__} (cuDNN {torch.backends.cudnn.version()}) on "
             f"{torch.cuda.get_device_name()}: fp32, TF32 off, cudnn.deterministic, no cudnn.benchmark", "",
             "### Training step (forward, MSE, backward, Adam)", "",
             "| network | batch | ms/step | steps/s | peak MiB |", "|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)

    def add(line):
        lines.append(line)
        print(line, flush=True)

    add(bench_network("NoseNet 1x60x80", nose_net(), 64, (1, 60, 80), 2))
    add(bench_network("FaceNet 1x120x160", face_net(), 32, (1, 120, 160), 116))
    for batch in (64, 256):
        add(bench_network("ResNet18 1x224x224", ResNet18(), batch, (1, 224, 224), 136))

    b = args.op_batch
    add("")
    add(f"### ResNet18 3x3 convolutions, batch {b} (cuDNN through PyTorch)")
    add("")
    add("| conv | forward ms | forward TFLOP/s | backward (data+weight) ms | backward TFLOP/s |")
    add("|---|---|---|---|---|")
    for name, c, h, k, stride in (("layer1 64->64 56x56", 64, 56, 64, 1), ("layer2 64->128 56x56 s2", 64, 56, 128, 2),
                                  ("layer2 128->128 28x28", 128, 28, 128, 1), ("layer3 256->256 14x14", 256, 14, 256, 1),
                                  ("layer4 512->512 7x7", 512, 7, 512, 1)):
        x = torch.rand(b, c, h, h, device="cuda", requires_grad=True)
        w = torch.rand(k, c, 3, 3, device="cuda", requires_grad=True)
        y = F.conv2d(x, w, stride=stride, padding=1)
        dy = torch.rand_like(y)
        p = y.shape[2]
        gflop = 2.0 * b * k * p * p * c * 9 / 1e9
        fwd = median_ms(lambda: F.conv2d(x, w, stride=stride, padding=1))
        bwd = median_ms(lambda: torch.autograd.grad(y, (x, w), dy, retain_graph=True))
        add(f"| {name} | {fwd:.3f} | {gflop / fwd:.1f} | {bwd:.3f} | {2 * gflop / bwd:.1f} |")

    add("")
    add("### SGEMM (torch.nn.functional.linear, cuBLAS)")
    add("")
    add("| N x I x O | ms | TFLOP/s |")
    add("|---|---|---|")
    for n, i, o in ((b, 512, 136), (b * 49, 512, 512), (4096, 4096, 4096)):
        x = torch.rand(n, i, device="cuda")
        w = torch.rand(o, i, device="cuda")
        ms = median_ms(lambda: F.linear(x, w))
        add(f"| {n} x {i} x {o} | {ms:.3f} | {2.0 * n * i * o / 1e9 / ms:.1f} |")

    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
