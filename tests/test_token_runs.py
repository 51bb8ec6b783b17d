"""Text classification and tagging from the command line: train, predict, and errors."""

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnnlab.build import build_system
from rnnlab.predict import predict
from rnnlab.train import train
from rnnlab.utils.errors import ConfigError
from tests.conftest import compose_config, run_cli, run_main

QUICK = [
    "model.hidden_size=32",
    "trainer=cpu",
    "trainer.max_epochs=2",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls")
    metrics, objects = train(compose_config("train", ["data=text_cls", *QUICK], out))
    return out, metrics, objects


@pytest.fixture(scope="module")
def tagger(tmp_path_factory):
    out = tmp_path_factory.mktemp("tag")
    overrides = ["data=conll", "model.bidirectional=true", *QUICK]
    metrics, objects = train(compose_config("train", overrides, out))
    return out, metrics, objects


def test_the_default_text_classifier_runs_and_reports(classifier):
    _, metrics, _ = classifier
    assert {"test/acc", "test/f1", "test/loss"} <= set(metrics)


def test_the_default_tagger_runs_and_reports(tagger):
    out, metrics, _ = tagger
    assert {"test/acc", "test/loss"} <= set(metrics)
    assert 0 < metrics["test/acc"] <= 1
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    (report,) = events.Tensors("test/report/text_summary")
    table = report.tensor_proto.string_val[0].decode()
    assert table.startswith("| tag | precision | recall | F1 | support |") and "| NOUN |" in table


def test_pretrained_vectors_start_the_embedding(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("film 0.25 -0.5\nzzz 9 9\n")
    overrides = ["data=text_cls", f"data.vectors={vectors}", "model.embedding_dim=2"]
    cfg = compose_config("train", overrides, tmp_path)
    datamodule, net, _ = build_system(cfg)
    row = net.embedding.weight[datamodule.vocab.id("film")]
    assert row.tolist() == [0.25, -0.5]
    assert "embedding_weights" not in cfg.model  # the tensor is passed, not written to the config


def test_the_text_classifier_reports_the_tfidf_baseline_beside_it(classifier):
    pytest.importorskip("sklearn")
    out, metrics, _ = classifier
    written = json.loads((out / "metrics.json").read_text())
    assert {"test/tfidf_logreg_acc", "test/tfidf_logreg_f1"} <= set(written)
    # A linear model learns the built-in reviews (it scores 0.75 on their 100 test texts); one
    # fitted or scored on misaligned texts and labels would sit near chance (0.5).
    assert 0.6 < written["test/tfidf_logreg_acc"] <= 1
    assert written["test/tfidf_logreg_acc"] == pytest.approx(metrics["test/tfidf_logreg_acc"])


def test_frozen_pretrained_vectors_stay_as_they_are_through_a_fit(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("film 0.25 -0.5\ngood 1 0\n")
    overrides = ["data=text_cls", f"data.vectors={vectors}", "model.embedding_dim=2",
                 "model.freeze_embedding=true", "model.embedding_dropout=0.3", *QUICK]  # fmt: skip
    _, objects = train(compose_config("train", overrides, tmp_path))
    net, data = objects["net"], objects["datamodule"]
    assert torch.equal(net.embedding.weight, data.embedding_weights)
    assert net.embedding.weight[data.vocab.id("film")].tolist() == [0.25, -0.5]


def test_predict_labels_new_texts_with_the_saved_vocabulary(classifier, tmp_path):
    out, _, objects = classifier
    texts = tmp_path / "new.txt"
    texts.write_text("a wonderful, moving film\n\nzzzz qqqq unknownword\n")
    cfg = compose_config(
        "predict", [f"ckpt_path={out}/checkpoints/last.ckpt", f"input={texts}"], tmp_path
    )
    lines = predict(cfg).splitlines()
    assert [line.split("\t")[0] for line in lines] == [
        "a wonderful, moving film",
        "zzzz qqqq unknownword",
    ]
    assert {line.split("\t")[1] for line in lines} <= {"negative", "positive"}

    # The same labels as the trained task gives on the same ids from the run's own vocabulary.
    task, vocab = objects["task"].eval(), objects["datamodule"].vocab
    ids = torch.tensor([vocab.encode(["a", "wonderful", ",", "moving", "film"])])
    with torch.no_grad():
        expected = task(ids, torch.tensor([5])).argmax(-1).item()
    assert lines[0].split("\t")[1] == objects["datamodule"].classes[expected]


def test_predict_tags_each_token(tagger, tmp_path):
    out, *_ = tagger
    sentences = tmp_path / "s.txt"
    sentences.write_text("The dog runs .\nA small boat\n")
    result = run_cli(
        "rnnlab.predict",
        f"ckpt_path={out}/checkpoints/last.ckpt",
        f"input={sentences}",
        f"output={tmp_path / 'tags.tsv'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    blocks = (tmp_path / "tags.tsv").read_text().strip().split("\n\n")
    assert [[row.split("\t")[0] for row in b.splitlines()] for b in blocks] == [
        ["The", "dog", "runs", "."],
        ["A", "small", "boat"],
    ]


def test_predict_refuses_a_checkpoint_of_another_kind(tmp_path):
    out = tmp_path / "lm"
    overrides = ["data=text", "trainer=cpu", "trainer.max_steps=2", "test=false",
                 "~callbacks.rich_progress_bar"]  # fmt: skip
    train(compose_config("train", overrides, out))
    text = tmp_path / "t.txt"
    text.write_text("hello\n")
    cfg = compose_config(
        "predict", [f"ckpt_path={out}/checkpoints/last.ckpt", f"input={text}"], tmp_path
    )
    with pytest.raises(
        ConfigError, match="is not a forecaster's, a text classifier's or a tagger's"
    ):
        predict(cfg)


@pytest.mark.parametrize(
    "data, content, message",
    [
        ("text_cls", "text,grade\nhi,1\n", "has no column 'label'"),
        ("text_cls", "", "is empty"),
        ("conll", "He PRP\nran\n", "line 2: 1 columns where the file has 2"),
    ],
)
def test_bad_files_end_the_run_in_one_line(tmp_path, data, content, message):
    path = tmp_path / ("bad.csv" if data == "text_cls" else "bad.txt")
    path.write_text(content)
    result = run_main("rnnlab.train", f"data={data}", f"data.path={path}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and message in result.stderr
    assert result.stderr.strip().count("\n") == 0


def chunked_sentences(n: int, seed: int = 0) -> str:
    """CoNLL-2000-style ``token POS chunk`` lines of a small grammar: noun phrases (a
    determiner, adjectives, a noun), verb phrases and prepositional phrases. "rose" is a noun
    or a verb, which only the context tells."""
    rng = torch.Generator().manual_seed(seed)

    def pick(words):
        return words[int(torch.randint(len(words), (1,), generator=rng))]

    nouns, adjectives = ["cat", "dog", "market", "rose", "bank"], ["big", "old", "new"]
    lines = []
    for _ in range(n):
        for verb_phrase in (False, True):
            if verb_phrase:
                lines += [
                    f"{pick(['rose', 'fell', 'sat'])} VBD B-VP",
                    f"{pick(['in', 'on'])} IN B-PP",
                ]
            lines.append(f"{pick(['the', 'a'])} DT B-NP")
            lines += [
                f"{pick(adjectives)} JJ I-NP"
                for _ in range(int(torch.randint(3, (1,), generator=rng)))
            ]
            lines.append(f"{pick(nouns)} NN I-NP")
        lines += [". . O", ""]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def chunker(tmp_path_factory):
    pytest.importorskip("seqeval")
    out = tmp_path_factory.mktemp("chunk")
    path = out / "chunks.txt"
    path.write_text(chunked_sentences(240))
    overrides = ["experiment=tagger_crf", f"data.path={path}", "model.hidden_size=24",
                 "model.embedding_dim=16", "model.char_hidden_size=10", "trainer.max_epochs=6",
                 "trainer=cpu", "~callbacks.rich_progress_bar",
                 "~callbacks.rich_model_summary"]  # fmt: skip
    metrics, objects = train(compose_config("train", overrides, out))
    return out, metrics, objects


def test_a_bio_chunker_with_characters_and_a_crf_reports_entity_scores(chunker):
    _, metrics, objects = chunker
    assert objects["task"].crf is not None and objects["net"].char_encoder is not None
    for key in ("entity_precision", "entity_recall", "entity_f1", "entity_f1_NP", "entity_f1_VP"):
        assert 0 <= metrics[f"test/{key}"] <= 1
    assert 0 <= metrics["val/entity_f1_best"] <= 1
    # Context tells the noun "rose" from the verb, which the unigram baseline cannot.
    assert metrics["test/entity_f1"] > 0.9
    assert 0.5 < metrics["test/most_frequent_tag_entity_f1"] < metrics["test/entity_f1"]
    assert "test/most_frequent_tag_acc" in metrics


def test_predict_spells_words_never_seen_in_training(chunker, tmp_path):
    out, _, objects = chunker
    sentences = tmp_path / "s.txt"
    sentences.write_text("the zebu rose on a Quokka .\nthe cat fell\n")
    cfg = compose_config(
        "predict", [f"ckpt_path={out}/checkpoints/last.ckpt", f"input={sentences}"], tmp_path
    )
    blocks = [b.splitlines() for b in predict(cfg).strip().split("\n\n")]
    assert [[row.split("\t")[0] for row in b] for b in blocks] == [
        ["the", "zebu", "rose", "on", "a", "Quokka", "."],
        ["the", "cat", "fell"],
    ]
    tags = {row.split("\t")[1] for b in blocks for row in b}
    assert tags <= set(objects["datamodule"].tags)


def test_characters_reach_only_nets_that_read_them(tmp_path):
    cfg = compose_config("train", ["data=conll", "data.chars=true", "model=transformer"], tmp_path)
    with pytest.raises(ConfigError, match="with each word's characters .*char_vocab_size"):
        build_system(cfg)
    cfg = compose_config("train", ["data=conll", "model.char_encoder=cnn"], tmp_path)
    with pytest.raises(ConfigError, match=r"data.chars=true"):
        build_system(cfg)


def test_a_language_model_stops_at_max_steps_inside_a_batch(tmp_path):
    # Two truncated-BPTT chunks a batch: the third step is the first of the second batch, and
    # the one-cycle schedule, sized to three steps, is never stepped past its end.
    overrides = ["data=text", "data.seq_len=32", "task.tbptt_steps=16", "model.hidden_size=8",
                 "trainer=cpu", "trainer.max_steps=3", "test=false",
                 "~callbacks.rich_progress_bar"]  # fmt: skip
    _, objects = train(compose_config("train", overrides, tmp_path))
    trainer = objects["trainer"]
    assert trainer.global_step == 3
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == 3
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3


def test_eval_of_a_run_without_test_text_writes_nothing(tmp_path):
    overrides = ["data=text", "data.splits=[0.9,0.1,0.0]", "model.hidden_size=8", "trainer=cpu",
                 "trainer.max_steps=2", "test=false", "~callbacks.rich_progress_bar"]  # fmt: skip
    train(compose_config("train", overrides, tmp_path / "lm"))
    ckpt = f"ckpt_path={tmp_path}/lm/checkpoints/last.ckpt"
    result = run_main("rnnlab.eval", ckpt, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: data.splits=[0.9, 0.1, 0.0] leaves no test text: train with test=false, and "
        "there is nothing for rnnlab.eval to test."
    )
    assert not (tmp_path / "logs").exists()  # no eval run folder, not even an empty one
