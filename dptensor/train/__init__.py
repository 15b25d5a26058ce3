"""Backend-independent training: learning rate, losses, learning curve, checkpoints, the loop."""
