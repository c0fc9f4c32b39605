"""Convolution speed: forward + backward time, GFLOP/s, and the ratio to this machine's GEMM.

    python benchmarks/bench_conv.py [--repeats 20] [--quick]

A convolution's arithmetic is a matrix multiply (im2col), so the fair yardstick is
the float32 GEMM throughput of the same machine: ``np.matmul`` of two 1024x1024
matrices, measured with BLAS on every core the convolution may use (``threadpoolctl``
lifts the package's one-thread BLAS limit for that measurement only) and on one
thread. Each convolution is timed twice: with its tiles on all threads (the
default, see ``minimaskrcnn/ops/tiles.py``) and on one thread, each against the
GEMM with the same number of threads.

Each timing is the best of ``--repeats`` runs after a warm-up (the first call
compiles the Numba kernels); the best, not the mean, because other processes on
a shared machine only ever make a run slower. The GEMM yardstick is measured
before and after the convolutions and the better figure kept. FLOPs count
multiply and add separately: forward, dx and dw each cost
``2 * N * F * C * kh * kw * Ho * Wo``.

On a busy machine the all-thread figures say little: Linux shares the CPU
fairly between sessions (autogroup), so while other jobs run, a second thread
adds no CPU time, and a multi-threaded BLAS even loses to a single thread. So
the load average is printed, and besides the measured all-thread GEMM the
table shows the *ideal* yardstick, threads x the 1-thread GEMM, which load
cannot make easier to reach.
"""
from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from minimaskrcnn.ops.conv import (
    conv2d_backward, conv2d_backward_naive, conv2d_forward, conv2d_forward_naive,
    conv_transpose2d_backward, conv_transpose2d_forward,
)

HEADLINE = ("headline", (8, 32, 64, 64), 32, 3, 1, 1, False)  # the fixed yardstick case of earlier reports


def model_cases(cfg=None, batch: int = 8):
    """Every distinct convolution a training step of ``Config()`` runs, with how often it runs.

    Found by running one training forward pass on a batch of generated shapes and
    recording each Conv2d / ConvTranspose2d call: (label, input shape, out channels,
    kernel, stride, padding, transposed, calls per step). Stays true when the
    defaults change.
    """
    from collections import Counter

    from minimaskrcnn.config import Config
    from minimaskrcnn.datasets import ShapesDataset
    from minimaskrcnn.datasets.loader import make_batch
    from minimaskrcnn.model import MaskRCNN
    from minimaskrcnn.nn import layers

    cfg = cfg or Config()
    model = MaskRCNN(cfg)
    seen = Counter()
    names = {}
    for name, module in _named_modules(model):
        names[id(module)] = name
    originals = {}
    for cls in (layers.Conv2d, layers.ConvTranspose2d):
        originals[cls] = cls.forward

        def record(self, x, _cls=cls):
            w = self.params["weight"]
            transposed = _cls is layers.ConvTranspose2d
            out_ch = w.shape[1] if transposed else w.shape[0]
            key = (names.get(id(self), _cls.__name__).split(".")[0], tuple(x.shape), out_ch, w.shape[-1],
                   self.stride, self.padding, transposed)
            seen[key] += 1
            return originals[_cls](self, x)

        cls.forward = record
    try:
        data = ShapesDataset(batch, seed=0, config=cfg.training_shapes())
        images, targets = make_batch(data, list(range(batch)), cfg, np.random.default_rng(0))
        model.forward(images, targets, np.random.default_rng(0))
    finally:
        for cls, f in originals.items():
            cls.forward = f
    return [(stage, shape, out_ch, k, st, pad, tr, n) for (stage, shape, out_ch, k, st, pad, tr), n in seen.items()]


def _named_modules(module, prefix=""):
    yield prefix.rstrip("."), module
    for name, child in module.children():
        yield from _named_modules(child, prefix + name + ".")


def best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: JIT compilation, work buffers, threads
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def gemm_gflops(threads: int, repeats: int) -> float:
    """float32 1024x1024 matmul throughput with BLAS on ``threads`` threads."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024), dtype=np.float32)
    b = rng.standard_normal((1024, 1024), dtype=np.float32)
    with threadpool_limits(threads, user_api="blas"):
        seconds = best_seconds(lambda: a @ b, repeats)
    time.sleep(0.2)  # let idle BLAS threads stop spinning before anything else is timed
    return 2 * 1024**3 / seconds / 1e9


def conv_case(shape, out_channels, kernel, stride, padding, transposed, rng):
    """Return (description, fwd+bwd callable, flops) for one layer shape, float32."""
    N, C, H, W = shape
    x = rng.standard_normal(shape, dtype=np.float32)
    if transposed:
        w = rng.standard_normal((C, out_channels, kernel, kernel), dtype=np.float32)
        forward, backward = conv_transpose2d_forward, conv_transpose2d_backward
        flops_per_pass = 2 * N * C * H * W * out_channels * kernel * kernel
    else:
        w = rng.standard_normal((out_channels, C, kernel, kernel), dtype=np.float32)
        forward, backward = conv2d_forward, conv2d_backward
    b = np.zeros(out_channels, dtype=np.float32)
    out, _ = forward(x, w, b, stride, padding)
    dout = rng.standard_normal(out.shape, dtype=np.float32)
    if not transposed:
        flops_per_pass = 2 * N * out_channels * C * kernel * kernel * out.shape[2] * out.shape[3]

    def step():
        _, cache = forward(x, w, b, stride, padding)
        backward(dout, cache)

    kind = "convT" if transposed else "conv"
    text = f"{kind} {str(shape):17s} {C:>3d}->{out_channels:<3d} {kernel}x{kernel} s{stride}"
    return text, step, 3 * flops_per_pass


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="the headline case only")
    parser.add_argument("--list", action="store_true", help="only list the model's convolution shapes")
    args = parser.parse_args()
    if args.list:
        for case in model_cases():
            print(case)
        return
    repeats = args.repeats
    threads = numba.get_num_threads()  # what the convolution's tiles may use
    rng = np.random.default_rng(0)
    print(f"{os.cpu_count()} CPUs, convolution threads {threads}; {load()} (at start)")

    gemm = {n: gemm_gflops(n, repeats) for n in sorted({threads, 1})}
    cases = [HEADLINE + (1,)] + ([] if args.quick else model_cases())
    rows = []
    for label, *case, calls in cases:
        text, step, flops = conv_case(*case, rng=rng)
        text += f" x{calls}"
        numba.set_num_threads(threads)
        fast = best_seconds(step, repeats)
        numba.set_num_threads(1)
        single = best_seconds(step, repeats)
        numba.set_num_threads(threads)
        rows.append((label, text, flops, fast, single))
    gemm = {n: max(g, gemm_gflops(n, repeats)) for n, g in gemm.items()}  # best of before and after

    ideal = threads * gemm[1]
    print(f"float32 GEMM np.matmul 1024x1024: {gemm[threads]:.1f} GFLOP/s on {threads} threads (measured), "
          f"{gemm[1]:.1f} GFLOP/s on 1 thread, ideal {threads} x {gemm[1]:.1f} = {ideal:.1f}")
    if threads > 1 and gemm[threads] < 0.75 * ideal:
        print(f"  ! the machine is busy: {threads} BLAS threads reach only {gemm[threads] / gemm[1]:.2f}x one thread;"
              f" ratios to the measured {threads}-thread GEMM flatter, the /ideal column does not")
    print()
    head = f"{threads} threads"
    print("each convolution of a default training step (x calls per step), float32, forward + backward:")
    print(f"{'':55s}  {head:>30s}   {'1 thread':>22s}")
    print(f"{'':55s}  {'ms':>7s} {'GFLOP/s':>7s} {'/GEMM':>6s} {'/ideal':>6s}   {'ms':>7s} {'GFLOP/s':>7s} {'/GEMM':>6s}")
    step_ms = 0.0
    for (label, text, flops, fast, single), (*_, calls) in zip(rows, cases):
        rate, rate1 = flops / fast / 1e9, flops / single / 1e9
        if label != "headline":
            step_ms += fast * 1e3 * calls
        print(f"{label:>9s} {text:45s}  {fast * 1e3:7.2f} {rate:7.1f} {rate / gemm[threads]:6.0%} {rate / ideal:6.0%}"
              f"   {single * 1e3:7.2f} {rate1:7.1f} {rate1 / gemm[1]:6.0%}")
    if not args.quick:
        print(f"\nall convolutions of one training step: {step_ms:.0f} ms (forward + backward, {threads} threads)")

    # The loop reference on a small input, to show what im2col + GEMM buys.
    x = rng.standard_normal((2, 8, 16, 16), dtype=np.float32)
    w = rng.standard_normal((8, 8, 3, 3), dtype=np.float32)
    b = np.zeros(8, dtype=np.float32)
    dout = rng.standard_normal((2, 8, 16, 16), dtype=np.float32)
    naive = best_seconds(lambda: conv2d_backward_naive(dout, conv2d_forward_naive(x, w, b, 1, 1)[1]), 3)
    fast = best_seconds(lambda: conv2d_backward(dout, conv2d_forward(x, w, b, 1, 1)[1]), repeats)
    print(f"\nnaive loops vs fast, (2, 8, 16, 16) 8->8 3x3: {naive * 1e3:.1f} ms vs {fast * 1e3:.3f} ms "
          f"({naive / fast:.0f}x)")
    _, _, flops, fast, _ = rows[0]
    rate = flops / fast / 1e9
    print(f"\nheadline (8, 32, 64, 64) 32->32 3x3 pad 1: {fast * 1e3:.1f} ms fwd+bwd, {rate:.1f} GFLOP/s "
          f"= {rate / gemm[threads]:.0%} of the measured {threads}-thread GEMM, {rate / ideal:.0%} of the ideal "
          f"(target >= 50%)")
    print(load() + " (at end)")


if __name__ == "__main__":
    main()
