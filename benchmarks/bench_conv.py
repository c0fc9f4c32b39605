"""Convolution speed: forward + backward time, GFLOP/s, and the ratio to this machine's GEMM.

    python benchmarks/bench_conv.py [--repeats 20]

A convolution's arithmetic is a matrix multiply (im2col), so the fair yardstick is
the float32 GEMM throughput of the same machine: ``np.matmul`` of two 1024x1024
matrices. Each timing is the best of ``--repeats`` runs after a warm-up (the
first call compiles the Numba kernels); the best, not the mean, because other
processes on a shared machine only ever make a run slower. FLOPs count multiply and add separately:
forward, dx and dw each cost ``2 * N * F * C * kh * kw * Ho * Wo``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from minimaskrcnn.ops.conv import (
    conv2d_backward, conv2d_backward_naive, conv2d_forward, conv2d_forward_naive,
    conv_transpose2d_backward, conv_transpose2d_forward,
)


def best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: JIT compilation, work buffers, BLAS threads
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def gemm_gflops(repeats: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024), dtype=np.float32)
    b = rng.standard_normal((1024, 1024), dtype=np.float32)
    return 2 * 1024**3 / best_seconds(lambda: a @ b, repeats) / 1e9


def conv_case(shape, out_channels, kernel, stride, padding, transposed, rng):
    """Return (label, fwd+bwd callable, flops) for one layer shape, float32."""
    N, C, H, W = shape
    x = rng.standard_normal(shape, dtype=np.float32)
    if transposed:
        w = rng.standard_normal((C, out_channels, kernel, kernel), dtype=np.float32)
        forward, backward = conv_transpose2d_forward, conv_transpose2d_backward
        args = (stride, padding)
        flops_per_pass = 2 * N * C * H * W * out_channels * kernel * kernel
    else:
        w = rng.standard_normal((out_channels, C, kernel, kernel), dtype=np.float32)
        forward, backward = conv2d_forward, conv2d_backward
        args = (stride, padding)
    b = np.zeros(out_channels, dtype=np.float32)
    out, _ = forward(x, w, b, *args)
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    if not transposed:
        flops_per_pass = 2 * N * out_channels * C * kernel * kernel * out.shape[2] * out.shape[3]

    def step():
        _, cache = forward(x, w, b, *args)
        backward(dout, cache)

    kind = "convT" if transposed else "conv"
    label = f"{kind} {str(shape):17s} {C:>3d}->{out_channels:<3d} {kernel}x{kernel} s{stride} p{padding}"
    return label, step, 3 * flops_per_pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    repeats = parser.parse_args().repeats
    rng = np.random.default_rng(0)

    gemm = gemm_gflops(repeats)
    print(f"float32 GEMM np.matmul 1024x1024: {gemm:.1f} GFLOP/s\n")

    cases = [  # (input shape, out channels, kernel, stride, padding, transposed)
        ((8, 32, 64, 64), 32, 3, 1, 1, False),  # the headline case
        ((8, 64, 16, 16), 64, 3, 1, 1, False),
        ((8, 128, 8, 8), 128, 3, 1, 1, False),
        ((128, 32, 14, 14), 32, 3, 1, 1, False),  # mask head over 128 RoIs
        ((8, 32, 64, 64), 64, 3, 2, 1, False),  # stride-2 downsampling
        ((8, 64, 32, 32), 128, 1, 1, 0, False),  # 1x1 (no im2col)
        ((128, 32, 14, 14), 32, 2, 2, 0, True),  # mask head upsampling
    ]
    print(f"{'fast path, float32, forward + backward':52s} {'ms':>8s} {'GFLOP/s':>8s} {'/GEMM':>6s}")
    for i, case in enumerate(cases):
        label, step, flops = conv_case(*case, rng=rng)
        seconds = best_seconds(step, repeats)
        rate = flops / seconds / 1e9
        print(f"{label:52s} {seconds * 1e3:8.2f} {rate:8.1f} {rate / gemm:6.0%}")
        if i == 0:
            headline = (seconds, rate)

    # The loop reference on a small input, to show what im2col + GEMM buys.
    x = rng.standard_normal((2, 8, 16, 16), dtype=np.float32)
    w = rng.standard_normal((8, 8, 3, 3), dtype=np.float32)
    b = np.zeros(8, dtype=np.float32)
    dout = rng.standard_normal((2, 8, 16, 16), dtype=np.float32)
    naive = best_seconds(lambda: conv2d_backward_naive(dout, conv2d_forward_naive(x, w, b, 1, 1)[1]), 3)
    fast = best_seconds(lambda: conv2d_backward(dout, conv2d_forward(x, w, b, 1, 1)[1]), repeats)
    print(f"\nnaive loops vs fast, (2, 8, 16, 16) 8->8 3x3: {naive * 1e3:.1f} ms vs {fast * 1e3:.3f} ms "
          f"({naive / fast:.0f}x)")
    print(f"\nheadline (8, 32, 64, 64) 32->32 3x3 pad 1: {headline[0] * 1e3:.1f} ms fwd+bwd, "
          f"{headline[1]:.1f} GFLOP/s = {headline[1] / gemm:.0%} of GEMM (target >= 50%)")


if __name__ == "__main__":
    main()
