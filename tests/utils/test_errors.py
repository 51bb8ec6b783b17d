"""The checks of a setting's value that every axis shares: one sentence naming the setting."""

from __future__ import annotations

import pytest
import torch

from rnnlab.utils.devices import check_device
from rnnlab.utils.errors import ConfigError, check_count, check_not_negative, check_seed


@pytest.mark.parametrize("value", [1, 2, 10**9])
def test_a_count_of_at_least_the_least_passes(value):
    check_count("data.window", value, 1)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (0, "data.window=0 must be at least 1."),
        (-3, "data.window=-3 must be at least 1."),
        (2.5, "data.window=2.5 must be a whole number of at least 1."),
        (2.0, "data.window=2.0 must be a whole number of at least 1."),
        ("abc", "data.window=abc must be a whole number of at least 1."),
        (True, "data.window=True must be a whole number of at least 1."),
        (None, "data.window=None must be a whole number of at least 1."),
    ],
)
def test_anything_but_a_large_enough_count_is_one_sentence(value, says):
    with pytest.raises(ConfigError) as caught:
        check_count("data.window", value, 1)
    assert str(caught.value) == says


def test_a_count_sentence_ends_with_what_the_caller_adds():
    with pytest.raises(ConfigError, match=r"^top_k=0 must be at least 1 \(or null\)\.$"):
        check_count("top_k", 0, 1, " (or null)")


@pytest.mark.parametrize("value", [0, 0.0, 1e-9, 3])
def test_a_number_not_negative_passes(value):
    check_not_negative("data.noise_std", value)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (-0.5, "data.noise_std=-0.5 must not be negative."),
        (float("nan"), "data.noise_std=nan must not be negative."),
        ("abc", "data.noise_std=abc must be a number of at least 0."),
        (False, "data.noise_std=False must be a number of at least 0."),
    ],
)
def test_a_negative_or_non_number_is_one_sentence(value, says):
    with pytest.raises(ConfigError) as caught:
        check_not_negative("data.noise_std", value)
    assert str(caught.value) == says


@pytest.mark.parametrize("value", [0, 12345, 2**32 - 1])
def test_a_seed_numpy_takes_passes(value):
    check_seed(value)


@pytest.mark.parametrize("value", [-1, 2**32, 1.5, "abc"])
def test_a_seed_numpy_refuses_is_one_sentence(value):
    with pytest.raises(ConfigError, match=rf"^seed={value} must be a whole number from 0 to"):
        check_seed(value)


def test_the_cpu_is_a_device():
    assert check_device("device", "cpu") == torch.device("cpu")


def test_a_name_torch_does_not_know_is_one_sentence():
    with pytest.raises(ConfigError, match=r"^device=tpu is not a device; give cpu"):
        check_device("device", "tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_one_sentence():
    with pytest.raises(ConfigError, match=r"^device=cuda: this machine has no CUDA GPU"):
        check_device("device", "cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_past_the_last_is_one_sentence():
    count = torch.cuda.device_count()
    assert check_device("device", "cuda:0") == torch.device("cuda:0")
    with pytest.raises(ConfigError, match=rf"^device=cuda:{count}: this machine has {count} GPU"):
        check_device("device", f"cuda:{count}")
