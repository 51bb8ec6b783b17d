"""Architectures: plain ``torch.nn.Module`` classes that know nothing of Lightning or Hydra, each
keeping the encoder protocol of :mod:`rnnlab.nets.protocol`."""

from rnnlab.nets.base import Encoded
from rnnlab.nets.lstm_fcn import LSTMFCN
from rnnlab.nets.protocol import Capabilities, EncoderDecoder, SequenceEncoder
from rnnlab.nets.recurrent import RecurrentEncoder

__all__ = [
    "LSTMFCN",
    "Capabilities",
    "Encoded",
    "EncoderDecoder",
    "RecurrentEncoder",
    "SequenceEncoder",
]
