"""Exponentially decaying learning rate.

    lr(t) = start_lr * r ** floor(t / decay_steps),   r = (stop_lr / start_lr) ** (decay_steps / numb_steps)

so that lr reaches ``stop_lr`` at ``numb_steps`` (DeePMD-kit's "exp" schedule). When
``decay_steps`` is not shorter than ``numb_steps``, it becomes 100 (or numb_steps // 100 + 1 for runs
under 1000 steps), as in DeePMD-kit 3, so that the same input gives the same schedule.
"""

import math


class ExpDecayLR:
    def __init__(self, start_lr, stop_lr, decay_steps, numb_steps):
        self.start_lr = float(start_lr)
        self.stop_lr = float(stop_lr)
        numb_steps = max(int(numb_steps), 1)
        decay_steps = int(decay_steps)
        if decay_steps >= numb_steps:
            decay_steps = 100 if numb_steps // 10 > 100 else numb_steps // 100 + 1
        self.decay_steps = max(1, decay_steps)
        self.decay_rate = (self.stop_lr / self.start_lr) ** (self.decay_steps / numb_steps)

    def __call__(self, step):
        return self.start_lr * self.decay_rate ** math.floor(step / self.decay_steps)

    @classmethod
    def from_config(cls, lr_config, numb_steps):
        return cls(lr_config["start_lr"], lr_config["stop_lr"], lr_config["decay_steps"], numb_steps)
