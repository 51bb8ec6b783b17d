import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data.batch import IGNORE, Batch
from rnnlab.data.frames import FramesDataModule
from rnnlab.utils.errors import ConfigError
from rnnlab.utils.instantiate import instantiate
from tests.conftest import compose_config

N, T, C, H, W = 30, 6, 10, 8, 8  # ten bands, six time steps


def frames_and_labels(n: int = N, steps: int = T, seed: int = 0):
    """Frames whose every channel has its own offset and scale, and three string classes."""
    rng = np.random.default_rng(seed)
    offset = np.arange(C, dtype=np.float32)[:, None, None] * 10  # (C, 1, 1)
    scale = np.arange(1, C + 1, dtype=np.float32)[:, None, None]
    frames = (rng.normal(size=(n, steps, C, H, W)) * scale + offset).astype(np.float32)
    labels = np.array(["cloud", "crop", "water"])[np.arange(n) % 3]
    return frames, labels


def undo(dm: FramesDataModule, x: torch.Tensor) -> torch.Tensor:
    """Frames ``(B, T, C, H, W)`` in the file's units again."""
    mean = torch.tensor(dm.channel_mean)[:, None, None]
    std = torch.tensor(dm.channel_std)[:, None, None]
    return x * std + mean


def whole(dm: FramesDataModule, split: str) -> Batch:
    return dm.datasets[split][torch.arange(len(dm.datasets[split]))]


def test_an_uncompressed_npz_is_memory_mapped_and_batches_hold_the_files_values(tmp_path):
    frames, labels = frames_and_labels()
    path = tmp_path / "bands.npz"
    np.savez(path, frames=frames, labels=labels)
    with zipfile.ZipFile(path) as archive:  # np.savez stores members uncompressed
        assert archive.getinfo("frames.npy").compress_type == zipfile.ZIP_STORED
    dm = FramesDataModule(str(path), batch_size=4)
    spec = dm.spec
    assert isinstance(dm.frames, np.memmap) and Path(dm.frames.filename) == path
    assert spec.num_classes == 3
    assert spec.inputs.frame_shape == (C, H, W)
    assert spec.class_names == ("cloud", "crop", "water") and not spec.aligned
    assert all(type(v) is float for v in dm.channel_mean + dm.channel_std)
    dataset = dm.datasets["train"]
    index = torch.tensor([5, 0, 3, 0])  # unsorted, with a repeat
    batch = dataset[index]
    rows = dataset.rows[index.numpy()]
    assert batch.x.shape == (4, T, C, H, W) and batch.x.dtype == torch.float32
    assert batch.lengths is None and batch.mask is None
    torch.testing.assert_close(undo(dm, batch.x), torch.from_numpy(frames[rows]), atol=1e-4, rtol=0)
    assert [spec.class_names[i] for i in batch.y.tolist()] == labels[rows].tolist()
    assert sum(len(dm.datasets[s]) for s in ("train", "val", "test")) == N
    assert isinstance(next(iter(dm.train_dataloader())), Batch)


def test_a_compressed_npz_is_extracted_once_to_a_cached_npy(tmp_path):
    frames, labels = frames_and_labels()
    path = tmp_path / "bands.npz"
    np.savez_compressed(path, frames=frames, labels=labels)
    cache = tmp_path / "cache"
    dm = FramesDataModule(str(path), cache_dir=str(cache), normalize=False)
    dm.setup()
    assert isinstance(dm.frames, np.memmap)
    [cached] = list(cache.iterdir())  # no .partial left behind
    assert cached.suffix == ".npy" and Path(dm.frames.filename) == cached
    stamp = cached.stat().st_mtime_ns
    again = FramesDataModule(str(path), cache_dir=str(cache), normalize=False)
    again.setup()
    assert Path(again.frames.filename) == cached and cached.stat().st_mtime_ns == stamp
    batch = whole(again, "val")
    torch.testing.assert_close(batch.x, torch.from_numpy(frames[again.datasets["val"].rows]))


@pytest.mark.parametrize("labels_name", ["clip_labels.npy", "labels.npy", "elsewhere.npy"])
def test_an_npy_of_frames_finds_its_labels(tmp_path, labels_name):
    frames, labels = frames_and_labels()
    np.save(tmp_path / "clip.npy", frames)
    np.save(tmp_path / labels_name, np.arange(N) % 2)  # integer labels
    given = str(tmp_path / labels_name) if labels_name == "elsewhere.npy" else None
    dm = FramesDataModule(str(tmp_path / "clip.npy"), labels_path=given)
    assert dm.spec.class_names == ("0", "1")
    assert isinstance(dm.frames, np.memmap)
    batch = whole(dm, "test")
    assert batch.y.tolist() == (dm.datasets["test"].rows % 2).tolist()


def test_a_folder_of_samples_of_different_lengths_is_padded_per_batch(tmp_path):
    frames, labels = frames_and_labels(n=12)
    steps = [3, 4, 5, 6] * 3
    rows = ["file,label"]
    for i, t in enumerate(steps):
        np.save(tmp_path / f"s{i:02d}.npy", frames[i, :t])
        rows.append(f"s{i:02d}.npy,{labels[i]}")
    # Rows in another order than the files: labels are matched by name.
    (tmp_path / "labels.csv").write_text("\n".join([rows[0], *reversed(rows[1:])]))
    dm = FramesDataModule(str(tmp_path), splits=[0.5, 0.25, 0.25])
    dm.setup()
    assert dm.sample_shape[0] == 6 and dm.frames[0].name == "s00.npy"
    dataset = dm.datasets["train"]
    batch = whole(dm, "train")
    expected = torch.tensor([steps[i] for i in dataset.rows])
    assert torch.equal(batch.lengths, expected) and batch.x.shape[1] == int(expected.max())
    assert torch.equal(batch.mask, torch.arange(batch.x.shape[1])[None] < expected[:, None])
    assert bool((batch.x[~batch.mask] == 0).all())  # padding is zero, not -mean/std
    x = undo(dm, batch.x)
    for b, i in enumerate(dataset.rows):
        torch.testing.assert_close(x[b, : steps[i]], torch.from_numpy(frames[i, : steps[i]]))
    short = dataset[torch.tensor([int(np.flatnonzero(expected == 3)[0])])]
    assert short.x.shape[1] == 3  # cut to the batch's own longest sample


def test_per_step_labels_in_a_folder_are_padded_with_ignore(tmp_path):
    frames, _ = frames_and_labels(n=10)
    steps = [4, 6] * 5
    for i, t in enumerate(steps):
        np.save(tmp_path / f"s{i}.npy", frames[i, :t])
    tags = np.arange(10 * T).reshape(10, T) % 2  # (N, T_max); steps past a sample's end unused
    np.save(tmp_path / "labels.npy", tags)
    dm = FramesDataModule(str(tmp_path), splits=[0.6, 0.2, 0.2])
    assert dm.spec.aligned is True
    batch = whole(dm, "train")
    assert batch.y.shape == batch.mask.shape
    assert bool((batch.y[~batch.mask] == IGNORE).all())
    expected = torch.from_numpy(tags[dm.datasets["train"].rows])  # (B, T_max)
    assert torch.equal(batch.y[batch.mask], expected[:, : batch.y.shape[1]][batch.mask])


def test_channels_last_gives_the_same_batches_as_channels_first(tmp_path):
    frames, labels = frames_and_labels()
    np.savez(tmp_path / "first.npz", frames=frames, labels=labels)
    np.savez(tmp_path / "last.npz", frames=frames.transpose(0, 1, 3, 4, 2), labels=labels)
    first = FramesDataModule(str(tmp_path / "first.npz"))
    last = FramesDataModule(str(tmp_path / "last.npz"), channels_last=True)
    assert first.spec == last.spec
    for key in ("channel_mean", "channel_std"):  # equal up to the order of summation
        np.testing.assert_allclose(getattr(first, key), getattr(last, key), rtol=1e-9)
    torch.testing.assert_close(whole(last, "train").x, whole(first, "train").x)


def test_channel_statistics_come_from_the_training_split_only(tmp_path):
    frames, labels = frames_and_labels()
    np.savez(tmp_path / "a.npz", frames=frames, labels=labels)
    dm = FramesDataModule(str(tmp_path / "a.npz"))
    dm.setup()
    x = whole(dm, "train").x.transpose(0, 2).flatten(1)  # (C, everything else)
    torch.testing.assert_close(x.mean(1), torch.zeros(C), atol=1e-4, rtol=0)
    torch.testing.assert_close(x.std(1, correction=0), torch.ones(C), atol=1e-4, rtol=0)
    frames[dm.datasets["test"].rows] *= 100  # test and val values change...
    frames[dm.datasets["val"].rows] += 7
    np.savez(tmp_path / "b.npz", frames=frames, labels=labels)
    other = FramesDataModule(str(tmp_path / "b.npz"))
    other.setup()
    assert other.channel_mean == dm.channel_mean  # ...the statistics do not
    assert other.channel_std == dm.channel_std


def test_per_step_labels_come_out_aligned_and_compose_with_the_tagging_task(tmp_path):
    frames, _ = frames_and_labels()
    tags = np.random.default_rng(1).integers(0, 4, size=(N, T))
    path = tmp_path / "tags.npz"
    np.savez(path, frames=frames, labels=tags)
    cfg = compose_config("train", ["data=frames", f"data.path={path}", "task=tagging"], tmp_path)
    assert cfg.task._target_.endswith("TaggingTask")
    dm = instantiate(cfg.data, "data")
    assert dm.spec.aligned is True and dm.spec.num_classes == 4
    batch = whole(dm, "val")
    assert batch.y.shape == (len(batch), T) and batch.y.dtype == torch.long
    assert torch.equal(batch.y, torch.from_numpy(tags[dm.datasets["val"].rows]))
    plain = compose_config("train", ["data=frames", f"data.path={path}"], tmp_path)
    assert plain.task._target_.endswith("ClassificationTask")


def test_a_large_file_is_not_read_at_setup_and_datasets_pickle_without_their_frames(tmp_path):
    path = tmp_path / "big.npy"
    shape = (256, 16, 16, 64, 64)  # 1 GiB of float32, written sparse: nothing to read
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape).flush()
    np.save(tmp_path / "big_labels.npy", np.arange(256) % 2)
    statm = "/proc/self/statm"

    def resident() -> int:
        return int(open(statm).read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    before = resident() if os.path.exists(statm) else 0
    dm = FramesDataModule(str(path), normalize=False)
    dm.setup()
    batch = dm.datasets["train"][torch.tensor([0, 1])]
    assert isinstance(dm.frames, np.memmap) and batch.x.shape == (2, *shape[1:])
    if before:
        assert resident() - before < 256 * 2**20
    state = pickle.dumps(dm.datasets["train"])
    assert len(state) < 2**20
    torch.testing.assert_close(pickle.loads(state)[torch.tensor([0, 1])].x, batch.x)


def save_npz(path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def test_bad_input_ends_in_one_sentence(tmp_path):
    frames, labels = frames_and_labels()
    cases = [
        (
            save_npz(tmp_path / "e0.npz", frames=frames[:, :, 0], labels=labels), {},
            r"are \(30, 6, 8, 8\) — 4 dimensions; frames must be \(N, T, C, H, W\)",
        ),
        (
            save_npz(tmp_path / "e1.npz", frames=frames, labels=labels[:29]), {},
            "30 frame sequences .* but 29 labels",
        ),
        (
            save_npz(tmp_path / "e2.npz", frames=frames, y=labels), {},
            r"no array 'labels' \(data.labels_key\); its arrays are: frames, y",
        ),
        (
            save_npz(tmp_path / "e3.npz", frames=frames, labels=labels), {"frames_key": "cube"},
            "no array 'cube' .* its arrays are: frames, labels",
        ),
        (
            save_npz(tmp_path / "e4.npz", frames=frames, labels=np.zeros((N, 5))), {},
            r"per-step labels .* \(30, 5\) but the frames have 6 steps",
        ),
        (
            save_npz(tmp_path / "e5.npz", frames=frames[:4], labels=labels[:4]), {},
            "split .* is empty",
        ),
        (str(tmp_path / "nothing.npz"), {}, "does not exist"),
        (None, {}, "data.path is not set"),
    ]  # fmt: skip
    for path, kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            FramesDataModule(path, **kwargs).setup()
    folder = tmp_path / "folder"
    folder.mkdir()
    np.save(folder / "a.npy", frames[0])
    with pytest.raises(ConfigError, match="no labels.csv"):
        FramesDataModule(str(folder)).setup()
