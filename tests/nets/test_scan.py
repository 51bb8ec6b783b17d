"""The scan forms of ``h_t = a_t h_{t-1} + b_t`` agree with the sequential reference: states,
final state and gradients, in float64 to 1e-10, for random inputs, lengths and chunk sizes."""

import pytest
import torch

from rnnlab.nets.scan import linear_scan, log_linear_scan, scan_, scan_reverse_, selective_scan
from rnnlab.utils.errors import ConfigError

FAST = ["loop", "parallel", "chunked"]
TOL = {"atol": 1e-10, "rtol": 1e-10}


def problem(seed: int, batch: int = 3, steps: int = 23, size: int = 4, positive: bool = False):
    """Decays in (0, 1), inputs, an initial state and lengths; padded steps are the identity
    (a = 1, b = 0), as the nets make them."""
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(batch, steps, size, generator=g, dtype=torch.float64) * 0.98 + 0.01
    b = torch.randn(batch, steps, size, generator=g, dtype=torch.float64)
    if positive:
        b = b.abs() + 1e-3
    h0 = torch.randn(batch, size, generator=g, dtype=torch.float64)
    lengths = torch.randint(1, steps + 1, (batch,), generator=g)
    lengths[0] = steps
    padded = (torch.arange(steps)[None] >= lengths[:, None])[..., None]  # (B, T, 1)
    return a.masked_fill(padded, 1.0), b.masked_fill(padded, 0.0), h0, lengths


def states_and_grads(scan, a, b, h0, seed: int = 0):
    """The scan's states, final state, and the gradients of a random function of both."""
    a, b, h0 = (t.clone().requires_grad_(True) for t in (a, b, h0))
    h, last = scan(a, b, h0)
    g = torch.Generator().manual_seed(seed)
    weights = torch.randn(h.shape, generator=g, dtype=h.dtype)
    weights_last = torch.randn(last.shape, generator=g, dtype=h.dtype)
    loss = (h * weights).sum() + (last * weights_last).sum()
    return (h, last, *torch.autograd.grad(loss, (a, b, h0)))


def reference(a, b, h0):
    return linear_scan(a, b, h0, "sequential")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("form", FAST)
def test_every_form_agrees_with_the_reference(form, seed):
    a, b, h0, _ = problem(seed, steps=[1, 5, 23, 64][seed])
    chunk = int(torch.randint(1, 20, (1,), generator=torch.Generator().manual_seed(seed)))
    expected = states_and_grads(reference, a, b, h0)
    got = states_and_grads(lambda *x: linear_scan(*x, form=form, chunk_size=chunk), a, b, h0)
    for name, e, g in zip(["h", "last", "da", "db", "dh0"], expected, got, strict=True):
        torch.testing.assert_close(g, e, **TOL, msg=f"{form}, chunk {chunk}: {name} differs")


@pytest.mark.parametrize("steps", [1, 2, 63, 64, 65, 100, 121, 257, 1030])
def test_the_blocked_scan_equals_a_loop_over_every_step(steps):
    # From 64 steps scan_ and scan_reverse_ take the steps in blocks of about sqrt(T), with a
    # tail where T is not a multiple of the block; each must be the plain loop, to rounding.
    g = torch.Generator().manual_seed(steps)
    a = torch.rand(2, steps, 3, 2, generator=g, dtype=torch.float64) * 0.3 + 0.7
    x = torch.randn(2, steps, 3, 2, generator=g, dtype=torch.float64)
    forward, backward = x.clone(), x.clone()
    for t in range(1, steps):
        forward[:, t] += a[:, t] * forward[:, t - 1]
    for t in range(steps - 2, -1, -1):
        backward[:, t] += a[:, t + 1] * backward[:, t + 1]
    torch.testing.assert_close(scan_(x.clone(), a), forward, **TOL)
    torch.testing.assert_close(scan_reverse_(x.clone(), a), backward, **TOL)


@pytest.mark.parametrize("form", FAST)
def test_every_form_agrees_with_the_reference_on_long_padded_rows(form):
    a, b, h0, _ = problem(5, steps=300)
    expected = states_and_grads(reference, a, b, h0)
    got = states_and_grads(lambda *x: linear_scan(*x, form=form, chunk_size=37), a, b, h0)
    for name, e, g in zip(["h", "last", "da", "db", "dh0"], expected, got, strict=True):
        torch.testing.assert_close(g, e, **TOL, msg=f"{form}: {name} differs")


@pytest.mark.parametrize("chunk", [1, 2, 7, 16, 23, 100])
def test_the_chunked_form_agrees_for_every_chunk_size(chunk):
    a, b, h0, _ = problem(1)
    expected = states_and_grads(reference, a, b, h0)
    got = states_and_grads(lambda *x: linear_scan(*x, form="chunked", chunk_size=chunk), a, b, h0)
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, **TOL)


@pytest.mark.parametrize("form", ["sequential", *FAST])
def test_the_final_state_is_each_rows_own_end(form):
    a, b, h0, lengths = problem(2)
    assert (lengths < a.shape[1]).any()  # some rows are padded
    h, last = linear_scan(a, b, h0, form=form, chunk_size=5)
    for row, n in enumerate(lengths.tolist()):
        alone, alone_last = reference(a[row : row + 1, :n], b[row : row + 1, :n], h0[row : row + 1])
        torch.testing.assert_close(h[row, :n], alone[0], **TOL)
        torch.testing.assert_close(last[row], alone_last[0], **TOL)


@pytest.mark.parametrize("form", ["sequential", *FAST])
def test_two_chunks_with_the_state_carried_equal_one_pass(form):
    a, b, h0, _ = problem(3)
    whole, whole_last = linear_scan(a, b, h0, form=form, chunk_size=4)
    first, carried = linear_scan(a[:, :9], b[:, :9], h0, form=form, chunk_size=4)
    rest, last = linear_scan(a[:, 9:], b[:, 9:], carried, form=form, chunk_size=4)
    torch.testing.assert_close(torch.cat([first, rest], 1), whole, **TOL)
    torch.testing.assert_close(last, whole_last, **TOL)


def test_no_initial_state_is_a_zero_state():
    a, b, h0, _ = problem(4)
    for form in FAST:
        torch.testing.assert_close(
            linear_scan(a, b, None, form)[0], reference(a, b, torch.zeros_like(h0))[0], **TOL
        )


@pytest.mark.parametrize("form", FAST)
def test_the_custom_backward_passes_gradcheck(form):
    a, b, h0, _ = problem(5, batch=2, steps=11, size=3)
    inputs = tuple(t.clone().requires_grad_(True) for t in (a, b, h0))
    assert torch.autograd.gradcheck(
        lambda a, b, h0: linear_scan(a, b, h0, form=form, chunk_size=4), inputs
    )


def test_the_log_space_scan_agrees_with_the_reference():
    a, b, h0, _ = problem(6, positive=True)
    log_a, log_b = a.log(), b.log()  # padded steps: log a = 0, log b = -inf
    assert (log_b == -torch.inf).any()
    # Both differentiated with respect to log a and log b: at b = 0 the log is not.
    expected = states_and_grads(
        lambda log_a, log_b, h0: reference(log_a.exp(), log_b.exp(), h0), log_a, log_b, h0
    )
    got = states_and_grads(log_linear_scan, log_a, log_b, h0)
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, **TOL)


def test_the_log_space_scan_gives_finite_gradients_after_padding_only():
    # A chunk that starts in a row's padding (its sequence ended in the chunk before):
    # logcumsumexp's backward gives NaN at a leading -inf, which must not reach log a.
    log_a = torch.full((2, 5, 3), -0.3, dtype=torch.float64)
    log_b = torch.zeros(2, 5, 3, dtype=torch.float64)
    log_a[1], log_b[1] = 0.0, -torch.inf  # row 1: padding only
    log_a.requires_grad_(True)
    h0 = torch.ones(2, 3, dtype=torch.float64)
    h, _ = log_linear_scan(log_a, log_b, h0)
    torch.testing.assert_close(h[1], torch.ones(5, 3, dtype=torch.float64))  # h0 kept
    (grad,) = torch.autograd.grad(h.sum(), log_a)
    assert torch.isfinite(grad).all()


def test_bad_settings_are_refused_in_one_sentence():
    a, b, h0, _ = problem(7)
    with pytest.raises(ConfigError, match="scan='fast' is not one of sequential, loop"):
        linear_scan(a, b, h0, form="fast")
    with pytest.raises(ConfigError, match="chunk_size=0 must be a whole number"):
        linear_scan(a, b, h0, form="chunked", chunk_size=0)
    with pytest.raises(ConfigError, match=r"the initial state is \(3, 2\), not \(B, H\)"):
        linear_scan(a, b, h0[:, :2])


def selective_problem(seed: int, sizes=(3, 11, 5, 4), with_state: bool = True):
    """S6's inputs for ``(B, T, D, N)`` ``sizes``: steps (0 on the padding of rows 1 and 2,
    the identity), a negative diagonal ``a``, ``b``, ``c``, the scaled inputs ``u`` and an
    initial state, in float64."""
    g = torch.Generator().manual_seed(seed)
    batch, steps, channels, modes = sizes
    dt = torch.rand(batch, steps, channels, generator=g, dtype=torch.float64) * 0.5
    dt[1:, steps - 3 :] = 0.0
    a = -torch.rand(channels, modes, generator=g, dtype=torch.float64) * 4 - 0.1
    b, c = (torch.randn(batch, steps, modes, generator=g, dtype=torch.float64) for _ in "bc")
    u = dt * torch.randn(batch, steps, channels, generator=g, dtype=torch.float64)
    h0 = torch.randn(batch, channels, modes, generator=g, dtype=torch.float64)
    return dt, a, b, c, u, h0 if with_state else None


def selective_reference(dt, a, b, c, u, h0):
    """S6's recurrence as its equations, one step at a time, recorded by autograd."""
    h = torch.zeros(*u[:, 0].shape, a.shape[1], dtype=u.dtype) if h0 is None else h0
    ys = []
    for t in range(dt.shape[1]):
        h = torch.exp(dt[:, t, :, None] * a) * h + u[:, t, :, None] * b[:, t, None]
        ys.append((h * c[:, t, None]).sum(-1))
    return torch.stack(ys, 1), h


@pytest.mark.parametrize("steps", [11, 90])  # 90: the scan runs in blocks
@pytest.mark.parametrize("with_state", [True, False])
def test_the_selective_scan_and_its_backward_match_autograds_loop(with_state, steps):
    leaves = [
        None if t is None else t.requires_grad_(True)
        for t in selective_problem(0, sizes=(3, steps, 5, 4), with_state=with_state)
    ]
    results = []
    for scan in (selective_scan, selective_reference):
        y, last = scan(*leaves)
        g = torch.Generator().manual_seed(1)
        weights = torch.randn(y.shape, generator=g, dtype=y.dtype)
        weights_last = torch.randn(last.shape, generator=g, dtype=y.dtype)
        loss = (y * weights).sum() + (last * weights_last).sum()
        grads = torch.autograd.grad(loss, [t for t in leaves if t is not None])
        results.append((y, last, *grads))
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got, expected, **TOL)


def test_the_selective_scans_final_state_is_each_rows_own_end():
    dt, a, b, c, u, h0 = selective_problem(0)  # rows 1 and 2: 3 padded steps
    _, last = selective_scan(dt, a, b, c, u, h0)
    _, alone = selective_scan(dt[1:, :-3], a, b[1:, :-3], c[1:, :-3], u[1:, :-3], h0[1:])
    torch.testing.assert_close(last[1:], alone, **TOL)


def test_the_selective_scan_passes_gradcheck():
    leaves = [t.requires_grad_(True) for t in selective_problem(2, sizes=(2, 5, 3, 2))]
    assert torch.autograd.gradcheck(selective_scan, leaves)
