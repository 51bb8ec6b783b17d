"""The `experiment=long_range/<task>` recipes: their sweeps name real settings and values."""

import pytest
import yaml
from omegaconf import OmegaConf

from rnnlab.cli import CONFIG_DIR, available, check_choices
from tests.conftest import compose_config

EXPERIMENTS = [name for name in available("experiment") if name.startswith("long_range/")]


def test_the_long_range_experiments_are_offered():
    assert {"long_range/adding", "long_range/parity", "long_range/pixels"} <= set(EXPERIMENTS)
    check_choices(["-m", f"experiment={','.join(EXPERIMENTS)}"])  # the command line accepts them


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_each_sweep_is_over_models_and_a_setting_the_data_has(tmp_path, experiment):
    recipe = yaml.safe_load((CONFIG_DIR / "experiment" / f"{experiment}.yaml").read_text())
    params = recipe["hydra"]["sweeper"]["params"]
    assert params["model"].split(",") == ["rnn", "lstm", "gru"]
    cfg = compose_config("train", [f"experiment={experiment}"], tmp_path)
    (key,) = [k for k in params if k != "model"]
    assert key in ("data.length", "data.permute") and OmegaConf.select(cfg, key) is not None
    values = [yaml.safe_load(v) for v in str(params[key]).split(",")]
    assert OmegaConf.select(cfg, key) == values[0]  # a run without -m is the smallest setting
