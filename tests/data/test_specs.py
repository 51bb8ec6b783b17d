"""Typed specs: what each describes, and their round trip through a checkpoint."""

import io

import pytest
import torch

from rnnlab.data.specs import (
    ClassesSpec,
    ForecastSpec,
    Inputs,
    PairsSpec,
    StreamSpec,
    spec_from_dict,
    spec_to_dict,
)
from rnnlab.utils.errors import ConfigError

VOCAB = ("<pad>", "<unk>", "a", "b")
SPECS = [
    ForecastSpec(
        Inputs(features=3),
        horizon=4,
        target_names=("y", "z"),
        targets_in_input=True,
        num_future_covariates=1,
        scaler_mean=(1.0, 2.0, 3.0),
        scaler_std=(1.0, 1.0, 2.0),
        season=12,
        mase_scale=(0.5, 0.25),
        time_step="1 month",
        noise_floor=0.01,
    ),  # fmt: skip
    ClassesSpec(Inputs(vocab=VOCAB, pad_index=0), class_names=("B-X", "I-X", "O"), aligned=True),
    ClassesSpec(Inputs(frame_shape=(3, 16, 16)), class_names=("left", "right")),
    StreamSpec(Inputs(vocab=VOCAB), seq_len=64),
    PairsSpec(
        Inputs(vocab=VOCAB, pad_index=0),
        target_vocab=VOCAB,
        max_target_length=9,
        source_level="word",
        target_level="char",
        lower=True,
    ),  # fmt: skip
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: type(s).__name__)
def test_a_spec_comes_back_from_its_checkpoint_form_as_it_was(spec):
    buffer = io.BytesIO()
    torch.save(spec_to_dict(spec), buffer)
    buffer.seek(0)
    assert spec_from_dict(torch.load(buffer, weights_only=True), "here") == spec


def test_pretrained_rows_stay_out_of_the_checkpoint_form():
    spec = ClassesSpec(Inputs(vocab=VOCAB, embedding_weights=torch.ones(4, 2)), ("a", "b"))
    saved = spec_to_dict(spec)
    assert "embedding_weights" not in saved["fields"]["inputs"]
    assert spec_from_dict(saved, "here").inputs.embedding_weights is None


def test_inputs_are_exactly_one_kind_and_give_the_protocols_parameters():
    assert Inputs(features=2).net_arguments() == {"input_size": 2}
    assert Inputs(frame_shape=(1, 8, 8)).net_arguments() == {"in_channels": 1}
    assert Inputs(vocab=VOCAB, pad_index=0).net_arguments() == {"vocab_size": 4, "pad_index": 0}
    with pytest.raises(ValueError, match="exactly one of features, vocab and frame_shape"):
        Inputs(features=2, vocab=VOCAB)


def test_a_spec_of_an_earlier_release_is_refused_in_one_sentence():
    old = {"input_size": 1, "output_size": 1, "horizon": 1, "extras": {"season": 1}}
    with pytest.raises(ConfigError, match=r"^ckpt_path=x.ckpt holds a data spec of an earlier"):
        spec_from_dict(old, "ckpt_path=x.ckpt")
    with pytest.raises(ConfigError, match="cannot be imported; install the project"):
        spec_from_dict({"type": "gone.module:Spec", "fields": {}}, "ckpt_path=x.ckpt")


def test_only_forecast_data_reports_a_noise_floor():
    assert SPECS[0].facts() == {"data/noise_floor": 0.01}
    assert ForecastSpec(Inputs(features=1)).facts() == {}
    assert SPECS[1].facts() == {}
