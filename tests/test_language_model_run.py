"""A character language model from the command line: train, evaluate, generate, and errors."""

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnnlab.eval import evaluate
from rnnlab.generate import generate
from rnnlab.train import train
from rnnlab.utils.errors import ConfigError
from tests.conftest import TINY, compose_config, run_cli, run_main

LM = [
    "model=gru",
    "data=text",
    "model.hidden_size=32",
    "data.seq_len=32",
    "data.batch_size=8",
    "task.tbptt_steps=16",
    "trainer=cpu",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=6",
    "trainer.limit_val_batches=4",
    "trainer.limit_test_batches=4",
    "trainer.log_every_n_steps=1",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """One tiny language-model run on the built-in corpus, shared by the tests below."""
    out = tmp_path_factory.mktemp("lm")
    metrics, objects = train(compose_config("train", LM, out))
    return out, metrics, objects


def test_a_run_leaves_metrics_curves_samples_and_its_vocabulary(lm_run):
    out, metrics, objects = lm_run
    saved = json.loads((out / "metrics.json").read_text())
    assert set(saved) >= {"test/loss", "test/bpc", "test/ppl", "val/loss_best"}
    assert saved["test/bpc"] == pytest.approx(saved["test/loss"] / torch.log(torch.tensor(2.0)))
    assert objects["trainer"].global_step == 2 * 6 * 2  # two chunks per batch

    accumulator = EventAccumulator(str(out / "tensorboard"), size_guidance={"tensors": 0})
    accumulator.Reload()
    assert {"train/loss", "train/bpc", "val/loss", "val/bpc", "val/ppl", "test/bpc"} <= set(
        accumulator.Tags()["scalars"]
    )
    samples = accumulator.Tensors("val/sample/text_summary")
    assert len(samples) == 2  # one per validation
    assert len(samples[-1].tensor_proto.string_val[0].decode()) > 300

    checkpoint = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    vocab = objects["datamodule"].spec.inputs.vocab
    assert checkpoint["rnnlab_spec"]["fields"]["inputs"]["vocab"] == list(vocab)


def test_eval_reproduces_the_test_loss(lm_run, tmp_path):
    out, metrics, objects = lm_run
    best = objects["trainer"].checkpoint_callback.best_model_path  # what the run tested
    overrides = [f"ckpt_path={best}", "trainer=cpu", "trainer.limit_test_batches=4"]
    cfg = compose_config("eval", overrides, tmp_path)
    evaluated, _ = evaluate(cfg)
    assert evaluated["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-6)


def test_generate_continues_the_prompt_and_greedy_is_deterministic(lm_run, tmp_path):
    out, *_ = lm_run
    ckpt = out / "checkpoints" / "last.ckpt"
    args = [f"ckpt_path={ckpt}", "prompt=The river", "length=80"]
    greedy = [generate(compose_config("generate", [*args, "temperature=0"], tmp_path))] * 2
    greedy[1] = generate(compose_config("generate", [*args, "temperature=0", "seed=7"], tmp_path))
    assert greedy[0] == greedy[1] and greedy[0].startswith("The river")
    assert len(greedy[0]) == len("The river") + 80
    sampled = generate(compose_config("generate", [*args, "temperature=1.0", "top_k=5"], tmp_path))
    assert sampled.startswith("The river") and len(sampled) == len(greedy[0])


def test_generate_refuses_a_character_outside_the_vocabulary(lm_run, tmp_path):
    out, *_ = lm_run
    ckpt = out / "checkpoints" / "last.ckpt"
    result = run_main("rnnlab.generate", f"ckpt_path={ckpt}", "prompt='Zebra ☃'", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "'☃', not in the model's vocabulary" in result.stderr


def test_generate_refuses_a_checkpoint_of_another_task(tmp_path):
    out = tmp_path / "sine"
    train(compose_config("train", [*TINY, "~callbacks.rich_progress_bar"], out))
    cfg = compose_config("generate", [f"ckpt_path={out / 'checkpoints' / 'last.ckpt'}"], tmp_path)
    with pytest.raises(ConfigError, match="is a checkpoint of ForecastingTask; rnnlab.generate"):
        generate(cfg)


@pytest.mark.parametrize(
    "path, message",
    [("data.path=missing.txt", "does not exist"), ("data.path=''", "data.path is empty")],
)
def test_a_missing_or_empty_path_ends_in_one_line(tmp_path, path, message):
    result = run_main("rnnlab.train", "data=text", path, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and message in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_every_recurrent_model_trains_on_text(tmp_path):
    for model in ("rnn", "lstm"):
        overrides = [*LM, f"model={model}", "trainer.max_epochs=1", "test=false"]
        metrics, _ = train(compose_config("train", overrides, tmp_path / model))
        assert metrics["val/loss_best"] < 4.5


def test_ddp_sim_gives_each_process_its_own_lanes(tmp_path):
    out = tmp_path / "run"
    args = [arg for arg in LM if not arg.startswith("trainer=")]
    result = run_cli(
        "rnnlab.train",
        *args,
        "trainer=ddp_sim",
        "verbose=true",
        f"hydra.run.dir={out}",
        cwd=tmp_path,
    )  # fmt: skip (verbose: Lightning's note of each rank joining)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in result.stdout + result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 < metrics["test/bpc"] < 8


MODERN = ["mingru", "minlstm", "lru", "s4d", "s6", "mlstm", "slstm", "rglru"]


@pytest.mark.parametrize("model", [*MODERN, "lstm_residual"])
def test_greedy_generation_carrying_the_state_equals_reading_the_text_whole(model, tmp_path):
    # rnnlab.generate reads the prompt, then one token at a time with the state carried: each
    # greedy token must be the one the net predicts from the whole text read in one pass.
    from rnnlab.build import build_system

    net = ["model=lstm", "model.block=residual"] if model == "lstm_residual" else [f"model={model}"]
    cfg = compose_config("train", [*LM, *net, "model.hidden_size=16"], tmp_path)
    _, _, task = build_system(cfg)
    torch.manual_seed(0)
    prompt = [3, 5, 7, 11]
    tokens = task.sample(prompt, 12, temperature=0)
    logits, _ = task.eval()(torch.tensor([prompt + tokens]))  # (1, T, V)
    read = logits[0, len(prompt) - 1 : -1]  # (12, V): what the whole text predicts at each step
    chosen = read.gather(-1, torch.tensor(tokens)[:, None]).squeeze(-1)
    # Each greedy token is the whole text's top token, up to float32 rounding: an untrained
    # net can put two tokens within 1e-6 of each other, and the two forms may round apart.
    torch.testing.assert_close(chosen, read.max(-1).values, atol=1e-4, rtol=0)
