"""Building objects from configs: a ``_target_`` that cannot be imported is one sentence."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from rnnlab.utils.errors import ConfigError
from rnnlab.utils.instantiate import instantiate, locate


def test_a_target_is_its_module_then_its_attributes():
    assert locate("torch.nn.LSTM", "model") is torch.nn.LSTM
    assert locate("torch.optim.lr_scheduler.OneCycleLR", "scheduler").__name__ == "OneCycleLR"


@pytest.mark.parametrize(
    "target", ["nomodule.Net", "torch.nn.LSTMX", "torch.nonn.LSTM", "rnnlab.nets.recurrent.Nope"]
)
def test_a_name_that_is_not_there_is_one_sentence(target):
    with pytest.raises(ConfigError) as caught:
        locate(target, "model")
    assert str(caught.value) == (
        f"model._target_={target} cannot be imported: no such module or name; check the "
        "spelling, and that its module is on the Python path."
    )


def test_a_module_needing_a_package_that_is_missing_says_so(tmp_path, monkeypatch):
    (tmp_path / "needs_missing.py").write_text("import surely_not_installed_pkg\nclass Data: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as caught:
        locate("needs_missing.Data", "data")
    assert str(caught.value) == (
        "data needs a package that is not installed: No module named 'surely_not_installed_pkg'"
    )


def test_instantiate_refuses_the_target_before_building():
    node = OmegaConf.create({"_target_": "torch.nn.Linearr", "in_features": 2, "out_features": 3})
    with pytest.raises(ConfigError, match=r"^model._target_=torch.nn.Linearr cannot be imported"):
        instantiate(node, "model")
    node = OmegaConf.create({"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 3})
    assert instantiate(node, "model").out_features == 3


@pytest.mark.parametrize(
    ("group", "target", "key"),
    [
        ("model", "rnnlab.nets.recurrent.RecurrentEncoder", "bidirectional"),  # bool
        ("trainer", "lightning.pytorch.Trainer", "enable_checkpointing"),  # Optional[bool]
    ],
)
@pytest.mark.parametrize("text", ["no", "off", "yes", "False"])
def test_text_for_a_true_or_false_setting_is_one_sentence(group, target, key, text):
    # Hydra reads `model.bidirectional=no` as the text 'no', which Python would take for true.
    node = OmegaConf.create({"_target_": target, key: text})
    with pytest.raises(ConfigError) as caught:
        instantiate(node, group)
    assert str(caught.value) == f"{group}.{key}={text} must be true or false."


def test_true_false_and_null_pass_as_they_are():
    node = OmegaConf.create(
        {"_target_": "rnnlab.nets.recurrent.RecurrentEncoder", "input_size": 2,
         "hidden_size": 4, "bidirectional": True}
    )  # fmt: skip
    assert instantiate(node, "model").bidirectional is True
