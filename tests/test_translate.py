"""Parallel text from the command line: train on pairs, review in TensorBoard, translate."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnnlab.train import train
from rnnlab.translate import translate
from rnnlab.utils.errors import ConfigError
from tests.conftest import compose_config, run_main

QUICK = [
    "model=seq2seq",
    "data=pairs",
    "data.num_phrases=2000",
    "model.hidden_size=48",
    "trainer=cpu",
    "trainer.max_epochs=6",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs")
    metrics, _ = train(compose_config("train", QUICK, out))
    return out, metrics


def translate_with(run_dir, tmp_path, *overrides):
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    return translate(compose_config("translate", [f"ckpt_path={ckpt}", *overrides], tmp_path))


def test_a_pairs_run_reports_bleu_and_reviews_in_tensorboard(translator):
    out, metrics = translator
    assert {"test/bleu", "test/chrf", "test/exact_match"} <= set(metrics)
    assert metrics["test/bleu"] > 0.3  # the phrasebook is learned quickly
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"tensors": 0, "images": 0})
    events.Reload()
    tables = events.Tensors("val/translations/text_summary")
    assert len(tables) == 6  # one per epoch
    table = tables[-1].tensor_proto.string_val[0].decode()
    assert table.startswith("| source | reference | output |") and table.count("\n") == 5
    assert len(events.Images("val/attention")) == 6


def test_translate_reads_text_or_a_file_with_the_saved_vocabularies(translator, tmp_path):
    out, _ = translator
    (line,) = translate_with(out, tmp_path, 'text="The dogs see the red car."')
    assert line.endswith(".") and line.split()[0] in {"les", "des", "le", "la", "un", "une"}
    source = tmp_path / "in.txt"
    source.write_text("the cat sees a dog .\n\nsome girls want the book .\n")
    lines = translate_with(out, tmp_path, f"input={source}", "beam_size=3")
    assert len(lines) == 3 and lines[0] and lines[1] == "" and lines[2]
    greedy = translate_with(out, tmp_path, f"input={source}", "beam_size=1")
    assert greedy[1] == ""


def test_translate_refuses_bad_requests_in_one_line(translator, tmp_path):
    out, _ = translator
    ckpt = f"ckpt_path={out}/checkpoints/last.ckpt"
    for args, message in [
        (["text=hello", "beam_size=0"], "beam_size=0 must be at least 1"),
        (["text=''"], "text is empty"),
        ([], "give either text="),
    ]:
        result = run_main("rnnlab.translate", ckpt, *args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == f"error: {result.stderr.strip()[7:]}"
        assert message in result.stderr and result.stderr.strip().count("\n") == 0


def test_translate_refuses_a_checkpoint_of_another_kind(tmp_path):
    overrides = ["data=sine", "data.length=400", "data.window=5", "trainer=cpu",
                 "trainer.max_steps=2", "test=false", "~callbacks.rich_progress_bar"]  # fmt: skip
    train(compose_config("train", overrides, tmp_path / "sine"))
    with pytest.raises(ConfigError, match="is not an encoder–decoder's checkpoint"):
        translate_with(tmp_path / "sine", tmp_path, "text=hello")


@pytest.mark.parametrize(
    "content, message",
    [
        ("go .\tva .\nhello there\n", "line 2: no TAB between source and target"),
        ("go .\tva .\n\tsalut\n", "line 2: the source is empty"),
    ],
)
def test_bad_pair_files_end_the_run_in_one_line(tmp_path, content, message):
    path = tmp_path / "bad.tsv"
    path.write_text(content)
    result = run_main("rnnlab.train", "model=seq2seq", "data=pairs", f"data.path={path}",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and message in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_a_checkpoint_trained_on_subwords_translates_with_them(tmp_path, capsys):
    pytest.importorskip("tokenizers")
    overrides = ["model=seq2seq", "data=pairs", "data.num_phrases=300", "data.tokenizer=bpe",
                 "data.bpe_vocab_size=60", "model.hidden_size=16", "trainer=cpu",
                 "trainer.max_epochs=1", "task.test_beam_size=2", "~callbacks.rich_progress_bar",
                 "~callbacks.rich_model_summary"]  # fmt: skip
    metrics, objects = train(compose_config("train", overrides, tmp_path / "bpe"))
    spec = objects["datamodule"].spec
    assert spec.source_level == "bpe" and spec.source_subwords and "test/bleu" in metrics
    capsys.readouterr()
    # "cats" and "dogs" are in the phrasebook; "catdogs" is not, and is spelled from pieces.
    (line,) = translate_with(tmp_path / "bpe", tmp_path, 'text="The catdogs see the red car."')
    assert "'catdogs'" not in capsys.readouterr().err  # words would read it as <unk>
    assert isinstance(line, str) and "▁" not in line  # subwords are joined back into words
