"""Checks of the encoder protocol, for the tests of a net of one's own.

:func:`check_encoder` runs a :class:`~rnnlab.nets.protocol.SequenceEncoder` on a batch and
asserts what rnnlab's tasks rely on, each promise its capabilities declare included, so that a
net written outside rnnlab fails in its own test suite rather than in a training run.
``tests/nets/test_protocol.py`` runs it on every net that ships with rnnlab::

    from rnnlab.testing import check_encoder

    def test_my_net_keeps_the_protocol():
        check_encoder(MyNet(input_size=3), torch.randn(3, 7, 3))
"""

from __future__ import annotations

import torch
from torch import nn

from rnnlab.nets.base import Encoded
from rnnlab.nets.protocol import Capabilities, EncoderDecoder, SequenceEncoder

__all__ = ["check_encoder"]


def check_encoder(net: nn.Module, x: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Assert that ``net`` keeps the encoder protocol on the batch ``x``.

    Checked, in eval mode and without gradients (the net's mode is restored after):

    - it is a ``SequenceEncoder`` whose ``capabilities`` are consistent (not both bidirectional
      and causal) and say it reads what ``x`` is (token ids are integers, features and frames
      floating point);
    - ``forward(x)`` returns an ``Encoded`` with outputs ``(B, T, output_size)`` and ``last``
      ``(B, output_size)``, and a state where it carries one;
    - ``accepts_lengths``: with lengths ``T``, ``T - 3``, ``1`` (then ``T``), every row's valid
      outputs and ``last`` equal those of the row read alone, its padded outputs are zero, and
      (where it carries state) its final state is its own, not the padding's;
    - ``causal``: outputs before a step do not change when the steps from it on do;
    - ``carries_state``: reading ``x`` in two chunks, the first chunk's state carried, gives the
      outputs and the final state of one pass (state tensors hold the batch in dimension 1,
      as ``torch.nn.LSTM``'s do);
    - a net with a one-step form ``step(x_t, state) -> (output, state)`` reproduces the outputs
      and the final state token by token.

    Args:
        net: the net.
        x: a batch as the net reads it: features ``(B, T, F)``, token ids ``(B, T)`` (none of
            them the padding id) or frames ``(B, T, C, H, W)``; at least 3 rows of 4 steps.
        atol, rtol: the tolerances of each comparison, as ``torch.testing.assert_close``'s.

    Raises:
        AssertionError: naming the first promise the net breaks.
    """
    batch, steps = x.shape[:2]
    assert batch >= 3 and steps >= 4, f"x is {tuple(x.shape)}: give 3 rows of 4 steps or more."
    assert isinstance(net, SequenceEncoder) and not isinstance(net, EncoderDecoder), (
        f"{type(net).__name__} is not a SequenceEncoder: it needs output_size, capabilities "
        "and forward(x, lengths=None, state=None) returning an Encoded."
    )
    capabilities = net.capabilities
    assert isinstance(capabilities, Capabilities), "capabilities must be a Capabilities."
    assert not (capabilities.bidirectional and capabilities.causal), (
        "a bidirectional net cannot be causal: its outputs read later steps."
    )
    ids = not (x.is_floating_point() or x.is_complex())
    assert ids == (capabilities.reads == "tokens"), (
        f"the net reads {capabilities.reads}, but x holds {x.dtype} values: give "
        + ("token ids (integers)." if capabilities.reads == "tokens" else "floating point ones.")
    )
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            whole = net(x)  # the one pass every later check compares with
            _check_shapes(net, x, whole, capabilities.carries_state)
            if capabilities.accepts_lengths:
                _check_padding(net, x, capabilities.carries_state, atol, rtol)
            if capabilities.causal:
                _check_causal(net, x, whole, atol, rtol)
            if capabilities.carries_state:
                _check_chunks(net, x, whole, atol, rtol)
            if callable(getattr(net, "step", None)):
                _check_steps(net, x, whole, atol, rtol)
    finally:
        net.train(was_training)


def _check_shapes(net: nn.Module, x: torch.Tensor, encoded, carries_state: bool) -> None:
    batch, steps, size = *x.shape[:2], net.output_size
    assert isinstance(encoded, Encoded), f"forward returned {type(encoded).__name__}, not Encoded."
    assert tuple(encoded.outputs.shape) == (batch, steps, size), (
        f"outputs are {tuple(encoded.outputs.shape)}, not (B, T, output_size) = "
        f"{(batch, steps, size)}."
    )
    assert tuple(encoded.last.shape) == (batch, size), (
        f"last is {tuple(encoded.last.shape)}, not (B, output_size) = {(batch, size)}."
    )
    assert encoded.state is not None or not carries_state, (
        "the capabilities say the net carries state, but forward returned none."
    )
    if carries_state:
        states = encoded.state if isinstance(encoded.state, tuple | list) else (encoded.state,)
        for i, tensor in enumerate(states):
            shape = tuple(tensor.shape)
            assert len(shape) >= 2 and shape[1] == batch, (
                f"final state [{i}] is {shape}: a carried state holds the batch in dimension 1, "
                f"as torch.nn.LSTM's (num_layers, B, H) does, and x has {batch} rows."
            )


def _check_padding(
    net: nn.Module, x: torch.Tensor, carries_state: bool, atol: float, rtol: float
) -> None:
    batch, steps = x.shape[:2]
    lengths = torch.tensor([steps, steps - 3, 1] + [steps] * (batch - 3), device=x.device)
    encoded = net(x, lengths)
    for row, n in enumerate(lengths.tolist()):
        alone = net(x[row : row + 1, :n])
        where = f"row {row}, {n} of {steps} steps valid"
        _close(encoded.outputs[row, :n], alone.outputs[0], atol, rtol, f"{where}: outputs")
        _close(encoded.last[row], alone.last[0], atol, rtol, f"{where}: last")
        assert not encoded.outputs[row, n:].any(), f"{where}: padded outputs must be zero."
        if carries_state:
            for i, (got, own) in enumerate(_pairs(encoded.state, alone.state)):
                _close(got[:, row], own[:, 0], atol, rtol, f"{where}: final state [{i}]")


def _check_causal(net: nn.Module, x: torch.Tensor, whole, atol: float, rtol: float) -> None:
    cut = x.shape[1] // 2
    changed = x.clone()
    changed[:, cut:] = x.roll(1, 0)[:, cut:]  # other rows' later steps: valid inputs all
    before, after = whole.outputs[:, :cut], net(changed).outputs[:, :cut]
    _close(after, before, atol, rtol, f"causal, but outputs before step {cut} read later steps")


def _check_chunks(net: nn.Module, x: torch.Tensor, whole, atol: float, rtol: float) -> None:
    for cut in (1, x.shape[1] // 2):
        first = net(x[:, :cut])
        rest = net(x[:, cut:], state=first.state)
        outputs = torch.cat([first.outputs, rest.outputs], 1)
        where = f"two chunks cut at step {cut}, the state carried"
        _close(outputs, whole.outputs, atol, rtol, f"{where}: outputs")
        for i, (got, one) in enumerate(_pairs(rest.state, whole.state)):
            _close(got, one, atol, rtol, f"{where}: final state [{i}]")


def _check_steps(net: nn.Module, x: torch.Tensor, whole, atol: float, rtol: float) -> None:
    state, outputs = None, []
    for t in range(x.shape[1]):
        output, state = net.step(x[:, t], state)
        outputs.append(output)
    _close(torch.stack(outputs, 1), whole.outputs, atol, rtol, "step by step: outputs")
    for i, (got, one) in enumerate(_pairs(state, whole.state)):
        _close(got, one, atol, rtol, f"step by step: final state [{i}]")


def _pairs(got, expected) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The tensors of two states, side by side (a state is a tensor or a tuple of them)."""
    got, expected = (s if isinstance(s, tuple | list) else (s,) for s in (got, expected))
    assert len(got) == len(expected), f"a state of {len(got)} tensors, not {len(expected)}."
    return list(zip(got, expected, strict=True))


def _close(got: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float, what: str):
    torch.testing.assert_close(got, expected, atol=atol, rtol=rtol, msg=lambda m: f"{what}: {m}")
