#!/usr/bin/env python3
"""The benchmark's batch-norm rows in PyTorch on CUDA, for comparison on the same card.

Same shapes, ops, eps and minimum bytes as bench/batch-norm-entries.ts, inputs rotated
the same way (at least 64 MiB of x, 2 to 8 copies), and the same kind of floor: a
device-to-device copy of a tensor of the same size, at its best of a few runs. Each op
is timed as a batch of ops queued back to back between two CUDA events (the
benchmark's throughput), median of repeats. float16 rows: x, y, dy, dx in half,
weight, bias and running statistics in float32 (PyTorch's mixed batch norm).
Usage: python3 bench/torch-cuda.py [--json FILE]
"""
import argparse
import json
import math
import statistics

import torch
import torch.nn.functional as F

SHAPES = [
    ('NC', [64, 128]),
    ('NC', [4096, 256]),
    ('NCHW', [32, 64, 32, 32]),
    ('NHWC', [32, 32, 32, 64]),
    ('NC', [65536, 64]),
    ('NCHW', [16, 64, 128, 128]),
]
# Reads and writes per element of each op (the benchmark's BYTES_PER_ELEMENT over 4 bytes).
ACCESSES = {'training forward': 3, 'eval forward': 2, 'backward': 5, 'training step': 8}
EPS = 1e-5
ROTATED_BYTES = 64 << 20
BATCH = 50
REPEATS = 7


def rotations(n):
    return min(8, max(2, math.ceil(ROTATED_BYTES / (4 * n))))


def timed(fn, count):
    """Median ms per call of fn(i), calls queued back to back between two events."""
    for i in range(3):
        fn(i)
    torch.cuda.synchronize()
    times = []
    it = 0
    for _ in range(REPEATS):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(count):
            fn(it)
            it += 1
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / count)
    return statistics.median(times)


def tensor(layout, shape, dtype, seed):
    g = torch.Generator(device='cuda').manual_seed(seed)
    if layout == 'NHWC':  # stored channels-last: PyTorch's NCHW view of NHWC memory
        n, h, w, c = shape
        t = torch.randn(n, h, w, c, device='cuda', generator=g).permute(0, 3, 1, 2)
    else:
        t = torch.randn(*shape, device='cuda', generator=g)
    return (t * 1.5 + 0.3).to(dtype)


def floor_gbps(n, dtype):
    copies = rotations(n)
    src = [torch.randn(n, device='cuda').to(dtype) for _ in range(copies)]
    dst = torch.empty(n, device='cuda', dtype=dtype)
    best = 0.0
    for _ in range(2):
        ms = timed(lambda i: dst.copy_(src[i % copies]), BATCH)
        best = max(best, 2 * n * dst.element_size() / (ms * 1e6))
    return best


def rows(dtype):
    out = []
    for layout, shape in SHAPES:
        n = math.prod(shape)
        c = shape[-1] if layout == 'NHWC' else shape[1]
        copies = rotations(n)
        xs = [tensor(layout, shape, dtype, 2 * i) for i in range(copies)]
        dys = [tensor(layout, shape, dtype, 2 * i + 1) for i in range(copies)]
        weight = torch.rand(c, device='cuda') + 0.5
        bias = torch.randn(c, device='cuda')
        rm, rv = torch.zeros(c, device='cuda'), torch.ones(c, device='cuda')
        floor = floor_gbps(n, dtype)
        size = xs[0].element_size()

        def train(i):
            return F.batch_norm(xs[i % copies], rm, rv, weight, bias, True, 0.1, EPS)

        def evaluate(i):
            return F.batch_norm(xs[i % copies], rm, rv, weight, bias, False, 0.1, EPS)

        # backward alone: graphs recorded once per rotated input, differentiated again and again
        leaves = [x.detach().requires_grad_() for x in xs]
        w, b = weight.detach().requires_grad_(), bias.detach().requires_grad_()
        graphs = [F.batch_norm(x, rm, rv, w, b, True, 0.1, EPS) for x in leaves]

        def backward(i):
            k = i % copies
            return torch.autograd.grad(graphs[k], [leaves[k], w, b], dys[k], retain_graph=True)

        def step(i):
            k = i % copies
            y = F.batch_norm(leaves[k], rm, rv, w, b, True, 0.1, EPS)
            return torch.autograd.grad(y, [leaves[k], w, b], dys[k])

        for op, fn in [('training forward', train), ('eval forward', evaluate), ('backward', backward), ('training step', step)]:
            ms = timed(fn, BATCH)
            floor_ms = ACCESSES[op] * n * size / (floor * 1e6)
            row = {'shape': f'{layout} {shape}', 'op': op, 'dtype': str(dtype).replace('torch.', ''), 'ms': ms, 'floor_gbps': floor, 'x_floor': ms / floor_ms}
            out.append(row)
            print(f"{row['dtype']:8} {row['shape']:24} {op:17} {ms * 1000:9.1f} us  floor {floor:7.0f} GB/s  {row['x_floor']:6.2f}x floor", flush=True)
        del xs, dys, leaves, graphs
        torch.cuda.empty_cache()
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--json')
    args = parser.parse_args()
    print(f'PyTorch {torch.__version__}, {torch.cuda.get_device_name()}, cuDNN {torch.backends.cudnn.version()}', flush=True)
    result = {'torch': torch.__version__, 'device': torch.cuda.get_device_name(), 'rows': rows(torch.float32) + rows(torch.float16)}
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
