#!/usr/bin/env python3
"""Seconds per training step of a water example in one process, on either backend.

    python benchmarks/step_time.py polar --backend tf             # median and minimum step time
    python benchmarks/step_time.py polar --backend tf --op-table  # + TensorFlow's op-time table
    PYTHONPATH=/tmp/old:/tmp/old/backends python benchmarks/step_time.py polar   # an older commit

The example's own input (model, loss, batches) through the backend's training session: WARMUP
steps first (each batch layout is traced or profiled once), then STEPS timed steps on the next
batches. No start-up, statistics, validation or checkpoints, so two commits (a git worktree on
PYTHONPATH) can be compared step for step, alternating runs on an idle machine. ``--op-table``
(TensorFlow) profiles ten more steps and prints the ops with the most self time per step.
"""

import argparse
import json
import os
import statistics
import tempfile
import time

from compare_deepmd import make_input


def build_session(example, backend):
    """(session, loss-prepared batch iterator) for the example's input, as ``dpt train`` sets them up."""
    from dptensor.backend.registry import get_backend
    from dptensor.config.normalize import normalize
    from dptensor.train.setup import prepare

    work = tempfile.mkdtemp(prefix="step-time-")
    make_input(example, 100, work)
    with open(os.path.join(work, "input.json")) as fh:
        config = normalize(json.load(fh))
    setup = prepare(config, base_dir=work)
    session = get_backend(backend).create_session(setup.model, setup.loss, config, checkpoint=None)

    def batches():
        while True:
            yield setup.loss.prepare(setup.train_data.next_batch())

    return session, batches()


def step_times(session, batches, warmup, steps, lr=1e-3):
    for _ in range(warmup):
        session.train_step(next(batches), lr)
    times = []
    for _ in range(steps):
        batch = next(batches)
        start = time.perf_counter()
        session.train_step(batch, lr)
        times.append(time.perf_counter() - start)
    return times


def tf_op_table(session, batches, steps=10, rows=20):
    """The ops with the most self time (ms per step, summed over threads), from TF's profiler."""
    import glob

    import tensorflow as tf
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin

    logdir = tempfile.mkdtemp(prefix="step-time-tf-")
    tf.profiler.experimental.start(logdir)
    step_times(session, batches, 0, steps)
    tf.profiler.experimental.stop()
    files = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    table = json.loads(plugin.xspace_to_tools_data(files, "framework_op_stats", {})[0])
    table = table[0] if isinstance(table, list) else table
    labels = [c["label"] for c in table["cols"]]
    kind, name = labels.index("Operation Type"), labels.index("Operation Name")
    self_us = labels.index("Total self-time (us)")
    ops = [[c["v"] if c else None for c in r["c"]] for r in table["rows"]]
    ops = sorted((r for r in ops if r[kind] != "IDLE"), key=lambda r: -r[self_us])
    total = sum(r[self_us] for r in ops) / steps / 1e3
    lines = [f"op self time: {total:.1f} ms per step (all threads)"]
    lines += [f"{r[self_us] / steps / 1e3:8.2f} ms  {r[kind]:20s} {r[name]}" for r in ops[:rows]]
    by_kind = {}
    for r in ops:
        count, us = by_kind.get(r[kind], (0, 0.0))
        by_kind[r[kind]] = (count + 1, us + r[self_us])
    lines.append("by op type:")
    lines += [f"{us / steps / 1e3:8.2f} ms  {k:20s} {count} ops"
              for k, (count, us) in sorted(by_kind.items(), key=lambda kv: -kv[1][1])[:rows]]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("example", choices=["dipole", "polar", "se_e2_a", "hessian"])
    p.add_argument("--backend", choices=["pt", "tf"], default="pt")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--op-table", action="store_true", help="TensorFlow: print the op-time table")
    args = p.parse_args(argv)
    session, batches = build_session(args.example, args.backend)
    times = step_times(session, batches, args.warmup, args.steps)
    print(f"{args.example} ({args.backend}): median {statistics.median(times):.4f} s/step, "
          f"min {min(times):.4f} over {len(times)} steps")
    if args.op_table and args.backend == "tf":
        print(tf_op_table(session, batches))


if __name__ == "__main__":
    main()
