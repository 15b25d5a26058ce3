"""PyTorch backend of dptensor: runs the reference math on torch tensors, adds autograd
derivatives, the trainer and TorchScript freezing."""
