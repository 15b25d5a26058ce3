"""The TensorFlow backend's entry point (registered as ``tf`` and ``tensorflow``)."""

from dptensor.backend.base import Backend


class TensorFlowBackend(Backend):
    name = "tf"
    full_name = "TensorFlow"
    module = "tensorflow"
    extra = "tensorflow"
    suffixes = (".tfckpt", ".savedmodel")
    frozen_suffix = ".savedmodel"
    ckpt_suffix = ".tfckpt"

    def create_session(self, model, loss, config, checkpoint=None):
        from dptensor_tf.session import TFSession

        state = checkpoint["optimizer"] if checkpoint else None
        return TFSession(model, loss, config, optimizer_state=state)

    def read_checkpoint(self, path):
        from dptensor_tf.serialization import read_checkpoint

        return read_checkpoint(path)

    def freeze(self, model, output, hessian=None):
        from dptensor_tf.freeze import freeze_model

        freeze_model(model, output, hessian=hessian)

    def load_model(self, path):
        from dptensor_tf.freeze import is_frozen_path, load_frozen

        if is_frozen_path(path):
            return load_frozen(path)[1]
        return self.read_checkpoint(path)["model"]

    def evaluator(self, path):
        from dptensor_tf.infer import TFEvaluator

        return TFEvaluator(path)

    def model_evaluator(self, model):
        from dptensor_tf.infer import ModelEvaluator

        return ModelEvaluator(model)

    def write_checkpoint(self, model, path):
        from dptensor_tf.serialization import write_checkpoint

        write_checkpoint(path, model)
