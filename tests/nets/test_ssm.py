"""LRU, S4D and S6: each layer is its paper's equations, every scan form gives the same outputs
and gradients, bad settings are refused. (The one-step form, padding and carried state:
tests/nets/test_mixer_stacks.py, for every modern net.)"""

import math

import pytest
import torch
import torch.nn.functional as F

from rnnlab.nets.ssm import (
    CONVOLVED_SCANS,
    LRU,
    S4D,
    S6,
    SCANS,
    StateSpaceModel,
    complex_scan,
)
from rnnlab.utils.errors import ConfigError

MIXERS = ["lru", "s4d", "s6"]
FORMS = {"lru": SCANS, "s4d": CONVOLVED_SCANS, "s6": SCANS}
TOL = {"atol": 1e-10, "rtol": 1e-10}


def net64(mixer: str, scan: str = "loop", **kwargs) -> StateSpaceModel:
    torch.manual_seed(0)
    return StateSpaceModel(
        3, mixer, hidden_size=6, num_layers=2, state_size=4, scan=scan, chunk_size=4, **kwargs
    ).double()


def tensors(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("form", ["loop", "parallel", "chunked"])
def test_the_complex_scan_and_its_gradients_match_autograds_loop(form):
    torch.manual_seed(0)
    shape = (2, 11, 3)
    a = torch.polar(torch.rand(shape, dtype=torch.float64), torch.randn(shape, dtype=torch.float64))
    b = torch.randn(shape, dtype=torch.complex128)
    h0 = torch.randn(2, 3, dtype=torch.complex128)
    weight = torch.randn(shape, dtype=torch.complex128)
    results = {}
    for name in ("sequential", form):
        leaves = [t.clone().requires_grad_(True) for t in (a, b, h0)]
        h, last = complex_scan(*leaves, form=name, chunk_size=4)
        loss = (h * weight).real.sum() + last.abs().square().sum()
        results[name] = (h, last, *torch.autograd.grad(loss, leaves))
    for got, expected in zip(results[form], results["sequential"], strict=True):
        torch.testing.assert_close(got, expected, **TOL)


def test_the_lru_is_the_papers_recurrence():
    torch.manual_seed(0)
    layer = LRU(3, 4, r_min=0.5, r_max=0.9, max_phase=math.pi).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    lam = torch.exp(-torch.exp(layer.nu_log) + 1j * torch.exp(layer.theta_log))
    gamma = layer.gamma_log.exp()
    b = torch.complex(layer.b_real.weight, layer.b_imag.weight)  # (N, H)
    c = torch.complex(layer.c_real.weight, layer.c_imag.weight)  # (H, N)
    assert ((lam.abs() >= 0.5) & (lam.abs() <= 0.9)).all()
    # gamma starts at sqrt(1 - |lambda|^2), as far as the float32 initialisation holds it
    torch.testing.assert_close(gamma, (1 - lam.abs() ** 2).sqrt(), atol=1e-6, rtol=1e-6)
    h, expected = torch.zeros(2, 4, dtype=torch.complex128), []
    for t in range(6):
        h = lam * h + gamma * (x[:, t].to(b.dtype) @ b.T)
        expected.append((h @ c.T).real + layer.d * x[:, t])
    torch.testing.assert_close(layer(x)[0], torch.stack(expected, 1), **TOL)


def test_s4d_equals_its_convolution_kernel():
    # The time-invariant layer is y = K * x + D x with K_k = Re(C A_bar^k B_bar): the
    # convolution form, not the recurrence the layer runs.
    torch.manual_seed(0)
    layer = S4D(3, 4, dt_min=0.01, dt_max=0.5).double()
    a = torch.complex(-layer.log_a_real.exp(), layer.a_imag)  # (H, N)
    s4d_lin = -0.5 + 1j * math.pi * torch.arange(4, dtype=torch.float64)  # A_n = -1/2 + i pi n
    torch.testing.assert_close(a, s4d_lin.expand(3, -1), atol=1e-6, rtol=1e-6)  # float32 init
    dt = layer.log_dt.exp()[:, None]  # (H, 1)
    assert ((dt >= 0.01) & (dt <= 0.5)).all()
    a_bar = torch.exp(dt * a)  # (H, N)
    b_bar = (a_bar - 1) / a  # B = 1
    c = torch.complex(layer.c_real, layer.c_imag)
    steps = 7
    kernel = torch.stack([(c * a_bar**k * b_bar).sum(-1).real for k in range(steps)])  # (T, H)
    x = torch.randn(2, steps, 3, dtype=torch.float64)
    expected = (
        torch.stack([(kernel[: t + 1].flip(0) * x[:, : t + 1]).sum(1) for t in range(steps)], 1)
        + layer.d * x
    )
    torch.testing.assert_close(layer(x)[0], expected, **TOL)


def test_s6_is_the_selective_recurrence():
    torch.manual_seed(0)
    layer = S6(3, 4, expansion=2, conv_kernel=3, dt_rank=2).double()
    u = torch.randn(2, 6, 3, dtype=torch.float64)
    x, z = (u @ layer.in_proj.weight.T).chunk(2, -1)  # (B, T, 6) each
    padded = F.pad(x, (0, 0, 2, 0))  # two zero steps before the first
    w = layer.conv.weight[:, 0]  # (6, K)
    conv = torch.stack([(padded[:, t : t + 3] * w.T).sum(1) for t in range(6)], 1)
    x = F.silu(conv + layer.conv.bias)
    dt_low, b, c = (x @ layer.x_proj.weight.T).split([2, 4, 4], -1)
    dt = F.softplus(dt_low @ layer.dt_proj.weight.T + layer.dt_proj.bias)  # (B, T, 6)
    a = -layer.a_log.exp()  # (E*H, N)
    s4d_real = -torch.arange(1, 5, dtype=torch.float64)  # A_n = -(n + 1)
    torch.testing.assert_close(a, s4d_real.expand(6, -1), atol=1e-6, rtol=1e-6)  # float32 init
    h, ys = torch.zeros(2, 6, 4, dtype=torch.float64), []
    for t in range(6):
        h = torch.exp(dt[:, t, :, None] * a) * h + (dt[:, t] * x[:, t])[..., None] * b[:, t, None]
        ys.append((h * c[:, t, None]).sum(-1) + layer.d * x[:, t])
    expected = (torch.stack(ys, 1) * F.silu(z)) @ layer.out_proj.weight.T
    torch.testing.assert_close(layer(u)[0], expected, **TOL)


def test_s6_starts_with_delta_in_its_range():
    torch.manual_seed(0)
    layer = S6(32, 4, dt_min=0.001, dt_max=0.1)
    dt = F.softplus(layer.dt_proj.bias)
    assert dt.min() >= 0.001 * (1 - 1e-4) and dt.max() <= 0.1 * (1 + 1e-4)


@pytest.mark.parametrize("mixer", MIXERS)
def test_every_scan_form_gives_the_same_outputs_and_gradients(mixer):
    x = torch.randn(3, 9, 3, dtype=torch.float64)
    lengths = torch.tensor([9, 5, 2])
    results = {}
    for scan in FORMS[mixer]:
        net = net64(mixer, scan)
        encoded = net(x, lengths)
        loss = encoded.outputs.square().sum() + sum(
            s.square().sum() for s in tensors(encoded.state)
        )
        grads = torch.autograd.grad(loss, list(net.parameters()))
        results[scan] = (encoded.outputs, encoded.last, *tensors(encoded.state), *grads)
    for scan in FORMS[mixer]:
        for got, expected in zip(results[scan], results["sequential"], strict=True):
            torch.testing.assert_close(got, expected, **TOL, msg=f"scan={scan} differs")


@pytest.mark.parametrize("mixer", MIXERS)
def test_gradients_reach_every_parameter(mixer):
    torch.manual_seed(0)
    net = StateSpaceModel(2, mixer, hidden_size=4, num_layers=2, state_size=3, dropout=0.1)
    # Squared: the final LayerNorm's outputs sum to its bias's sum, whatever the input.
    net(torch.randn(3, 5, 2), torch.tensor([5, 3, 1])).outputs.square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_state_shapes_are_as_documented():
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    assert net64("lru")(x).state.shape == (2, 2, 2 * 4)  # (L, B, 2N)
    assert net64("s4d")(x).state.shape == (2, 2, 2 * 6 * 4)  # (L, B, 2HN)
    ssm, conv = net64("s6")(x).state
    assert ssm.shape == (2, 2, 2 * 6 * 4) and conv.shape == (2, 2, 3, 2 * 6)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mixer": "s5"}, "model.mixer='s5' is not one of lru, s4d, s6."),
        (
            {"scan": "log"},
            "model.scan='log' is not one of loop, parallel, chunked, sequential for s6.",
        ),
        (
            {"mixer": "lru", "scan": "convolution"},
            "model.scan='convolution' is not one of loop, parallel, chunked, sequential for lru.",
        ),
        ({"hidden_size": 0}, "model.hidden_size=0 must be a whole number of at least 1."),
        ({"state_size": 0}, "model.state_size=0 must be a whole number of at least 1."),
        ({"conv_kernel": 0}, "model.conv_kernel=0 must be a whole number of at least 1."),
        ({"dt_rank": 0}, "model.dt_rank=0 must be a whole number of at least 1."),
        ({"dropout": 1.0}, r"model.dropout=1.0 must be in \[0, 1\)"),
        ({"mlp_expansion": -1}, "model.mlp_expansion=-1 must be a whole number of at least 0"),
        ({"r_max": 1.0}, r"model.r_min=0.9 and model.r_max=1.0 must satisfy 0 <= r_min <= r_max"),
        ({"max_phase": 0.0}, "model.max_phase=0.0 must be above 0."),
        ({"dt_min": 0.0}, "model.dt_min=0.0 and model.dt_max=0.1 must satisfy 0 < dt_min"),
    ],
)
def test_bad_settings_are_refused_in_one_sentence(settings, message):
    with pytest.raises(ConfigError, match=message):
        StateSpaceModel(3, **settings)


def test_a_state_of_another_shape_is_refused():
    net = StateSpaceModel(3, "s6", hidden_size=4, num_layers=2, state_size=2)
    with pytest.raises(ConfigError, match=r"the state is \(2, 2, 16\), not \(2, 2, 16\), \(2, 2, "):
        net(torch.randn(2, 3, 3), state=torch.zeros(2, 2, 16))
    net = StateSpaceModel(3, "lru", hidden_size=4, num_layers=2, state_size=2)
    with pytest.raises(ConfigError, match=r"the state is \(1, 2, 4\), not \(2, 2, 4\); carry"):
        net.step(torch.randn(2, 3), torch.zeros(1, 2, 4))


@pytest.mark.parametrize("mixer", MIXERS)
def test_half_precision_inputs_are_scanned_in_float32(mixer):
    torch.manual_seed(0)
    net = StateSpaceModel(3, mixer, hidden_size=4, state_size=2)
    x = torch.randn(2, 5, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        encoded = net(x)
    assert all(s.dtype == torch.float32 for s in tensors(encoded.state))
    torch.testing.assert_close(encoded.outputs.float(), net(x).outputs, atol=0.1, rtol=0.1)
