"""Every net in ``conf/model/`` trains on every memory task (copying, selective copying,
associative recall) and on the pixel sets (MNIST-1D, permuted digits) through
``rnnlab.train.run``, or says in one sentence why it cannot read them; and a run tested at
longer lengths reports its accuracy there.

A new net's YAML is picked up here with no edit to this file."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnnlab.build import build_model
from rnnlab.cli import available
from rnnlab.data.batch import IGNORE
from rnnlab.train import run
from rnnlab.utils.errors import ConfigError
from rnnlab.utils.instantiate import instantiate
from tests.conftest import compose_config

# Tiny sets and nets: two training steps, one batch of validation and test.
SIZES = {
    "copying": ["data.length=4", "data.symbols=3", "data.alphabet=4"],
    "selective_copying": ["data.length=6", "data.symbols=3", "data.alphabet=4"],
    "associative_recall": ["data.length=5", "data.num_pairs=3", "data.keys=6", "data.values=5"],
}
SPLITS = ["data.num_train=32", "data.num_val=16", "data.num_test=16"]
FAST = [
    "data.batch_size=16",
    "trainer=cpu",
    "trainer.max_steps=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]


def small(model: str, tmp_path) -> list[str]:
    """``model.hidden_size=8`` where the net has one (a multiple of any head count)."""
    cfg = compose_config("train", [f"model={model}"], tmp_path)
    return ["model.hidden_size=8"] if "hidden_size" in cfg.model else []


@pytest.mark.parametrize("data", sorted(SIZES))
@pytest.mark.parametrize("model", available("model"))
def test_every_net_trains_on_every_memory_task(model, data, tmp_path):
    overrides = [
        f"model={model}",
        f"data={data}",
        *SIZES[data],
        *SPLITS,
        *FAST,
        *small(model, tmp_path),
    ]
    cfg = compose_config("train", overrides, tmp_path / "probe")
    try:  # the checks a run makes before training: the task reads the data, the net fits
        build_model(cfg, instantiate(cfg.data, "data").spec)
    except ConfigError as error:
        pytest.skip(f"model={model} cannot be trained on data={data}: {error}")
    out = tmp_path / "run"
    metrics, objects = run([*overrides, f"hydra.run.dir={out}"])
    assert objects["trainer"].global_step == 2
    assert 0 <= metrics["test/acc"] <= 1 and metrics["test/loss"] > 0
    saved = json.loads((out / "metrics.json").read_text())
    facts = objects["datamodule"].spec.facts()
    assert {"data/chance_acc", "data/chance_loss"} <= set(facts)
    assert saved["data/chance_loss"] == pytest.approx(facts["data/chance_loss"])


# The two pixel sets of the suite: features, one value a step, ten classes.
PIXELS = {
    "mnist1d": ("mnist1d", ["data=mnist1d", "data.num_samples=200"]),
    "permuted_digits": ("sklearn", ["data=digits", "data.steps=pixels", "data.permute=true"]),
}


@pytest.mark.parametrize("pixels", sorted(PIXELS))
@pytest.mark.parametrize("model", available("model"))
def test_every_net_trains_on_the_pixel_sets(model, pixels, tmp_path):
    package, data = PIXELS[pixels]
    pytest.importorskip(package)
    overrides = [f"model={model}", *data, *FAST, *small(model, tmp_path)]
    cfg = compose_config("train", overrides, tmp_path / "probe")
    try:
        build_model(cfg, instantiate(cfg.data, "data").spec)
    except ConfigError as error:
        pytest.skip(f"model={model} cannot be trained on {pixels}: {error}")
    metrics, objects = run([*overrides, f"hydra.run.dir={tmp_path / 'run'}"])
    assert objects["trainer"].global_step == 2
    assert 0 <= metrics["test/acc"] <= 1 and metrics["test/loss"] > 0
    assert objects["datamodule"].spec.num_classes == 10


def test_a_run_tested_at_a_longer_length_reports_its_accuracy_there(tmp_path):
    overrides = [
        "model=gru",
        "data=copying",
        *SIZES["copying"],
        *SPLITS,
        *FAST,
        "model.hidden_size=8",
    ]
    metrics, objects = run([*overrides, "data.test_length=9", f"hydra.run.dir={tmp_path}"])
    datasets = objects["datamodule"].datasets
    assert datasets["train"].values.shape[1] == 4 + 2 * 3
    assert datasets["test"].values.shape[1] == 9 + 2 * 3
    assert (datasets["test"].targets != IGNORE).sum(1).eq(3).all()  # still three answers each
    assert 0 <= metrics["test/acc"] <= 1
    saved = json.loads((tmp_path / "metrics.json").read_text())
    # The paper's all-steps baseline is the one at the tested length: 3 ln 4 / (9 + 6).
    assert saved["data/chance_loss_all_steps"] == pytest.approx(3 * 1.3862943611198906 / 15)


def test_a_run_tested_at_several_lengths_scores_each_with_the_same_weights(tmp_path):
    overrides = [
        "model=gru",
        "data=copying",
        *SIZES["copying"],
        *SPLITS,
        *FAST,
        "model.hidden_size=8",
    ]
    metrics, objects = run([*overrides, "data.test_length=[9,18]", f"hydra.run.dir={tmp_path}"])
    assert objects["datamodule"].datasets["test"].values.shape[1] == 9 + 2 * 3
    # The first length is the test split; each length has its own scores.
    for name in ("acc", "loss"):
        assert metrics[f"test/{name}@9"] == pytest.approx(metrics[f"test/{name}"])
        assert f"test/{name}@18" in metrics
    assert metrics["test/loss@18"] != metrics["test/loss"]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test/acc@18"] == pytest.approx(metrics["test/acc@18"])
    modes = json.loads((tmp_path / "metric_modes.json").read_text())
    assert modes["test/acc@18"] == "max" and modes["test/loss@18"] == "min"
    # The longer lengths' scores do not reach the logs as test/ values of their own.
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    logged = [e.value for e in events.Scalars("test/loss")]
    assert logged == pytest.approx([metrics["test/loss"]] * len(logged))
    assert events.Scalars("test/acc@18")[-1].value == pytest.approx(metrics["test/acc@18"])
