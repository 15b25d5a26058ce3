"""Reading and writing model files of any kind, chosen by suffix: ``.dpt`` (neutral), the files
each backend owns (checkpoints, frozen models), and DeePMD-kit's neutral ``.dp`` (read only)."""

from dptensor.errors import DptError


def read_model(path):
    """The reference Model of any model file."""
    if str(path).endswith(".dpt"):
        from dptensor.io import load_dpt
        from dptensor.model import Model

        return Model.deserialize(load_dpt(path))
    if str(path).endswith(".dp"):
        from dptensor.io.deepmd_dp import load_deepmd_dp

        return load_deepmd_dp(path)
    from dptensor.backend import backend_for_file

    return backend_for_file(path).load_model(path)


def write_model(model, path, hessian=None):
    """Write a reference Model as the file kind that ``path``'s suffix names (callers check the
    output's folder first, ``check_output_path``, before the work of loading a model)."""
    path = str(path)
    if path.endswith(".dpt"):
        from dptensor.io import save_dpt

        save_dpt(path, model.serialize())
        return
    from dptensor.backend.registry import backend_for_file

    backend = backend_for_file(path)
    if path.endswith(backend.ckpt_suffix) and backend.ckpt_suffix != backend.frozen_suffix:
        backend.write_checkpoint(model, path)
    elif path.endswith(backend.frozen_suffix):
        backend.freeze(model, path, hessian=hessian)
    else:
        raise DptError(f"{path}: unknown model file suffix")
