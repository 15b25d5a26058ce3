"""Profile one PyTorch training step (energy, forces, their gradient) of a water example.

    python benchmarks/profile_step.py se_e2_a            # time and torch.profiler table
    python benchmarks/profile_step.py se_e2_a --every-slot   # embedding on every neighbor slot
    python benchmarks/profile_step.py hessian            # with the Hessian in the loss

The model is the example's, with its initial weights, on the first frame of the first training
system; the loss is |output|^2 (+ |force|^2 for an energy model, + |Hessian|^2 when the example's loss
has a Hessian prefactor), so the step takes the
training step's derivatives (a dipole or polar model here evaluates every atom, not sel_type only). The
``--every-slot`` variant runs the embedding nets on empty slots too (the descriptor without
``occupied``), which is what dptensor did before; ``--no-mirror`` evaluates both slots of a
same-type pair; ``--no-trim`` keeps every slot of the neighbor lists instead of cutting each
type block to the widths the frame uses (``dptensor.data.trim``); all give the same numbers.
``DPT_MALLOC_TUNE=0`` leaves glibc malloc at its defaults (the PyTorch backend tunes it, see
``dptensor/utils/allocator.py``). Run on an idle machine.
"""

import argparse
import json
import os
import time

import numpy as np
import torch

from dptensor.config.normalize import normalize
from dptensor.data.mirror import mirror_slots
from dptensor.data import keys
from dptensor.data.neighbor import build_nlist, shift_from_image
from dptensor.data.trim import trim_blocks
from dptensor.data.system import load_system
from dptensor.model import Model
from dptensor.train.loss import make_loss
from dptensor.utils.allocator import tune_malloc
from dptensor_pt.model import TorchModel

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "water")


def first_frame(example, model, trim=True):
    with open(os.path.join(EXAMPLES, example, "input.json")) as f:
        cfg = json.load(f)
    path = os.path.join(EXAMPLES, example, cfg["training"]["training_data"]["systems"][0])
    system = load_system(os.path.normpath(path), model.type_map)
    coord, box = system.coord[:1], None if system.box is None else system.box[:1]
    atype = system.atype[None]
    nlist, image = build_nlist(coord, box, atype, model.rcut, model.sel)[:2]
    mirror = mirror_slots(nlist, image, atype, model.sel).astype(np.int64)
    lists = {keys.NLIST: nlist, keys.SHIFT: shift_from_image(image, box), keys.MIRROR: mirror}
    if trim:  # as the training sessions do
        lists = trim_blocks(lists, model.sel)
    arrays = (coord, atype, lists[keys.NLIST], lists[keys.SHIFT], lists[keys.MIRROR])
    return [torch.from_numpy(np.ascontiguousarray(x)) for x in arrays], lists.get(keys.WIDTHS)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("example", nargs="?", default="se_e2_a")
    p.add_argument("--every-slot", action="store_true")
    p.add_argument("--no-mirror", action="store_true")
    p.add_argument("--no-trim", action="store_true")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--no-profile", action="store_true")
    args = p.parse_args(argv)
    with open(os.path.join(EXAMPLES, args.example, "input.json")) as f:
        config = normalize(json.load(f))
    model = Model.from_config(config["model"])
    hessian = make_loss(config["loss"], config["learning_rate"], model).needs_hessian
    if args.every_slot:
        call_env = model.descriptor.call_env
        model.descriptor.call_env = lambda ops, v, em, atype, *_: call_env(ops, v, em, atype)
    tm = TorchModel(model)
    # the every-slot descriptor runs on full lists
    trim = not (args.no_trim or args.every_slot)
    (*inputs, mirror), widths = first_frame(args.example, model, trim=trim)
    if args.no_mirror:
        mirror = None
    name = model.output_def.name

    # as the training session does: malloc tuning (DPT_MALLOC_TUNE=0 turns it off), its type
    # groups, shared mirror embeddings, lists cut to their widths, and the gradient of the
    # parameters only
    tune_malloc()
    groups = Model.type_groups(inputs[1].numpy(), model.ntypes)
    params = [p for p in tm.parameters() if p.requires_grad]

    def step():
        out = tm(*inputs, derivatives=True, hessian=hessian, create_graph=True, groups=groups,
                 mirror=mirror, widths=widths)
        loss = sum((out[k] ** 2).sum() for k in (name, "force", "hessian") if k in out)
        torch.autograd.grad(loss, params, allow_unused=True)

    for _ in range(3):
        step()
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(4):
            step()
        times.append((time.perf_counter() - start) / 4)
    occupied = float((inputs[2] >= 0).double().mean())
    print(f"{args.example}: {min(times):.4f} s/step (min of {args.rounds} rounds of 4), "
          f"median {sorted(times)[len(times) // 2]:.4f}; occupied slots {occupied:.0%}")
    if not args.no_profile:
        from torch.profiler import profile

        with profile() as prof:
            for _ in range(3):
                step()
        print("torch.profiler over 3 steps:")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
