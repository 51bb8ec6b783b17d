"""The RG-LRU net (Hawk): the recurrence and Griffin's recurrent block are the paper's equations,
every scan form gives the same outputs and gradients, bad settings are refused. (The one-step
form, padding and carried state: tests/nets/test_mixer_stacks.py, for every modern net.)"""

import pytest
import torch
import torch.nn.functional as F

from rnnlab.nets.rglru import RGLRU, RGLRUMixer, RGLRUNet
from rnnlab.nets.ssm import SCANS
from rnnlab.utils.errors import ConfigError

TOL = {"atol": 1e-10, "rtol": 1e-10}


def net64(scan: str = "loop", **kwargs) -> RGLRUNet:
    torch.manual_seed(0)
    settings = {"hidden_size": 6, "num_layers": 2, "expansion": 2, "chunk_size": 4} | kwargs
    return RGLRUNet(3, scan=scan, **settings).double()


def test_the_rglru_is_the_papers_recurrence():
    torch.manual_seed(0)
    layer = RGLRU(4, c=8.0, a_min=0.5, a_max=0.99).double()
    x = torch.randn(2, 6, 4, dtype=torch.float64)
    h0 = torch.randn(2, 4, dtype=torch.float64)
    w, bias = layer.gates.weight, layer.gates.bias
    h, expected = h0, []
    for t in range(6):
        r = torch.sigmoid(x[:, t] @ w[:4].T + bias[:4])
        i = torch.sigmoid(x[:, t] @ w[4:].T + bias[4:])
        a = torch.sigmoid(layer.lam) ** (8.0 * r)
        h = a * h + torch.sqrt(1 - a**2) * (i * x[:, t])
        expected.append(h)
    states, last = layer(x, h0=h0)
    torch.testing.assert_close(states, torch.stack(expected, 1), **TOL)
    torch.testing.assert_close(last, h, **TOL)


def test_the_recurrent_block_is_griffins():
    torch.manual_seed(0)
    mixer = RGLRUMixer(3, expansion=2, conv_kernel=3).double()
    u = torch.randn(2, 6, 3, dtype=torch.float64)
    x, g = (u @ mixer.in_proj.weight.T + mixer.in_proj.bias).chunk(2, -1)  # (B, T, 6) each
    padded = F.pad(x, (0, 0, 2, 0))  # two zero steps before the first
    kernel = mixer.conv.weight[:, 0]  # (6, K)
    conv = torch.stack([(padded[:, t : t + 3] * kernel.T).sum(1) for t in range(6)], 1)
    h, _ = mixer.rglru(conv + mixer.conv.bias)  # checked against its equations above
    expected = (F.gelu(g) * h) @ mixer.out_proj.weight.T + mixer.out_proj.bias
    torch.testing.assert_close(mixer(u)[0], expected, **TOL)


def test_the_decay_starts_in_its_range():
    torch.manual_seed(0)
    layer = RGLRU(4096, c=8.0, a_min=0.9, a_max=0.999)
    a = torch.sigmoid(layer.lam.double())
    assert a.min() >= 0.9 * (1 - 1e-6) and a.max() <= 0.999 * (1 + 1e-6)
    # a^c uniform in [0.9^c, 0.999^c]: its quartiles are where a uniform's are
    quartiles = torch.quantile(a**8, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    low, high = 0.9**8, 0.999**8
    expected = torch.tensor([low + q * (high - low) for q in (0.25, 0.5, 0.75)])
    torch.testing.assert_close(quartiles, expected.double(), atol=0.02, rtol=0)


def test_a_saturated_recurrence_gate_keeps_the_gradients_finite():
    # r = 0 gives a = 1, where sqrt(1 - a^2) has an infinite derivative: capped, not NaN.
    torch.manual_seed(0)
    layer = RGLRU(3)
    with torch.no_grad():
        layer.gates.bias[:3] = -200.0  # sigmoid(-200) is 0 in float32
    x = torch.randn(2, 5, 3, requires_grad=True)
    layer(x)[0].sum().backward()
    for grad in (x.grad, *(p.grad for p in layer.parameters())):
        assert torch.isfinite(grad).all()


def test_every_scan_form_gives_the_same_outputs_and_gradients():
    x = torch.randn(3, 9, 3, dtype=torch.float64)
    lengths = torch.tensor([9, 5, 2])
    results = {}
    for scan in SCANS:
        net = net64(scan)
        leaf = x.clone().requires_grad_(True)
        encoded = net(leaf, lengths)
        loss = encoded.outputs.square().sum() + sum(s.square().sum() for s in encoded.state)
        grads = torch.autograd.grad(loss, [leaf, *net.parameters()])
        results[scan] = (encoded.outputs, encoded.last, *encoded.state, *grads)
    for scan in SCANS:
        for got, expected in zip(results[scan], results["sequential"], strict=True):
            torch.testing.assert_close(got, expected, **TOL, msg=f"scan={scan} differs")


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = RGLRUNet(2, hidden_size=4, num_layers=2, expansion=2, dropout=0.1)
    # Squared: the final LayerNorm's outputs sum to its bias's sum, whatever the input.
    net(torch.randn(3, 5, 2), torch.tensor([5, 3, 1])).outputs.square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_state_shapes_are_as_documented():
    h, conv = net64(conv_kernel=3)(torch.randn(2, 5, 3, dtype=torch.float64)).state
    assert h.shape == (2, 2, 2 * 6) and conv.shape == (2, 2, 2, 2 * 6)  # (L, B, W), (L, B, K-1, W)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"scan": "log"}, "model.scan='log' is not one of loop, parallel, chunked, sequential."),
        ({"hidden_size": 0}, "model.hidden_size=0 must be a whole number of at least 1."),
        ({"expansion": 1.5}, "model.expansion=1.5 must be a whole number of at least 1."),
        ({"conv_kernel": 0}, "model.conv_kernel=0 must be a whole number of at least 1."),
        ({"chunk_size": 0}, "model.chunk_size=0 must be a whole number of at least 1."),
        ({"dropout": 1.0}, r"model.dropout=1.0 must be in \[0, 1\)"),
        ({"mlp_expansion": -1}, "model.mlp_expansion=-1 must be a whole number of at least 0"),
        ({"c": 0.0}, "model.c=0.0 must be a number above 0"),
        ({"a_max": 1.0}, r"model.a_min=0.9 and model.a_max=1.0 must satisfy 0 < a_min <= a_max"),
        ({"a_min": 0.0}, r"model.a_min=0.0 and model.a_max=0.999 must satisfy 0 < a_min"),
        ({"a_min": 0.99, "a_max": 0.9}, r"model.a_min=0.99 and model.a_max=0.9 must satisfy"),
    ],
)
def test_bad_settings_are_refused_in_one_sentence(settings, message):
    with pytest.raises(ConfigError, match=message):
        RGLRUNet(3, **settings)


def test_a_state_of_another_shape_is_refused():
    net = RGLRUNet(3, hidden_size=4, num_layers=2)
    with pytest.raises(ConfigError, match=r"the state is \(2, 2, 4\), not \(2, 2, 4\), \(2, 2, "):
        net(torch.randn(2, 3, 3), state=torch.zeros(2, 2, 4))
    state = (torch.zeros(2, 2, 4), torch.zeros(2, 2, 2, 4))  # a kernel of 3, not 4
    with pytest.raises(ConfigError, match=r"\(2, 2, 2, 4\), not \(2, 2, 4\), \(2, 2, 3, 4\)"):
        net.step(torch.randn(2, 3), state)


def test_half_precision_inputs_are_scanned_in_float32():
    torch.manual_seed(0)
    net = RGLRUNet(3, hidden_size=4)
    x = torch.randn(2, 5, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        encoded = net(x)
    assert all(s.dtype == torch.float32 for s in encoded.state)
    torch.testing.assert_close(encoded.outputs.float(), net(x).outputs, atol=0.1, rtol=0.1)
    # A net held in bfloat16 reads bfloat16 inputs, and still scans in float32.
    half = net.to(torch.bfloat16)
    encoded = half(x.to(torch.bfloat16), torch.tensor([5, 3]))
    assert encoded.outputs.dtype == torch.bfloat16 and torch.isfinite(encoded.outputs).all()
    assert all(s.dtype == torch.float32 for s in encoded.state)
    output, state = half.step(x[:, 0].to(torch.bfloat16), encoded.state)
    assert output.dtype == torch.bfloat16 and all(s.dtype == torch.float32 for s in state)
