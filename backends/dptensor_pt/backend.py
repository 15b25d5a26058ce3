"""The PyTorch backend's entry point (registered as ``pt`` and ``pytorch``)."""

from dptensor.backend.base import Backend
from dptensor.utils.allocator import tune_malloc


def _prepare_process():
    """Before the first training step or evaluation: the allocator and the thread settings."""
    from dptensor_pt.env import configure_threads

    tune_malloc()
    configure_threads()


class PyTorchBackend(Backend):
    name = "pt"
    full_name = "PyTorch"
    module = "torch"
    extra = "torch"
    suffixes = (".pt", ".pth")
    frozen_suffix = ".pth"
    ckpt_suffix = ".pt"

    def create_session(self, model, loss, config, checkpoint=None):
        from dptensor_pt.session import TorchSession

        _prepare_process()

        state = checkpoint["optimizer"] if checkpoint else None
        return TorchSession(model, loss, config, optimizer_state=state)

    def read_checkpoint(self, path):
        from dptensor_pt.serialization import load_checkpoint, model_from_torch_dict

        data = load_checkpoint(path)
        return {"model": model_from_torch_dict(data["model"]), "step": data["step"],
                "config": data.get("config", {}), "optimizer": data.get("optimizer")}

    def freeze(self, model, output, hessian=None):
        from dptensor_pt.freeze import freeze_model

        freeze_model(model, output, hessian=hessian)

    def load_model(self, path):
        if str(path).endswith(".pth"):
            from dptensor_pt.freeze import load_frozen

            return load_frozen(path)[1]
        return self.read_checkpoint(path)["model"]

    def evaluator(self, path):
        from dptensor_pt.infer import TorchEvaluator

        _prepare_process()
        return TorchEvaluator(path)

    def model_evaluator(self, model):
        from dptensor_pt.infer import ModelEvaluator

        _prepare_process()
        return ModelEvaluator(model)

    def write_checkpoint(self, model, path):
        import torch

        from dptensor.utils.atomic import atomic_path
        from dptensor_pt.serialization import model_to_torch_dict

        with atomic_path(path) as tmp:
            torch.save({"format": "dptensor-pt-checkpoint", "version": 1, "step": 0,
                        "model": model_to_torch_dict(model), "optimizer": None, "config": {}}, tmp)
