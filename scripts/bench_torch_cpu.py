#!/usr/bin/python3
"""PyTorch CPU reference timings for apps/bench_cpu (comparison only; keynet itself uses no ML framework).

Times the same things the same way as `bench_cpu`: the 3x3 128->128 convolution at 28x28 (batch 16),
forward and backward, and one training step (forward, MSE, backward, Adam) of NoseNet, FaceNet and
ResNet18 (1 input channel, 136 outputs), each the median of --reps runs after one warm-up, and prints
tables in the same layout.

    /usr/bin/python3 scripts/bench_torch_cpu.py --threads 2 --reps 7
(Debian's python3-torch lives in /usr/bin/python3's site-packages.)
"""
import argparse
import resource
import statistics
import time

import torch
import torch.nn as nn
import torchvision


# Wall-clock time by default; --clock cpu measures the process's CPU time, as bench_cpu --clock cpu does.
clock = time.perf_counter


def median_seconds(reps, run):
    run()  # warm-up
    times = []
    for _ in range(reps):
        start = clock()
        run()
        times.append(clock() - start)
    return statistics.median(times)


def conv_net(height, width, stages, hidden, outputs):
    """conv(k, pad)+ReLU+maxpool2 stages, then Flatten, linear->hidden, ReLU, linear->outputs."""
    layers, channels = [], 1
    for out_channels, kernel, pad in stages:
        layers += [nn.Conv2d(channels, out_channels, kernel, padding=pad), nn.ReLU(), nn.MaxPool2d(2)]
        height = (height + 2 * pad - kernel + 1) // 2
        width = (width + 2 * pad - kernel + 1) // 2
        channels = out_channels
    layers += [nn.Flatten(), nn.Linear(channels * height * width, hidden), nn.ReLU(), nn.Linear(hidden, outputs)]
    return nn.Sequential(*layers)


def nose_net():
    return conv_net(60, 80, [(12, 5, 2), (24, 5, 0), (32, 3, 0)], 128, 2)


def face_net():
    return conv_net(120, 160, [(16, 7, 3), (32, 5, 2), (64, 3, 1), (128, 3, 1), (256, 3, 1)], 512, 116)


def resnet18():
    net = torchvision.models.resnet18(num_classes=136)
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net


def bench_conv(reps):
    print(f"\n== convolutions (forward, backward = dinp + dweight + dbias), median of {reps}")
    print(f"{'shape':<34} {'fwd ms':>9} {'bwd ms':>9} {'total ms':>9} {'fwd GF/s':>8} {'bwd GF/s':>8} {'all GF/s':>8}")
    N, C, H, K = 16, 128, 28, 128
    conv = nn.Conv2d(C, K, 3, padding=1)
    x = (torch.rand(N, C, H, H) * 2 - 1).requires_grad_(True)
    flops = 2.0 * N * K * H * H * C * 9
    with torch.no_grad():
        forward = median_seconds(reps, lambda: conv(x))
    out = conv(x)
    dout = torch.rand_like(out)

    def backward():
        conv.weight.grad = None
        conv.bias.grad = None
        x.grad = None
        torch.autograd.backward(out, dout, retain_graph=True)

    backward_time = median_seconds(reps, backward)
    print(f"{'3x3 128->128 28x28 N16':<34} {forward * 1e3:9.2f} {backward_time * 1e3:9.2f} "
          f"{(forward + backward_time) * 1e3:9.2f} {flops / forward * 1e-9:8.1f} "
          f"{2 * flops / backward_time * 1e-9:8.1f} {3 * flops / (forward + backward_time) * 1e-9:8.1f}")


def peak_resident_mib():
    """The process's peak resident memory so far (ru_maxrss is in kilobytes on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def resident_mib():
    """Resident memory now, 0 where /proc/self/status is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0


def bench_nets(reps, only):
    """`start MiB`: resident memory when the row began; `peak MiB`: the process's peak once it ended (run
    one net alone, --net, for its peak)."""
    print(f"\n== training step (forward, MSE, backward, Adam), median of {reps}")
    print(f"{'net':<10} {'batch':>6} {'input':>12} {'ms/step':>12} {'images/s':>12} {'start MiB':>10} {'peak MiB':>10}")
    cases = [("nosenet", 4, 60, 80, 2, nose_net), ("nosenet", 64, 60, 80, 2, nose_net),
             ("facenet", 4, 120, 160, 116, face_net), ("facenet", 32, 120, 160, 116, face_net),
             ("resnet18", 16, 224, 224, 136, resnet18)]
    for name, batch, height, width, outputs, make in cases:
        if only and name != only:
            continue
        start_mib = resident_mib()
        torch.manual_seed(42)
        net = make()
        net.train()
        adam = torch.optim.Adam(net.parameters(), lr=1e-4)
        loss_fn = nn.MSELoss()
        images = torch.rand(batch, 1, height, width)
        targets = torch.rand(batch, outputs) * 2 - 1

        def step():
            adam.zero_grad()
            loss = loss_fn(net(images), targets)
            loss.backward()
            adam.step()

        seconds = median_seconds(reps, step)
        print(f"{name:<10} {batch:6d} {f'{height}x{width}':>12} {seconds * 1e3:12.2f} {batch / seconds:12.1f} "
              f"{start_mib:10.0f} {peak_resident_mib():10.0f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--part", choices=["ops", "nets", "all"], default="all")
    parser.add_argument("--net", default="", help="only this net: nosenet, facenet or resnet18")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    print(f"bench_torch_cpu: torch {torch.__version__} threads={torch.get_num_threads()} reps={args.reps} "
          f"clock={args.clock} mkldnn={torch.backends.mkldnn.is_available()}")
    if args.part != "nets":
        bench_conv(args.reps)
    if args.part != "ops":
        bench_nets(args.reps, args.net)


if __name__ == "__main__":
    main()
