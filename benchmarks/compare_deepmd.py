#!/usr/bin/env python3
"""Side-by-side speed and memory of dptensor and DeePMD-kit on the same input and data.

For each tool and backend, trains the example twice (SHORT and LONG steps) and takes
seconds/step = (t_long - t_short) / (LONG - SHORT), which cancels start-up and statistics time;
peak memory is the largest resident set of the long run (/usr/bin/time). Runs alternate between
tools so that a slow phase of the machine hits both; the table gives the median over the repeats
and the range of seconds per step. Inference: each tool's frozen model tests the validation
systems with all frames and with one frame (the median of three runs each); frames/second from
the difference. The freeze command's own wall time is reported too (start-up included: it runs
once per model). With --compress, each tool's frozen model is compressed (`dpt compress`, `dp
compress` with the training input for DeePMD-kit's smallest neighbor distance, default settings)
and the compressed model is tested; the compress command's wall time is reported.

usage: python benchmarks/compare_deepmd.py dipole --deepmd-venv ~/.cache/deepmd-venv \
           [--tools dpt-pt dpt-tf dp-tf dp-pt] [--short 20] [--long 220] [--repeat 3] [--compress]
See benchmarks/README.md for making the DeePMD-kit environment.
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples", "water")
THREADS = {"OMP_NUM_THREADS": "2", "DP_INTRA_OP_PARALLELISM_THREADS": "2",
           "DP_INTER_OP_PARALLELISM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
FROZEN = {"dpt-pt": "frozen.pth", "dpt-tf": "frozen.savedmodel", "dp-tf": "frozen.pb", "dp-pt": "frozen.pth"}


def command(tool, venv, *args):
    if tool.startswith("dpt"):
        exe = [shutil.which("dpt") or "dpt"]
        backend = ["--backend", tool.split("-")[1]] if args[0] in ("train", "freeze") else []
        return exe + [args[0]] + backend + list(args[1:])
    backend = {"dp-tf": "--tf", "dp-pt": "--pt"}[tool]
    return [os.path.join(venv, "bin", "dp"), backend] + list(args)


def timed(cmd, cwd):
    """(seconds, peak RSS in MB) of one command; raises with its output if it fails."""
    env = {**os.environ, **THREADS}
    t0 = time.perf_counter()
    res = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M"] + cmd, cwd=cwd, env=env,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    rss = int(re.findall(r"MAXRSS (\d+)", res.stderr)[-1]) / 1024
    return seconds, rss


def make_input(example, steps, workdir):
    """The example's input with absolute data paths, `steps` steps, one lcurve row and one checkpoint."""
    src = os.path.join(EXAMPLES, example)
    with open(os.path.join(src, "input.json")) as fh:
        cfg = json.load(fh)
    training = cfg["training"]
    for key in ("training_data", "validation_data"):
        if key in training:
            training[key]["systems"] = [os.path.normpath(os.path.join(src, p)) for p in training[key]["systems"]]
    training.update(numb_steps=steps, disp_freq=steps, save_freq=steps)
    path = os.path.join(workdir, "input.json")
    with open(path, "w") as fh:
        json.dump(cfg, fh, indent=1)
    return cfg


def train_pair(tool, example, short, long, venv):
    times, rss = {}, 0.0
    for steps in (short, long):
        work = tempfile.mkdtemp(prefix=f"bench-{tool}-")
        make_input(example, steps, work)
        times[steps], rss = timed(command(tool, venv, "train", "input.json"), work)
        if steps == long:
            return (times[long] - times[short]) / (long - short), rss, work


TEST_REPEAT = 3  # each test command's time is the median of this many runs


def compress(tool, venv, frozen, work):
    """(the compressed model's file name, seconds to compress it)."""
    out = "compressed" + os.path.splitext(frozen)[1]
    extra = ["-t", "input.json"] if tool.startswith("dp-") else []
    return out, timed(command(tool, venv, "compress", "-i", frozen, "-o", out, *extra), work)[0]


def inference(tool, work, venv, systems, compressed=False):
    """(test frames per second, seconds to freeze, seconds to compress or nan). The all-frames
    and one-frame test runs
    alternate, TEST_REPEAT times each: a fast model's 40 frames take less than the spread of a
    single run's start-up, so one pair of runs can give a difference of zero or below (nan)."""
    frozen = FROZEN[tool]
    t_freeze = timed(command(tool, venv, "freeze", "-o", frozen), work)[0]
    t_compress = float("nan")
    if compressed:
        frozen, t_compress = compress(tool, venv, frozen, work)
    t_all, t_one = [], []
    for _ in range(TEST_REPEAT):
        t_all.append(sum(timed(command(tool, venv, "test", "-m", frozen, "-s", s), work)[0]
                         for s in systems))
        t_one.append(sum(timed(command(tool, venv, "test", "-m", frozen, "-s", s, "-n", "1"), work)[0]
                         for s in systems))
    frames = sum(_nframes(s) for s in systems)
    diff = _median(t_all) - _median(t_one)
    if diff <= 0:
        print(f"{tool}: testing all frames took no longer than one frame; frames/s not measured",
              file=sys.stderr)
        return float("nan"), t_freeze, t_compress
    return (frames - len(systems)) / diff, t_freeze, t_compress


def _nframes(system):
    import numpy as np

    return sum(np.load(os.path.join(system, d, "coord.npy"), mmap_mode="r").shape[0]
               for d in os.listdir(system) if d.startswith("set."))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("example", choices=["dipole", "polar", "se_e2_a", "hessian"])
    p.add_argument("--deepmd-venv", default=os.path.expanduser("~/.cache/deepmd-venv"))
    p.add_argument("--tools", nargs="+", default=["dpt-pt", "dpt-tf", "dp-tf", "dp-pt"])
    p.add_argument("--short", type=int, default=20)
    p.add_argument("--long", type=int, default=220)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-inference", action="store_true")
    p.add_argument("--compress", action="store_true", help="test compressed frozen models")
    args = p.parse_args(argv)
    results = {t: {"s_per_step": [], "rss_mb": [], "fps": [], "freeze_s": [], "compress_s": []}
               for t in args.tools}
    for _ in range(args.repeat):
        for tool in args.tools:  # alternating tools within each repeat
            sps, rss, work = train_pair(tool, args.example, args.short, args.long, args.deepmd_venv)
            results[tool]["s_per_step"].append(sps)
            if sps <= 0:
                print(f"{tool}: the {args.long}-step run took no longer than the {args.short}-step "
                      "run (start-up varies more than the steps between them): raise --long",
                      file=sys.stderr)
            results[tool]["rss_mb"].append(rss)
            if not args.no_inference:
                cfg = make_input(args.example, 1, work)
                systems = cfg["training"].get("validation_data", cfg["training"]["training_data"])["systems"]
                # dp test without -a demands the global label of every system: test global ones
                systems = [s for s in systems if "atomic_system" not in s] or systems
                measured = inference(tool, work, args.deepmd_venv, systems, args.compress)
                for key, value in zip(("fps", "freeze_s", "compress_s"), measured):
                    results[tool][key].append(value)
            shutil.rmtree(work, ignore_errors=True)
            print(f"{tool}: {sps:.4f} s/step, {rss:.0f} MB", file=sys.stderr, flush=True)
    print(report(args.example, results))


def _median(values):
    """Median of the values that are not nan (rounds whose frames/s was not measured), else nan."""
    v = sorted(x for x in values if not math.isnan(x))
    if not v:
        return float("nan")
    return v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])


def report(example, results):
    """Medians over the repeats, with the range of seconds per step. (The best of the repeats
    is no steadier: a short run whose start-up happened to be slow makes the difference of the
    two runs small, as a DeePMD-kit energy run of 0.096 s/step among 0.18-0.20 showed.)"""
    mid = {t: {k: _median(v) for k, v in r.items()} for t, r in results.items()}
    dp = [t for t in mid if t.startswith("dp-")]
    fastest = min(dp, key=lambda t: mid[t]["s_per_step"]) if dp else None
    rounds = max(len(r["s_per_step"]) for r in results.values())
    lines = [f"### {example} (medians of {rounds} repeats)", "",
             "| tool | s/step | range | steps/s vs fastest DeePMD-kit | peak MB | test frames/s | freeze s "
             "| compress s |",
             "|---|---|---|---|---|---|---|---|"]
    for t, m in mid.items():
        ratio = f"{mid[fastest]['s_per_step'] / m['s_per_step']:.2f}x" if fastest else "n/a"
        sps = results[t]["s_per_step"]
        lines.append(f"| {t} | {m['s_per_step']:.4f} | {min(sps):.4f}-{max(sps):.4f} | {ratio} | "
                     f"{m['rss_mb']:.0f} | {m['fps']:.2f} | {m['freeze_s']:.1f} | {m['compress_s']:.1f} |")
    return "\n".join(lines)

if __name__ == "__main__":
    main()
