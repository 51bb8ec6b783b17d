"""Architectures: plain ``torch.nn.Module`` classes that know nothing of Lightning or Hydra."""

from rnnlab.nets.recurrent import Encoded, RecurrentEncoder

__all__ = ["Encoded", "RecurrentEncoder"]
