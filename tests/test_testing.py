"""``rnnlab.testing.check_encoder`` passes a net that keeps the encoder protocol and names the
promise each broken net breaks."""

import pytest
import torch
from torch import nn

from rnnlab.nets.base import Encoded, encoded_outputs
from rnnlab.nets.protocol import Capabilities
from rnnlab.nets.residual import MixerStack
from rnnlab.nets.scan import linear_scan
from rnnlab.testing import check_encoder


class GRUEncoder(nn.Module):
    """A one-layer GRU that keeps the protocol: lengths through packing, a carried state."""

    def __init__(self, input_size: int = 3, hidden_size: int = 5):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.output_size = hidden_size
        self.capabilities = Capabilities(reads="features", carries_state=True)

    def forward(self, x, lengths=None, state=None):
        if lengths is None:
            outputs, state = self.gru(x, state)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            outputs, state = self.gru(packed, state)
            outputs, _ = nn.utils.rnn.pad_packed_sequence(
                outputs, batch_first=True, total_length=x.shape[1]
            )
        return encoded_outputs(outputs, lengths)._replace(state=state)


class ReadsAhead(GRUEncoder):
    """Says it is causal, but reads the sequence backwards."""

    def __init__(self):
        super().__init__()
        self.capabilities = Capabilities(reads="features", accepts_lengths=False)

    def forward(self, x, lengths=None, state=None):
        outputs, state = self.gru(x.flip(1), state)
        return encoded_outputs(outputs.flip(1), lengths)._replace(state=state)


class ForgetsItsState(GRUEncoder):
    """Says it carries state, but starts every chunk from zeros."""

    def forward(self, x, lengths=None, state=None):
        return super().forward(x, lengths, None)


class PaddingLeaks(GRUEncoder):
    """Says it accepts lengths, but runs over the padding as over valid steps: its summary is
    the last step's, padded or not."""

    def forward(self, x, lengths=None, state=None):
        outputs, state = self.gru(x, state)
        return Encoded(outputs, outputs[:, -1], state)


class PaddingNotZero(GRUEncoder):
    """Reads lengths right, but leaves ones in the padded outputs."""

    def forward(self, x, lengths=None, state=None):
        encoded = super().forward(x, lengths, state)
        if lengths is None:
            return encoded
        padded = torch.arange(x.shape[1])[None] >= lengths[:, None]  # (B, T)
        return encoded._replace(outputs=encoded.outputs + padded[..., None])


class NoState(GRUEncoder):
    """Says it carries state, but returns none."""

    def forward(self, x, lengths=None, state=None):
        return super().forward(x, lengths, state)._replace(state=None)


class BatchFirstState(GRUEncoder):
    """Carries its state right, but hands it out as (B, H), the batch first."""

    def forward(self, x, lengths=None, state=None):
        encoded = super().forward(x, lengths, None if state is None else state[None])
        return encoded._replace(state=encoded.state[0])


class WrongWidth(GRUEncoder):
    """Says its outputs are wider than they are."""

    @property
    def output_size(self):
        return 6

    @output_size.setter
    def output_size(self, value):
        pass


class Decay(nn.Module):
    """A moving average (a sequence mixer) whose padded steps are the identity only where
    ``masks``, and whose one-step form forgets the decay where ``leaky_step``."""

    def __init__(self, size: int, masks: bool = True, leaky_step: bool = False):
        super().__init__()
        self.rate, self.size = nn.Linear(size, size), size
        self.masks, self.leaky_step = masks, leaky_step

    def state_shapes(self, batch):
        return ((batch, self.size),)

    def forward(self, x, valid=None, state=None):
        a = torch.sigmoid(self.rate(x))
        b = 1 - a
        if self.masks and valid is not None:
            a, b = a.masked_fill(~valid[..., None], 1.0), b.masked_fill(~valid[..., None], 0.0)
        h, last = linear_scan(a, b, None if state is None else state[0])
        return h, (last,)

    def step(self, x, state=None):
        a = torch.sigmoid(self.rate(x))
        h = 1 - a if state is None else (1.0 if self.leaky_step else a) * state[0] + 1 - a
        return h, (h,)


def test_a_net_that_keeps_the_protocol_passes():
    torch.manual_seed(0)
    net = GRUEncoder().train()
    check_encoder(net, torch.randn(4, 7, 3))
    assert net.training  # its mode restored


@pytest.mark.parametrize(
    ("net", "message"),
    [
        (ReadsAhead(), "outputs before step 3 read later steps"),
        (ForgetsItsState(), "two chunks cut at step 1, the state carried: outputs"),
        (PaddingLeaks(), "row 1, 4 of 7 steps valid: last: Tensor-likes are not close"),
        (PaddingNotZero(), "row 1, 4 of 7 steps valid: padded outputs must be zero"),
        (WrongWidth(), r"outputs are \(3, 7, 5\), not \(B, T, output_size\) = \(3, 7, 6\)"),
        (nn.GRU(3, 5), "GRU is not a SequenceEncoder"),
        (NoState(), "the net carries state, but forward returned none"),
        (BatchFirstState(), r"final state \[0\] is \(3, 5\): a carried state holds the batch in"),
    ],
)
def test_each_broken_promise_is_named(net, message):
    torch.manual_seed(0)
    with pytest.raises(AssertionError, match=message):
        check_encoder(net, torch.randn(3, 7, 3))


def test_inputs_of_another_kind_are_refused():
    with pytest.raises(AssertionError, match=r"reads features, but x holds torch.int64 values"):
        check_encoder(GRUEncoder(), torch.randint(0, 3, (3, 7, 3)))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, None),
        ({"masks": False}, "row 1, 4 of 7 steps valid: final state"),
        ({"leaky_step": True}, "step by step: outputs"),
    ],
)
def test_a_mixer_that_ignores_padding_or_missteps_is_caught(settings, message):
    torch.manual_seed(0)
    net = MixerStack(lambda: Decay(4, **settings), input_size=3, hidden_size=4)
    if message is None:
        check_encoder(net, torch.randn(3, 7, 3))
        return
    with pytest.raises(AssertionError, match=message):
        check_encoder(net, torch.randn(3, 7, 3))


def test_a_batch_too_small_to_check_is_refused():
    with pytest.raises(AssertionError, match=r"x is \(2, 7, 3\): give 3 rows of 4 steps or more"):
        check_encoder(GRUEncoder(), torch.randn(2, 7, 3))
