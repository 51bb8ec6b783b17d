"""The glue that builds a run: data-decided net arguments, fit checks, the trainer."""

import lightning as L
import pytest
import torch
from lightning.pytorch.profilers import SimpleProfiler
from omegaconf import OmegaConf

from rnnlab.build import build_model, build_trainer
from rnnlab.data.specs import ClassesSpec, ForecastSpec, Inputs, PairsSpec, StreamSpec
from rnnlab.utils.errors import ConfigError
from rnnlab.utils.instantiate import instantiate
from rnnlab.utils.profiling import NullProfiler

FEATURES = ClassesSpec(Inputs(features=3), class_names=("a", "b"))
TOKENS = ClassesSpec(Inputs(vocab=("<pad>", "<unk>", "x", "y"), pad_index=0), ("a", "b"))


def config(model: str, task: str, **model_args) -> OmegaConf:
    targets = {
        "lstm": "rnnlab.nets.RecurrentEncoder",
        "transformer": "rnnlab.nets.transformer.TransformerNet",
        "cnn": "rnnlab.nets.cnn_rnn.CnnRnn",
        "seq2seq": "rnnlab.nets.seq2seq.Seq2Seq",
    }
    return OmegaConf.create(
        {
            "model": {"_target_": targets[model], "hidden_size": 8, **model_args},
            "task": {"_target_": f"rnnlab.tasks.{task}"},
            "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.01},
            "scheduler": {},
        }
    )


def test_the_data_decides_what_the_net_reads_and_the_saved_config_says_it():
    cfg = config("lstm", "ClassificationTask", input_size=None)
    net, task = build_model(cfg, FEATURES)
    assert net.rnn.input_size == 3 and cfg.model.input_size == 3
    assert task.head.out_features == 2 and task.spec is FEATURES


def test_token_data_reaches_the_net_as_a_vocabulary_with_its_padding():
    cfg = config("lstm", "ClassificationTask")
    net, _ = build_model(cfg, TOKENS)
    assert net.embedding.num_embeddings == 4 and net.embedding.padding_idx == 0
    assert cfg.model.vocab_size == 4 and "input_size" not in cfg.model


def test_pretrained_rows_are_passed_as_they_are_and_kept_out_of_the_config():
    weights = torch.randn(4, 5)
    spec = ClassesSpec(
        Inputs(vocab=TOKENS.inputs.vocab, pad_index=0, embedding_weights=weights), ("a", "b")
    )
    net, _ = build_model(config("lstm", "ClassificationTask", embedding_dim=5), spec)
    assert torch.equal(net.embedding.weight.detach(), weights)


def test_an_encoder_decoder_gets_both_vocabularies():
    source = ("<pad>", "<unk>", "a", "b", "c")
    target = ("<pad>", "<unk>", "<bos>", "<eos>", "x")
    spec = PairsSpec(Inputs(vocab=source, pad_index=0), target_vocab=target, max_target_length=3)
    net, task = build_model(config("seq2seq", "Seq2SeqTask"), spec)
    assert net.encoder.embedding.num_embeddings == 5 and net.project.out_features == 5
    assert task.target_vocab == target


@pytest.mark.parametrize(
    "cfg, spec, message",
    [
        (
            config("cnn", "ClassificationTask"),
            FEATURES,
            "model CnnRnn cannot read data ?, which gives 3 features per step (as input_size, "
            "which CnnRnn does not take); choose a model that reads them.",
        ),
        (
            config("lstm", "ClassificationTask"),
            ForecastSpec(Inputs(features=1)),
            "task ClassificationTask does not fit data ?: it reads labelled sequences "
            "(ClassesSpec), and the data is a series to forecast (ForecastSpec).",
        ),
        (
            config("lstm", "TaggingTask"),
            FEATURES,
            "task TaggingTask does not fit data ?: its labels are one per sequence, which "
            "task=classification predicts.",
        ),
        (
            config("lstm", "LanguageModelTask", bidirectional=True),
            StreamSpec(Inputs(vocab=TOKENS.inputs.vocab)),
            "model RecurrentEncoder does not fit task LanguageModelTask: a language model "
            "predicts each next token",
        ),
        (
            config("lstm", "Seq2SeqTask"),
            PairsSpec(Inputs(vocab=TOKENS.inputs.vocab), target_vocab=("x",)),
            "model RecurrentEncoder cannot read data ?, which gives token ids from a vocabulary "
            "of 4 (as target_vocab_size",
        ),
    ],
)
def test_parts_that_do_not_fit_fail_before_training_in_one_sentence(cfg, spec, message):
    with pytest.raises(ConfigError) as error:
        build_model(cfg, spec)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_a_language_model_makes_a_transformer_causal():
    cfg = config("transformer", "LanguageModelTask", num_heads=2, causal=False)
    net, task = build_model(cfg, StreamSpec(Inputs(vocab=TOKENS.inputs.vocab), seq_len=8))
    assert net.capabilities.causal and task.head.out_features == 4


def test_a_constructor_refusing_a_value_names_the_group():
    node = OmegaConf.create({"_target_": "torch.nn.LSTM", "input_size": 1, "hidden_size": 2,
                             "dropout": 3.0})  # fmt: skip
    with pytest.raises(ConfigError, match=r"^model: dropout should be a number in range \[0, 1\]"):
        instantiate(node, "model")


@pytest.mark.parametrize(
    ("profiler", "expected"), [(None, NullProfiler), ("simple", SimpleProfiler)]
)
def test_a_trainer_profiles_only_when_asked(profiler, expected):
    node = OmegaConf.create(
        {"_target_": "lightning.pytorch.Trainer", "profiler": profiler, "logger": False}
    )
    trainer = build_trainer(node, L.LightningModule(), enable_progress_bar=False)
    assert type(trainer.profiler) is expected
    with trainer.profiler.profile("[Callback]x.on_train_batch_start"):
        pass  # a context manager either way
