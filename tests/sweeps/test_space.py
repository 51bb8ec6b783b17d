"""Hydra's sweep syntax as Optuna distributions, and the sweeper's small decisions."""

import pytest

optuna = pytest.importorskip("optuna")

from omegaconf import OmegaConf  # noqa: E402
from optuna.distributions import (  # noqa: E402
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from rnnlab.cli import available  # noqa: E402
from rnnlab.sweeps.search import (  # noqa: E402
    absolute_storage,
    batch_size,
    default_direction,
    default_monitor,
    enqueued,
)
from rnnlab.sweeps.space import parse_space  # noqa: E402
from rnnlab.utils.errors import ConfigError  # noqa: E402


@pytest.mark.parametrize(
    "sweep, expected",
    [
        ("choice(16, 32, 64)", CategoricalDistribution((16, 32, 64))),
        ("rnn,lstm,gru", CategoricalDistribution(("rnn", "lstm", "gru"))),
        ("range(1, 4)", IntDistribution(1, 3)),
        ("range(8, 65, 8)", IntDistribution(8, 64, step=8)),
        ("range(0.1, 0.5, 0.1)", FloatDistribution(0.1, 0.4, step=0.1)),
        ("interval(0.0, 0.5)", FloatDistribution(0.0, 0.5)),
        ("tag(log, interval(1e-4, 1e-2))", FloatDistribution(1e-4, 1e-2, log=True)),
        ("tag(int, interval(8, 256))", IntDistribution(8, 256)),
        ("tag(int, log, interval(8, 256))", IntDistribution(8, 256, log=True)),
    ],
)
def test_each_sweep_becomes_its_distribution(sweep, expected):
    space = parse_space({"key": sweep})
    assert space.distributions["key"] == expected
    assert space.fixed == []


def test_the_command_line_narrows_the_config_and_plain_values_pass_through():
    space = parse_space(
        {"model.hidden_size": "choice(16, 32)", "optimizer.lr": "interval(1e-4, 1e-2)"},
        ["model.hidden_size=choice(64,128)", "trainer.max_epochs=3", "~callbacks.lr_monitor"],
    )
    assert space.distributions["model.hidden_size"] == CategoricalDistribution((64, 128))
    assert set(space.distributions) == {"model.hidden_size", "optimizer.lr"}
    assert space.fixed == ["trainer.max_epochs=3", "~callbacks.lr_monitor"]


def test_a_yaml_list_is_a_choice_of_its_items():
    space = parse_space({"data.batch_size": [32, 64]})
    assert space.distributions["data.batch_size"] == CategoricalDistribution((32, 64))


@pytest.mark.parametrize(
    "value", [16, 0.001, 1e-05, True, None, "lstm", "1", "true", "a b", "it's", "x=y"]
)
def test_a_trials_overrides_read_back_as_the_same_values(value):
    space = parse_space({"key": "choice(0, 1)"})
    (override,) = space.overrides({"key": value})
    assert parse_space({}, [override]).fixed == [override]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    assert OverridesParser.create().parse_override(override).value() == value


@pytest.mark.parametrize(
    "params, message",
    [
        ({"a": "tag(sqrt, interval(0, 1))"}, "a: unknown tag sqrt; allowed: int, log"),
        ({"a": "range(5, 1)"}, "a: range(5, 1) is empty"),
        ({"a": "tag(log, interval(0, 1))"}, "a: "),
        ({"a": "choice([1, 2], [3])"}, "a: choice values must be numbers, strings"),
        ({"a": "choice(1"}, "cannot read the sweep override 'a=choice(1'"),
    ],
)
def test_a_bad_space_is_one_sentence_naming_its_key(params, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_space(params)


def test_enqueued_parameters_must_lie_in_the_space():
    space = parse_space({"lr": "tag(log, interval(1e-4, 1e-2))", "model": "rnn,lstm"})
    assert enqueued(space, {"lr": 1e-3, "model": "rnn"}) == {"lr": 1e-3, "model": "rnn"}
    with pytest.raises(ConfigError, match="lr=1.0 lies outside its search space"):
        enqueued(space, {"lr": 1.0})
    with pytest.raises(ConfigError, match="model=gru lies outside"):
        enqueued(space, {"model": "gru"})
    with pytest.raises(ConfigError, match="names seed, which is not searched; searched: lr, model"):
        enqueued(space, {"seed": 1})


def test_direction_follows_the_task_and_monitor_the_objective():
    classify = OmegaConf.create({"task": {"_target_": "rnnlab.tasks.ClassificationTask"}})
    translate = OmegaConf.create({"task": {"_target_": "rnnlab.tasks.Seq2SeqTask"}})
    forecast = OmegaConf.create({"task": {"_target_": "rnnlab.tasks.ForecastingTask"}})
    assert default_direction("val/loss_best", classify) == "minimize"
    assert default_direction("val/acc_best", classify) == "maximize"
    assert default_direction("test/bleu", translate) == "maximize"
    assert default_direction("test/naive_mse", forecast) == "minimize"
    assert default_monitor("val/loss_best") == "val/loss"
    assert default_monitor("test/mse") == "val/mse"


def test_a_relative_sqlite_path_is_made_absolute_and_its_folder_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_storage("sqlite:///logs/optuna.db") == f"sqlite:///{tmp_path}/logs/optuna.db"
    assert (tmp_path / "logs").is_dir()
    assert absolute_storage("sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    url = "postgresql://user@host/db"
    assert absolute_storage(url) == url


def test_trials_per_batch_follow_the_launcher_unless_given():
    from omegaconf import OmegaConf

    joblib = OmegaConf.create({"n_jobs": 3})
    assert batch_size(None, joblib) == 3
    assert batch_size(2, joblib) == 2
    assert batch_size(None, OmegaConf.create({"timeout_min": 60})) == 1
    assert batch_size(None, None) == 1
    with pytest.raises(ConfigError, match="n_jobs=0 must be at least 1"):
        batch_size(0, None)


def _hydra_config(*overrides: str):
    from hydra import compose, initialize_config_dir

    from rnnlab.cli import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", ["hparams_search=sine_lstm", *overrides], return_hydra_config=True)


@pytest.mark.parametrize("sampler", available("hydra/sweeper/sampler"))
@pytest.mark.parametrize("pruner", available("hydra/sweeper/pruner"))
def test_every_sampler_and_pruner_config_builds_its_optuna_object(sampler, pruner):
    from hydra.utils import instantiate

    cfg = _hydra_config(f"hydra/sweeper/sampler={sampler}", f"hydra/sweeper/pruner={pruner}")
    assert isinstance(instantiate(cfg.hydra.sweeper.sampler), optuna.samplers.BaseSampler)
    assert isinstance(instantiate(cfg.hydra.sweeper.pruner), optuna.pruners.BasePruner)
    assert cfg.hydra.sweeper.objective == "val/loss_best"
    assert cfg.hydra.sweeper.study_name == "sine_lstm"


def test_the_slurm_launcher_config_is_submitits():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    launcher = _hydra_config("hydra/launcher=slurm", "hydra.launcher.partition=gpu").hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.partition == "gpu" and launcher.tasks_per_node == 1


def test_a_search_space_that_contradicts_the_stored_study_is_refused(tmp_path):
    from rnnlab.sweeps.search import OptunaSearch

    storage = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(study_name="s", storage=storage)
    distributions = {"model.hidden_size": FloatDistribution(0, 1)}
    study.add_trial(
        optuna.trial.create_trial(
            params={"model.hidden_size": 0.5}, distributions=distributions, value=1.0
        )
    )
    cfg = _hydra_config(f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=s")
    settings = {k: v for k, v in cfg.hydra.sweeper.items() if not k.startswith("_")}
    search = OptunaSearch(**settings, config=cfg, launcher=None)
    space = parse_space(cfg.hydra.sweeper.params)
    with pytest.raises(ConfigError) as error:
        search._check_space(search._open_study(), space)
    assert str(error.value).startswith(
        f"study 's' in {storage} searched model.hidden_size over another space ("
    )
    with pytest.raises(ConfigError, match="was made to minimize, not to maximize"):
        OptunaSearch(
            **{**settings, "direction": "maximize"}, config=cfg, launcher=None
        )._open_study()
