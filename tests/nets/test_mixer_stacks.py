"""What every net built as a :class:`~rnnlab.nets.residual.MixerStack` promises, checked for
each net in each form it trains by, in float64 to 1e-10 (each net's own file checks what is
particular to it: its equations, its forms against each other, its settings):

- the one-step form reproduces the outputs and the state token by token, from a carried state;
- a padded batch equals its sequences unpadded, whatever the padding holds;
- a sequence read in two chunks, the state carried, equals one pass, wherever the cut falls;
- a padded row carries its own state into the next chunk, not the padding's;
- token ids are embedded, and read one at a time too.
"""

from collections.abc import Callable

import pytest
import torch
from torch import nn

from rnnlab.nets.minimal import SCANS as MINIMAL_SCANS
from rnnlab.nets.minimal import MinimalRNN
from rnnlab.nets.mlstm import FORMS as MLSTM_FORMS
from rnnlab.nets.mlstm import MLSTMNet
from rnnlab.nets.protocol import SequenceEncoder
from rnnlab.nets.residual import MixerStack
from rnnlab.nets.rglru import RGLRUNet
from rnnlab.nets.slstm import SLSTMNet
from rnnlab.nets.ssm import CONVOLVED_SCANS, SCANS, StateSpaceModel
from tests.nets.test_minimal import net64 as minimal64
from tests.nets.test_mlstm import net64 as mlstm64
from tests.nets.test_rglru import net64 as rglru64
from tests.nets.test_slstm import net64 as slstm64
from tests.nets.test_ssm import net64 as ssm64

TOL = {"atol": 1e-10, "rtol": 1e-10}
# Each net in float64, by the form it trains by; and the forms it has (the sLSTM one, a loop).
NETS: dict[str, tuple[Callable[[str], nn.Module], tuple[str, ...]]] = {
    "mingru": (lambda form: minimal64("mingru", form).double(), MINIMAL_SCANS),
    "minlstm": (lambda form: minimal64("minlstm", form).double(), MINIMAL_SCANS),
    "lru": (lambda form: ssm64("lru", form), SCANS),
    "s4d": (lambda form: ssm64("s4d", form), CONVOLVED_SCANS),
    "s6": (lambda form: ssm64("s6", form), SCANS),
    "mlstm": (mlstm64, MLSTM_FORMS),
    "slstm": (lambda form: slstm64(), ("loop",)),
    "rglru": (rglru64, SCANS),
}
CASES = [
    pytest.param(name, form, id=f"{name}-{form}")
    for name, (_, forms) in NETS.items()
    for form in forms
]
# Each net reading token ids, at hidden size 8.
TOKEN_NETS: dict[str, Callable[..., MixerStack]] = {
    "mingru": lambda **kwargs: MinimalRNN(cell="mingru", **kwargs),
    "minlstm": lambda **kwargs: MinimalRNN(cell="minlstm", **kwargs),
    "lru": lambda **kwargs: StateSpaceModel(mixer="lru", **kwargs),
    "s4d": lambda **kwargs: StateSpaceModel(mixer="s4d", **kwargs),
    "s6": lambda **kwargs: StateSpaceModel(mixer="s6", **kwargs),
    "mlstm": lambda **kwargs: MLSTMNet(num_heads=2, **kwargs),
    "slstm": lambda **kwargs: SLSTMNet(num_heads=2, **kwargs),
    "rglru": RGLRUNet,
}


def net64(name: str, form: str) -> MixerStack:
    net = NETS[name][0](form)
    assert isinstance(net, MixerStack) and next(net.parameters()).dtype == torch.float64
    return net


def tensors(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def assert_states_equal(got, expected) -> None:
    for a, b in zip(tensors(got), tensors(expected), strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_every_modern_net_is_here():
    assert set(NETS) == set(TOKEN_NETS)
    assert {"mingru", "minlstm", "lru", "s4d", "s6", "mlstm", "slstm", "rglru"} <= set(NETS)


@pytest.mark.parametrize(("name", "form"), CASES)
def test_the_one_step_form_reproduces_the_outputs_token_by_token(name, form):
    net = net64(name, form).eval()
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    state = net(torch.randn(2, 5, 3, dtype=torch.float64)).state  # a carried state
    encoded = net(x, state=state)
    for t in range(x.shape[1]):
        output, state = net.step(x[:, t], state)
        torch.testing.assert_close(output, encoded.outputs[:, t], **TOL)
    assert_states_equal(state, encoded.state)


@pytest.mark.parametrize(("name", "form"), CASES)
def test_a_padded_batch_equals_the_unpadded_sequences(name, form):
    net = net64(name, form)
    x = torch.randn(3, 8, 3, dtype=torch.float64)
    x[1, 5:], x[2, 1:] = 9.0, -9.0  # junk in the padding
    lengths = torch.tensor([8, 5, 1])
    encoded = net(x, lengths)
    for row, n in enumerate(lengths.tolist()):
        alone = net(x[row : row + 1, :n])
        torch.testing.assert_close(encoded.outputs[row, :n], alone.outputs[0], **TOL)
        torch.testing.assert_close(encoded.last[row], alone.last[0], **TOL)
        rows = [s[:, row] for s in tensors(encoded.state)]
        assert_states_equal(tuple(rows), tuple(s[:, 0] for s in tensors(alone.state)))
        assert not encoded.outputs[row, n:].any(), "padded steps must be zero"


@pytest.mark.parametrize(("name", "form"), CASES)
def test_two_chunks_with_the_state_carried_equal_one_pass(name, form):
    net = net64(name, form)
    x = torch.randn(2, 10, 3, dtype=torch.float64)
    whole = net(x)
    for cut in (1, 2, 5, 7):  # shorter and longer than a convolution's window and a chunk
        first = net(x[:, :cut])
        rest = net(x[:, cut:], state=first.state)
        outputs = torch.cat([first.outputs, rest.outputs], 1)
        torch.testing.assert_close(outputs, whole.outputs, **TOL)
        assert_states_equal(rest.state, whole.state)


@pytest.mark.parametrize(("name", "form"), CASES)
def test_padded_chunks_carry_each_rows_own_state(name, form):
    # Truncated BPTT with padding: a short row's state is its own end, not the padding's.
    net = net64(name, form)
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    first = net(x[:, :4], torch.tensor([4, 2]))
    rest = net(x[:, 4:], state=first.state)
    alone = net(torch.cat([x[1:, :2], x[1:, 4:]], 1))
    torch.testing.assert_close(rest.outputs[1], alone.outputs[0, 2:], **TOL)


@pytest.mark.parametrize("name", TOKEN_NETS)
def test_token_ids_are_embedded_and_read_one_at_a_time_too(name):
    torch.manual_seed(0)
    net = TOKEN_NETS[name](hidden_size=8, vocab_size=11, embedding_dim=5, pad_index=0)
    assert isinstance(net, SequenceEncoder) and net.capabilities.reads == "tokens"
    assert net.capabilities.causal and net.capabilities.carries_state
    ids = torch.randint(1, 11, (3, 6))
    encoded = net(ids)
    assert encoded.outputs.shape == (3, 6, 8) and encoded.last.shape == (3, 8)
    assert net.output_size == 8
    shapes = [(2, *shape) for shape in net.blocks[0].mixer.state_shapes(3)]  # (L, B, ...)
    assert [tuple(s.shape) for s in tensors(encoded.state)] == shapes
    state = None
    for t in range(6):
        output, state = net.step(ids[:, t], state)
    torch.testing.assert_close(output, encoded.outputs[:, -1], atol=1e-5, rtol=1e-4)
