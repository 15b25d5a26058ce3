"""``dpt train --dry-run``: everything before step 0, and a summary of what training would do."""

from dptensor.train.setup import prepare


def dry_run(config, base_dir):
    setup = prepare(config, base_dir=base_dir, compute_stats=False)
    model, loss = setup.model, setup.loss
    lines = [
        f"input is valid; model: se_e2_a + {model.model_type} fitting, type_map {model.type_map}, "
        f"sel {model.sel}, rcut {model.rcut}",
        f"loss: {loss.kind}, terms {', '.join(loss.columns)}",
        "training data: " + _describe(setup.train_data),
        setup.train_data.summary(),
    ]
    if setup.valid_data is not None:
        lines += ["validation data: " + _describe(setup.valid_data), setup.valid_data.summary()]
    lines.append(f"{config['training']['numb_steps']} steps; nothing written (dry run)")
    return "\n".join(lines)


def _describe(data):
    kinds = ", ".join(sorted(data.label_kinds())) or "no labels"
    return f"{len(data.systems)} systems, labels: {kinds}"
