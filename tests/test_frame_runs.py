"""Frame sequences from the command line: CNN+RNN on multispectral stacks, and bad files."""

import numpy as np
import pytest

from rnnlab.train import train
from tests.conftest import compose_config, run_main

QUICK = [
    "model.hidden_size=16",
    "model.channels=[8]",
    "trainer=cpu",
    "trainer.max_epochs=2",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]


def multispectral(path, n=60, steps=6, bands=10, per_step=False):
    """Stacks of 10-band 8 x 8 patches; a stack's class is whether band 3 brightens or darkens
    over time (one label per sequence), or a step's class whether band 3 is above its start
    (one label per step)."""
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(n, steps, bands, 8, 8)).astype(np.float32)
    rising = rng.integers(0, 2, n)
    trend = np.where(rising[:, None], np.arange(steps), -np.arange(steps)).astype(np.float32)
    frames[:, :, 3] += trend[:, :, None, None]
    labels = (trend > 0).astype(np.int64) if per_step else rising
    np.savez(path, frames=frames, labels=labels)
    return path


def test_a_ten_band_six_step_npz_trains_with_no_code_change(tmp_path):
    path = multispectral(tmp_path / "s2.npz")
    overrides = ["model=cnn_lstm", "data=frames", f"data.path={path}", *QUICK]
    metrics, _ = train(compose_config("train", overrides, tmp_path / "run"))
    assert 0 <= metrics["test/acc"] <= 1 and (tmp_path / "run" / "metrics.json").is_file()


def test_per_step_labels_train_a_tagger_over_frames(tmp_path):
    path = multispectral(tmp_path / "steps.npz", per_step=True)
    overrides = ["model=cnn_gru", "data=frames", f"data.path={path}", "task=tagging", *QUICK]
    metrics, _ = train(compose_config("train", overrides, tmp_path / "run"))
    assert 0 <= metrics["test/acc"] <= 1


@pytest.mark.parametrize("label", ["digit", "direction"])
def test_moving_digits_runs_with_the_lstm_and_the_average(tmp_path, label):
    pytest.importorskip("sklearn")
    for model in ("cnn_lstm", "cnn_avg"):
        sizes = ["data.num_train=64", "data.num_val=32", "data.num_test=32"]
        overrides = [f"model={model}", "data=moving_digits", f"data.label={label}", *sizes, *QUICK]
        metrics, _ = train(compose_config("train", overrides, tmp_path / model))
        assert "test/acc" in metrics


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"frames": np.zeros((4, 6, 8, 8)), "labels": np.zeros(4)}, "4 dimensions"),
        ({"frames": np.zeros((4, 2, 1, 8, 8)), "labels": np.zeros(5)}, "5"),
    ],
)
def test_bad_frame_files_end_the_run_in_one_line(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    result = run_main("rnnlab.train", "model=cnn_lstm", "data=frames", f"data.path={path}",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("error: ") and message in result.stderr
    assert result.stderr.strip().count("\n") == 0
