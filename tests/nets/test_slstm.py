"""The sLSTM: the cell is the paper's equations (the stabiliser changes nothing), heads are
independent, saturated gates stay finite, bad settings are refused. (The one-step form, padding
and carried state: tests/nets/test_mixer_stacks.py, for every modern net.)"""

import math

import pytest
import torch

from rnnlab.nets.slstm import SLSTMCell, SLSTMNet
from rnnlab.utils.errors import ConfigError

TOL = {"atol": 1e-10, "rtol": 1e-10}


def net64(**kwargs) -> SLSTMNet:
    torch.manual_seed(0)
    settings = {"hidden_size": 6, "num_layers": 2, "num_heads": 2} | kwargs
    return SLSTMNet(3, **settings).double()


def cell64(forget_gate: str = "sigmoid") -> SLSTMCell:
    torch.manual_seed(0)
    return SLSTMCell(6, num_heads=3, forget_gate=forget_gate).double()


def by_hand(cell: SLSTMCell, x: torch.Tensor):
    """The paper's equations without the stabiliser, head by head: every ``h_t``, and the final
    ``c``, ``n`` and the stabiliser ``m`` that the cell should carry."""
    batch, steps, size = x.shape
    heads, d = cell.num_heads, size // cell.num_heads
    w = cell.input.weight.view(heads, 4, d, size)  # (heads, gate, D, H)
    b = cell.input.bias.view(heads, 4, d)
    r = cell.recurrent.view(heads, d, 4, d)  # (heads, D in, gate, D out)
    h, c, n = (torch.zeros(batch, heads, d, dtype=x.dtype) for _ in range(3))
    m, hs = None, []
    for t in range(steps):
        # Head a's gates read head a's h only: R is block-diagonal.
        pre = torch.einsum("bk,agdk->bagd", x[:, t], w) + b + torch.einsum("bai,aigd->bagd", h, r)
        z, i_raw, f_raw, o = pre.unbind(2)  # (B, heads, D) each
        log_f = torch.nn.functional.logsigmoid(f_raw) if cell.forget_gate == "sigmoid" else f_raw
        c = log_f.exp() * c + i_raw.exp() * torch.tanh(z)
        n = log_f.exp() * n + i_raw.exp()
        h = torch.sigmoid(o) * c / n
        m = i_raw if m is None else torch.maximum(log_f + m, i_raw)
        hs.append(h.flatten(1))
    return torch.stack(hs, 1), c.flatten(1), n.flatten(1), m.flatten(1)


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_the_cell_is_the_papers_equations_and_the_stabiliser_changes_nothing(forget_gate):
    cell = cell64(forget_gate)
    x = torch.randn(2, 7, 6, dtype=torch.float64)  # moderate: exp(i~) needs no stabiliser
    hs, c, n, m = by_hand(cell, x)
    got, (h_last, c_last, n_last, m_last) = cell(x)
    torch.testing.assert_close(got, hs, **TOL)
    torch.testing.assert_close(h_last, hs[:, -1], **TOL)
    torch.testing.assert_close(m_last, m, **TOL)
    # The carried c and n are the true ones scaled by exp(-m).
    torch.testing.assert_close(c_last, c * torch.exp(-m), **TOL)
    torch.testing.assert_close(n_last, n * torch.exp(-m), **TOL)
    assert not torch.allclose(m, torch.zeros_like(m)), "the test must exercise the stabiliser"


def autograd_loop(cell: SLSTMCell, x, valid=None, state=None):
    """The reference: the cell's one-step update in a loop that autograd records."""
    batch, steps, _ = x.shape
    inputs = cell.input(x).unflatten(-1, (cell.num_heads, -1)).permute(1, 2, 0, 3)
    h, c, n, m = cell._start(state, batch, inputs)  # (heads, B, D) each
    hs = []
    for t in range(steps):
        new = cell._update(torch.baddbmm(inputs[t], h, cell.recurrent), c, n, m)
        if valid is not None:
            keep = valid[None, :, t, None]  # (1, B, 1)
            new = tuple(torch.where(keep, a, b) for a, b in zip(new, (h, c, n, m), strict=True))
        h, c, n, m = new
        hs.append(h)
    return torch.stack(hs, 2).permute(1, 2, 0, 3).flatten(2), cell._flat((h, c, n, m))


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_the_backward_loop_is_autograds(forget_gate):
    # The hand-written backward against autograd through the same update: every input,
    # parameter and starting state, for a loss on the outputs and on every carried tensor,
    # with padding (rows that end early) and a carried state.
    cell = cell64(forget_gate)
    with torch.no_grad():
        start = cell(torch.randn(3, 4, 6, dtype=torch.float64))[1]
    x = torch.randn(3, 7, 6, dtype=torch.float64)
    valid = torch.arange(7)[None] < torch.tensor([7, 4, 1])[:, None]  # (B, T)
    weights = [torch.randn(3, 7, 6, dtype=torch.float64)] + [
        torch.randn(3, 6, dtype=torch.float64) for _ in range(4)
    ]
    results = []
    for run in (cell.forward, lambda *a: autograd_loop(cell, *a)):
        leaves = [x.clone().requires_grad_(True), *(s.clone().requires_grad_(True) for s in start)]
        hs, state = run(leaves[0], valid, tuple(leaves[1:]))
        loss = sum((t * w).sum() for t, w in zip((hs, *state), weights, strict=True))
        grads = torch.autograd.grad(loss, [*leaves, *cell.parameters()])
        results.append((hs, *state, *grads))
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got, expected, **TOL)


def test_the_gradients_are_those_of_the_papers_equations():
    cell = cell64()
    x = torch.randn(2, 6, 6, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 6, 6, dtype=torch.float64)
    got = torch.autograd.grad((cell(x)[0] * weight).sum(), [x, *cell.parameters()])
    expected = torch.autograd.grad((by_hand(cell, x)[0] * weight).sum(), [x, *cell.parameters()])
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, **TOL)


def test_the_scale_of_a_carried_state_changes_nothing():
    # (c, n, m) and (c e^k, n e^k, m - k) are the same memory: only c / n and m's offset matter.
    cell = cell64()
    _, (h, c, n, m) = cell(torch.randn(2, 5, 6, dtype=torch.float64))
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    plain, _ = cell(x, state=(h, c, n, m))
    scaled, _ = cell(x, state=(h, c * 8.0, n * 8.0, m - math.log(8.0)))
    torch.testing.assert_close(scaled, plain, **TOL)


def test_the_forget_gates_start_long():
    cell = SLSTMCell(8, num_heads=2)
    bias = cell.input.bias.view(2, 4, 4)
    assert (bias[:, 2] >= 3.0).all() and (bias[:, 2] <= 6.0).all()
    assert (bias[:, 1] == 0).all()


def test_heads_are_independent():
    # Block-diagonal R: head 0's h reaches only head 0's gates.
    cell = cell64()
    _, (h, c, n, m) = cell(torch.randn(2, 5, 6, dtype=torch.float64))
    x = torch.randn(2, 6, dtype=torch.float64)
    _, before = cell.step(x, (h, c, n, m))
    bumped = h.clone()
    bumped[:, :2] += 0.5  # head 0's units
    _, after = cell.step(x, (bumped, c, n, m))
    for old, new in zip(before, after, strict=True):
        torch.testing.assert_close(new[:, 2:], old[:, 2:], atol=0, rtol=0)  # heads 1 and 2
    assert not torch.allclose(after[0][:, :2], before[0][:, :2]), "head 0 must see its own h"


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_gradients_reach_every_parameter(forget_gate):
    torch.manual_seed(0)
    net = SLSTMNet(2, hidden_size=4, num_heads=2, dropout=0.1, forget_gate=forget_gate)
    encoded = net(torch.randn(3, 5, 2), torch.tensor([5, 3, 1]))
    # A weighted sum: a plain sum of layer-normed outputs has no gradient below the norm.
    (encoded.outputs * torch.randn(3, 5, 4)).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_saturated_gates_stay_finite(forget_gate):
    # exp(i~) of inputs this large overflows any float; the stabiliser keeps every value finite,
    # forward and backward, and the normaliser at least 1.
    cell = SLSTMCell(6, num_heads=3, forget_gate=forget_gate)
    x = (torch.randn(2, 12, 6) * 1e3).requires_grad_(True)
    hs, (h, c, n, m) = cell(x)
    assert torch.isfinite(hs).all() and all(torch.isfinite(s).all() for s in (h, c, n, m))
    assert (n >= 1).all()
    (hs * torch.randn_like(hs)).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in cell.parameters())


def test_an_empty_carried_memory_is_a_fresh_start():
    # A zero state (n = 0) is no memory at all: the same as no state, whatever its m.
    cell = cell64()
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    zeros = torch.zeros(2, 6, dtype=torch.float64)
    fresh, _ = cell(x)
    given, _ = cell(x, state=(zeros, zeros, zeros, zeros + 1e3))
    torch.testing.assert_close(given, fresh, **TOL)


def test_the_state_shapes_are_as_documented():
    state = net64()(torch.randn(2, 5, 3, dtype=torch.float64)).state
    assert len(state) == 4 and all(s.shape == (2, 2, 6) for s in state)  # (L, B, H): h, c, n, m


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"hidden_size": 0}, "model.hidden_size=0 must be a whole number of at least 1."),
        ({"num_layers": 0}, "model.num_layers=0 must be a whole number of at least 1."),
        ({"num_heads": 0}, "model.num_heads=0 must be a whole number of at least 1."),
        ({"hidden_size": 6}, "model.hidden_size=6 must be a multiple of model.num_heads=4"),
        ({"forget_gate": "tanh"}, "model.forget_gate='tanh' is not one of sigmoid, exp."),
        ({"dropout": 1.0}, r"model.dropout=1.0 must be in \[0, 1\)"),
        ({"mlp_expansion": -1}, "model.mlp_expansion=-1 must be a whole number of at least 0"),
    ],
)
def test_bad_settings_are_refused_in_one_sentence(settings, message):
    with pytest.raises(ConfigError, match=message):
        SLSTMNet(3, **settings)


def test_a_state_of_another_shape_is_refused():
    net = SLSTMNet(3, hidden_size=4, num_layers=2, num_heads=2)
    h = torch.zeros(2, 2, 4)
    with pytest.raises(ConfigError, match=r"the state is \(2, 2, 4\), \(2, 2, 4\), not \(2, 2,"):
        net(torch.randn(2, 3, 3), state=(h, h))  # an LSTM's (h, c), not (h, c, n, m)
    with pytest.raises(ConfigError, match=r"the state is \(2, 2, 4\), not \(2, 2, 4\), \(2, 2,"):
        net.step(torch.randn(2, 3), h)


def test_bfloat16_runs_with_the_recurrence_in_float32():
    torch.manual_seed(0)
    net = SLSTMNet(3, hidden_size=4, num_heads=2)
    x = torch.randn(2, 5, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        encoded = net(x)
    assert all(s.dtype == torch.float32 for s in encoded.state)
    torch.testing.assert_close(encoded.outputs.float(), net(x).outputs, atol=0.1, rtol=0.1)
    half = net.to(torch.bfloat16)
    outputs = half(x.to(torch.bfloat16)).outputs
    assert outputs.dtype == torch.bfloat16 and torch.isfinite(outputs.float()).all()
