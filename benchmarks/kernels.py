#!/usr/bin/env python3
"""Micro-benchmarks behind doc/benchmarks.md's "measured and not taken" list (float64, 2 threads).

    python benchmarks/kernels.py products     # skinny matrix products: PyTorch (MKL), numpy (OpenBLAS), TensorFlow (Eigen)
    python benchmarks/kernels.py interleave   # a product then a PyTorch tanh: MKL against numpy's OpenBLAS
    python benchmarks/kernels.py tanh         # float64 tanh and formulas of it through exp
    python benchmarks/kernels.py embedding    # the embedding net's force-training pattern, row- and feature-major
    python benchmarks/kernels.py blocks       # inference embedding (value and input gradient) in row blocks

Shapes are those of the water energy example: 12 600 embedding rows per frame (occupied slots,
shared same-type pairs), nets [25, 50, 100], fitting 1600 -> 240. Medians of repeated runs.
"""

import argparse
import statistics
import time

import numpy as np

THREADS = 2
ROWS = 12_600
SHAPES = [(ROWS, 25, 50), (ROWS, 50, 100), (ROWS, 100, 50), (50, ROWS, 100), (192, 1600, 240), (1000, 1000, 1000)]


def median_time(fn, repeat=15):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_setup():
    import torch

    torch.set_num_threads(THREADS)
    return torch


def products():
    torch = torch_setup()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    reps = 10  # TensorFlow: products in a loop inside one tf.function, so no copy-out is timed
    for m, k, n in SHAPES:
        a, b = np.random.randn(m, k), np.random.randn(k, n)
        out = np.empty((m, n))
        ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
        fa, fb = tf.constant(a), tf.constant(b)

        @tf.function
        def tf_loop(x, y):
            total = tf.constant(0.0, tf.float64)
            for i in range(reps):
                total += tf.matmul(x, y + float(i))[0, 0]
            return total

        gflop = 2 * m * k * n / 1e9
        row = {"torch": median_time(lambda: torch.mm(ta, tb, out=tout)),
               "numpy": median_time(lambda: np.matmul(a, b, out=out)),
               "tensorflow": median_time(lambda: tf_loop(fa, fb).numpy()) / reps}
        print(f"{m} x {k} by {k} x {n}: " + "  ".join(
            f"{name} {t * 1e3:.2f} ms ({gflop / t:.1f} GFLOP/s)" for name, t in row.items()))


def interleave():
    torch = torch_setup()
    a, b = torch.randn(ROWS, 50, dtype=torch.float64), torch.randn(50, 100, dtype=torch.float64)
    out = torch.empty(ROWS, 100, dtype=torch.float64)
    na, nb, nout = a.numpy(), b.numpy(), out.numpy()

    def with_mkl():
        torch.mm(a, b, out=out)
        torch.tanh(out)

    def with_openblas():
        np.matmul(na, nb, out=nout)
        torch.tanh(out)

    for _ in range(3):
        print(f"product + tanh: MKL {median_time(with_mkl) * 1e3:.2f} ms, "
              f"OpenBLAS {median_time(with_openblas) * 1e3:.2f} ms")


def tanh():
    torch = torch_setup()
    x = torch.randn(17_500, 100, dtype=torch.float64) * 2

    def via_expm1():
        e = torch.expm1(x.clamp(-20, 20) * 2)
        return e.div_(e + 2)

    variants = {"tanh": lambda: torch.tanh(x), "exp": lambda: torch.exp(x),
                "sigmoid": lambda: torch.sigmoid(x), "expm1 / (expm1 + 2)": via_expm1}
    for name, fn in variants.items():
        print(f"{name}: {median_time(fn) * 1e3:.2f} ms on 17 500 x 100")


def embedding():
    torch = torch_setup()
    dims = [1, 25, 50, 100]
    weights = [torch.randn(i, o, dtype=torch.float64, requires_grad=True) for i, o in zip(dims, dims[1:])]
    biases = [torch.randn(o, dtype=torch.float64, requires_grad=True) for o in dims[1:]]

    def net(x, feature_major):
        for k, (w, b) in enumerate(zip(weights, biases)):
            y = torch.tanh(torch.addmm(b[:, None], w.t(), x) if feature_major else torch.addmm(b, x, w))
            if k:  # the width doubles: y + [x, x]
                y = (y.view(2, dims[k], -1) + x[None]).view(dims[k + 1], -1) if feature_major else \
                    (y.view(-1, 2, dims[k]) + x[:, None]).view(-1, dims[k + 1])
            x = y
        return x

    def pattern(x, g, feature_major):
        x = x.detach().requires_grad_()
        y = net(x, feature_major)
        energy = (y * g).sum()
        (dx,) = torch.autograd.grad(energy, x, create_graph=True)
        return torch.autograd.grad((dx * dx).sum() + energy, weights + biases)

    x, g = torch.rand(ROWS, 1, dtype=torch.float64), torch.randn(ROWS, 100, dtype=torch.float64)
    xt, gt = x.t().contiguous(), g.t().contiguous()
    for _ in range(2):
        print(f"force-training pattern on {ROWS} rows: row-major "
              f"{median_time(lambda: pattern(x, g, False)) * 1e3:.1f} ms, feature-major "
              f"{median_time(lambda: pattern(xt, gt, True)) * 1e3:.1f} ms")


def blocks():
    torch = torch_setup()
    dims = [1, 25, 50, 100]
    weights = [torch.randn(i, o, dtype=torch.float64) for i, o in zip(dims, dims[1:])]
    biases = [torch.randn(o, dtype=torch.float64) for o in dims[1:]]

    def net(x):
        for k, (w, b) in enumerate(zip(weights, biases)):
            y = torch.tanh(torch.addmm(b, x, w))
            x = (y.view(-1, 2, dims[k]) + x[:, None]).view(-1, dims[k + 1]) if k else y
        return x

    rows = 17_500  # one water frame's occupied slots, as the frozen model embeds them
    x, g = torch.rand(rows, 1, dtype=torch.float64), torch.randn(rows, 100, dtype=torch.float64)

    def run(block):
        for xs, gs in zip(x.split(block), g.split(block)):
            xs = xs.detach().requires_grad_()
            torch.autograd.grad(net(xs), xs, gs)

    for block in (rows, rows // 4, rows // 8, rows // 32):
        print(f"blocks of {block} rows: {median_time(lambda: run(block)) * 1e3:.1f} ms per frame")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kinds = {"products": products, "interleave": interleave, "tanh": tanh, "embedding": embedding,
             "blocks": blocks}
    parser.add_argument("what", choices=list(kinds))
    kinds[parser.parse_args().what]()


if __name__ == "__main__":
    main()
