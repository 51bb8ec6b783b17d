import lightning as L
import pytest
from lightning.pytorch.profilers import SimpleProfiler
from omegaconf import OmegaConf
from torch import nn

from rnnlab.data.batch import DataSpec
from rnnlab.utils.errors import ConfigError
from rnnlab.utils.instantiate import build_trainer, instantiate, instantiate_for_spec
from rnnlab.utils.profiling import NullProfiler


class NeedsVocabulary(nn.Module):
    def __init__(self, vocab_size: int, hidden_size: int = 8):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden_size)


class Wrapper(nn.Module):
    def __init__(self, net: nn.Module, horizon: int):
        super().__init__()
        self.net, self.horizon = net, horizon


TARGET = f"{__name__}.NeedsVocabulary"


def test_spec_fills_missing_values_and_writes_them_back():
    node = OmegaConf.create({"_target_": TARGET, "vocab_size": "???", "hidden_size": 4})
    net = instantiate_for_spec(node, DataSpec(input_size=1, vocab_size=11), "model")
    assert net.embedding.num_embeddings == 11 and net.embedding.embedding_dim == 4
    assert node.vocab_size == 11


def test_a_value_set_in_the_config_wins_over_the_spec():
    node = OmegaConf.create({"_target_": TARGET, "vocab_size": 5})
    net = instantiate_for_spec(node, DataSpec(input_size=1, vocab_size=11), "model")
    assert net.embedding.num_embeddings == 5


def test_model_and_data_that_do_not_fit_fail_in_one_sentence():
    node = OmegaConf.create({"_target_": TARGET, "vocab_size": "???"})
    with pytest.raises(ConfigError, match="model needs vocab_size, which this dataset does not"):
        instantiate_for_spec(node, DataSpec(input_size=1, horizon=1), "model")


def test_built_objects_are_passed_as_they_are():
    net = nn.Linear(2, 2)
    node = OmegaConf.create({"_target_": f"{__name__}.Wrapper", "horizon": "???"})
    wrapper = instantiate_for_spec(node, DataSpec(input_size=2, horizon=3), "task", net=net)
    assert wrapper.net is net and wrapper.horizon == 3


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
