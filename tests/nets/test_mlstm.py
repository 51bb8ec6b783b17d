"""mLSTM: the cell is the paper's recurrence, its three forms give the same outputs, states and
gradients, saturated gates give no NaN, bad settings are refused. (The one-step form, padding
and carried state: tests/nets/test_mixer_stacks.py, for every modern net.)"""

import math

import pytest
import torch
import torch.nn.functional as F

from rnnlab.nets.mlstm import FORMS, MLSTM, MLSTMNet, mlstm_cell
from rnnlab.utils.errors import ConfigError

TOL = {"atol": 1e-10, "rtol": 1e-10}


def net64(scan: str = "chunked", chunk_size: int = 3, **kwargs) -> MLSTMNet:
    torch.manual_seed(0)
    net = MLSTMNet(
        3, hidden_size=4, num_layers=2, num_heads=2, scan=scan, chunk_size=chunk_size, **kwargs
    ).double()
    with torch.no_grad():  # gates that read the input (they start at zero weights)
        for block in net.blocks:
            block.mixer.gates.weight.normal_(0.0, 0.5)
    return net


def cell_inputs(batch=2, heads=2, steps=7, size=3, scale=1.0, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    q, k, v = (randn(batch, heads, steps, size) for _ in range(3))
    log_f = F.logsigmoid(scale * randn(batch, heads, steps))
    log_i = scale * randn(batch, heads, steps)
    return q, k, v, log_f, log_i


def test_the_cell_is_the_papers_recurrence_without_a_stabiliser():
    # Written out by hand with the unscaled memory: C_t = f_t C + i_t v k^T, n_t = f_t n + i_t k,
    # h_t = C_t q_t / max(|n_t . q_t|, 1); the cell stores C and n scaled by exp(-m).
    q, k, v, log_f, log_i = cell_inputs()
    c, n, expected = torch.zeros(2, 2, 3, 3, dtype=torch.float64), torch.zeros(2, 2, 3), []
    n = n.double()
    for t in range(7):
        f, i = log_f[..., t].exp()[..., None], log_i[..., t].exp()[..., None]
        c = f[..., None] * c + i[..., None] * v[:, :, t, :, None] * k[:, :, t, None, :]
        n = f * n + i * k[:, :, t]
        nq = (n * q[:, :, t]).sum(-1, keepdim=True)
        expected.append((c @ q[:, :, t, :, None])[..., 0] / nq.abs().clamp_min(1.0))
    for form in FORMS:
        h, (c_got, n_got, m) = mlstm_cell(q, k, v, log_f, log_i, form=form, chunk_size=3)
        torch.testing.assert_close(h, torch.stack(expected, 2), **TOL)
        torch.testing.assert_close(c_got * m.exp()[..., None, None], c, **TOL)
        torch.testing.assert_close(n_got * m.exp()[..., None], n, **TOL)


def test_the_block_is_xlstms_mlstm_block():
    torch.manual_seed(0)
    layer = MLSTM(3, num_heads=2, expansion=2, conv_kernel=3).double()
    with torch.no_grad():
        layer.gates.weight.normal_(0.0, 0.5)
    u = torch.randn(2, 6, 3, dtype=torch.float64)
    x, z = (u @ layer.up.weight.T).chunk(2, -1)  # (B, T, 6) each
    padded = F.pad(x, (0, 0, 2, 0))  # two zero steps before the first
    w = layer.conv.weight[:, 0]  # (6, K)
    conv = torch.stack([(padded[:, t : t + 3] * w.T).sum(1) for t in range(6)], 1)
    xc = F.silu(conv + layer.conv.bias)
    q, k = (xc @ layer.qk.weight.T).chunk(2, -1)
    v = x @ layer.v.weight.T
    gates = torch.cat([xc, x], -1) @ layer.gates.weight.T + layer.gates.bias
    i_pre, f_pre = gates.chunk(2, -1)  # (B, T, 2) each
    o = torch.sigmoid(x @ layer.o.weight.T + layer.o.bias)
    c, n, hs = torch.zeros(2, 2, 3, 3, dtype=torch.float64), torch.zeros(2, 2, 3).double(), []
    for t in range(6):
        qt, kt, vt = (a[:, t].view(2, 2, 3) for a in (q, k, v))
        kt = kt / math.sqrt(3)
        f, i = torch.sigmoid(f_pre[:, t])[..., None], i_pre[:, t].exp()[..., None]
        c = f[..., None] * c + i[..., None] * vt[..., :, None] * kt[..., None, :]
        n = f * n + i * kt
        nq = (n * qt).sum(-1, keepdim=True)
        hs.append(((c @ qt[..., None])[..., 0] / nq.abs().clamp_min(1.0)).flatten(1))
    h = o * torch.stack(hs, 1)  # (B, T, 6)
    heads = h.view(2, 6, 2, 3)
    normed = (heads - heads.mean(-1, keepdim=True)) / (heads.var(-1, False, True) + 1e-5).sqrt()
    h = normed.flatten(2) * layer.norm_weight + layer.skip * xc
    expected = (h * F.silu(z)) @ layer.down.weight.T
    torch.testing.assert_close(layer(u)[0], expected, **TOL)


def test_the_gates_start_as_the_paper_sets_them():
    layer = MLSTM(8, num_heads=4)
    assert not layer.gates.weight.any()
    torch.testing.assert_close(layer.gates.bias[4:], torch.linspace(3.0, 6.0, 4))
    assert layer.gates.bias[:4].abs().max() < 0.5


@pytest.mark.parametrize("seed", range(4))
def test_the_three_cell_forms_agree_with_state_and_padding(seed):
    generator = torch.Generator().manual_seed(seed)
    steps = int(torch.randint(1, 13, (), generator=generator))
    chunk_size = int(torch.randint(1, 6, (), generator=generator))
    q, k, v, log_f, log_i = cell_inputs(steps=steps, scale=3.0, seed=seed)
    state0 = tuple(t.double() for t in (torch.randn(2, 2, 3, 3), torch.randn(2, 2, 3)))
    state0 = (*state0, torch.randn(2, 2, dtype=torch.float64))
    lengths = torch.tensor([steps, int(torch.randint(0, steps + 1, (), generator=generator))])
    valid = torch.arange(steps)[None] < lengths[:, None]
    weights = [torch.randn(t.shape, dtype=torch.float64) for t in (q, *state0)]
    results = {}
    for form in FORMS:
        leaves = [t.clone().requires_grad_(True) for t in (q, k, v, log_f, log_i, *state0)]
        h, state = mlstm_cell(*leaves[:5], valid, tuple(leaves[5:]), form, chunk_size)
        loss = sum((a * w).sum() for a, w in zip((h, *state), weights, strict=True))
        results[form] = (h, *state, *torch.autograd.grad(loss, leaves))
    for form in FORMS:
        for got, expected in zip(results[form], results["sequential"], strict=True):
            torch.testing.assert_close(got, expected, **TOL, msg=f"form={form} differs")


@pytest.mark.parametrize("chunk_size", [2, 4, 9])
def test_every_form_of_the_net_gives_the_same_outputs_states_and_gradients(chunk_size):
    x = torch.randn(3, 9, 3, dtype=torch.float64)
    lengths = torch.tensor([9, 5, 2])
    results = {}
    for scan in FORMS:
        net = net64(scan, chunk_size)
        inputs = x.clone().requires_grad_(True)
        encoded = net(inputs, lengths)
        loss = encoded.outputs.square().sum() + sum(s.square().sum() for s in encoded.state)
        grads = torch.autograd.grad(loss, [inputs, *net.parameters()])
        results[scan] = (encoded.outputs, encoded.last, *encoded.state, *grads)
    for scan in FORMS:
        for got, expected in zip(results[scan], results["sequential"], strict=True):
            torch.testing.assert_close(got, expected, **TOL, msg=f"scan={scan} differs")


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = MLSTMNet(2, hidden_size=4, num_heads=2, dropout=0.1, mlp_expansion=1)
    # Squared: the final LayerNorm's outputs sum to its bias's sum, whatever the input.
    net(torch.randn(3, 5, 2), torch.tensor([5, 3, 1])).outputs.square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_state_shapes_are_as_documented():
    c, n, m, conv = net64()(torch.randn(2, 5, 3, dtype=torch.float64)).state
    # hidden 4, expansion 2: 8 inner channels in 2 heads of d = 4
    assert c.shape == (2, 2, 2, 4, 4) and n.shape == (2, 2, 2, 4) and m.shape == (2, 2, 2)
    assert conv.shape == (2, 2, 3, 8)


@pytest.mark.parametrize("form", FORMS)
def test_saturated_gates_give_no_nan(form):
    # Pre-activations of +-1000: exp(1000) overflows float64 without the stabiliser.
    q, k, v, log_f, log_i = cell_inputs(steps=9, seed=3)
    sign = torch.randint(0, 2, log_i.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    log_i = (1000.0 * sign.double()).requires_grad_(True)
    f_pre = (-1000.0 * sign.double().flip(-1)).requires_grad_(True)
    h, state = mlstm_cell(q, k, v, F.logsigmoid(f_pre), log_i, form=form, chunk_size=4)
    (h.sum() + sum(s.sum() for s in state)).backward()
    for t in (h, *state, log_i.grad, f_pre.grad):
        assert torch.isfinite(t).all()
    # and the whole net on inputs a thousand times too large, in float32
    net = MLSTMNet(3, hidden_size=8, num_heads=2, scan=form, chunk_size=4)
    with torch.no_grad():
        for block in net.blocks:
            block.mixer.gates.weight.normal_(0.0, 30.0)
    x = (1000 * torch.randn(2, 9, 3)).requires_grad_(True)
    encoded = net(x, torch.tensor([9, 4]))
    encoded.outputs.sum().backward()
    assert torch.isfinite(encoded.outputs).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(s).all() for s in encoded.state)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"scan": "loop"}, "model.scan='loop' is not one of sequential, parallel, chunked."),
        ({"hidden_size": 0}, "model.hidden_size=0 must be a whole number of at least 1."),
        ({"num_heads": 0}, "model.num_heads=0 must be a whole number of at least 1."),
        ({"num_heads": 3}, r"model.num_heads=3 must divide model.expansion \* model.hidden_size"),
        ({"expansion": 0}, "model.expansion=0 must be a whole number of at least 1."),
        ({"conv_kernel": 0}, "model.conv_kernel=0 must be a whole number of at least 1."),
        ({"chunk_size": 0}, "model.chunk_size=0 must be a whole number of at least 1."),
        ({"dropout": 1.0}, r"model.dropout=1.0 must be in \[0, 1\)"),
        ({"mlp_expansion": -1}, "model.mlp_expansion=-1 must be a whole number of at least 0"),
    ],
)
def test_bad_settings_are_refused_in_one_sentence(settings, message):
    with pytest.raises(ConfigError, match=message):
        MLSTMNet(3, **settings)


def test_a_state_of_another_shape_is_refused():
    net = MLSTMNet(3, hidden_size=4, num_layers=2, num_heads=2)
    with pytest.raises(ConfigError, match=r"the state is \(2, 2, 16\), not \(2, 2, 2, 4, 4\), "):
        net(torch.randn(2, 3, 3), state=torch.zeros(2, 2, 16))
    state = net(torch.randn(2, 3, 3)).state
    with pytest.raises(ConfigError, match=r"the state is \(1, 2, 2, 4, 4\), .*; carry"):
        net.step(torch.randn(2, 3), tuple(s[:1] for s in state))


@pytest.mark.parametrize("scan", FORMS)
def test_bfloat16_inputs_run_the_cell_in_float32(scan):
    torch.manual_seed(0)
    net = MLSTMNet(3, hidden_size=8, num_heads=2, scan=scan, chunk_size=2)
    x = torch.randn(2, 5, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        encoded = net(x)
    assert all(s.dtype == torch.float32 for s in encoded.state)
    torch.testing.assert_close(encoded.outputs.float(), net(x).outputs, atol=0.1, rtol=0.1)
    output, _ = net.bfloat16().step(x[:, 0].bfloat16())
    assert output.dtype == torch.bfloat16 and torch.isfinite(output).all()
