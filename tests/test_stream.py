"""The streaming input pipeline (issue 16): a folder kept as files, decoded by DataLoader workers.

Checks that can fail: the stream loader yields exactly the tensor loader's batches (uint8) for
the same generator, is deterministic per seed, resumes mid-epoch exactly (its state counts the
batches yielded, not those prefetched), leaves the global RNG alone; bad files stop the run
naming the file or are skipped with a count; mixed sizes are an error naming file and sizes;
and ``augkit train --loader stream`` on a small PNG folder gives the tensor run's numbers, also
when interrupted and resumed.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from augkit.cli import main
from augkit.data import FileImages, StreamLoader, TensorLoader, load_dataset
from augkit.data import files as files_mod
from augkit.runs import TrainConfig, check_loader, check_same_run, train_run

N_PER_CLASS, CLASSES = 14, 3  # 42 PNGs


def _digit_pngs(root: Path, rgb: bool = False) -> None:
    """Scikit-learn digits 0..2 as 8x8 PNGs (x16 to span 0..255), one sub-folder per class."""
    from sklearn.datasets import load_digits

    d = load_digits()
    for c in range(CLASSES):
        idx = np.flatnonzero(d.target == c)[:N_PER_CLASS]
        for k, i in enumerate(idx):
            arr = (d.images[i] * 16).clip(0, 255).astype(np.uint8)
            if rgb:
                arr = np.stack([arr, 255 - arr, arr // 2], -1)
            (root / f"c{c}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(root / f"c{c}" / f"{k:02d}.png")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("digits_png")
    _digit_pngs(root)
    return root


@pytest.fixture(scope="module")
def both(folder):
    """The same folder through the tensor path and the stream path."""
    return load_dataset("folder", folder, loader="tensor"), load_dataset("folder", folder, loader="stream")


def _stream(ds, seed: int = 3, workers: int = 1, batch: int = 8) -> StreamLoader:
    return StreamLoader(
        ds.train_x, ds.train_y, batch, shuffle=True, generator=torch.Generator().manual_seed(seed),
        drop_last=True, workers=workers,
    )  # fmt: skip


def _batches(loader, epochs: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [b for _ in range(epochs) for b in loader]


def _same(a, b) -> bool:
    pairs = zip(a, b, strict=False)
    return len(a) == len(b) and all(torch.equal(x, u) and torch.equal(y, v) for (x, y), (u, v) in pairs)


def test_stream_path_holds_the_same_dataset_as_files(both):
    t, s = both
    assert isinstance(s.train_x, FileImages) and isinstance(t.train_x, torch.Tensor)
    assert s.train_x.shape == t.train_x.shape and s.image_shape == t.image_shape == (1, 8, 8)
    assert torch.equal(s.train_y, t.train_y) and torch.equal(s.test_x, t.test_x)
    assert s.mean() == t.mean() and s.std() == t.std()  # exact: the checking pass's integer sums
    assert torch.equal(s.train_x[torch.tensor([3, 0, 5])], t.train_x[torch.tensor([3, 0, 5])])
    assert torch.equal(s.train_x[:4], t.train_x[:4]) and torch.equal(s.train_x[2], t.train_x[2])


def test_stream_yields_the_tensor_loaders_uint8_batches(both):
    t, s = both
    ref = TensorLoader(t.train_x, t.train_y, 8, True, torch.Generator().manual_seed(3), True)
    got = _batches(_stream(s, workers=2))
    assert len(got) == 2 * len(ref)
    assert all(x.dtype == torch.uint8 and x.shape[1:] == (1, 8, 8) for x, _ in got)
    assert _same(got, _batches(ref))


def test_same_seed_same_batches_and_global_rng_untouched(both):
    _, s = both
    before = torch.get_rng_state()
    a, b = _batches(_stream(s, seed=5)), _batches(_stream(s, seed=5, workers=0))
    assert torch.equal(torch.get_rng_state(), before)
    assert _same(a, b)
    assert not _same(a, _batches(_stream(s, seed=6)))
    assert not torch.equal(a[0][1], a[len(a) // 2][1])  # each epoch draws its own order


def test_mid_epoch_resume_is_exact_and_counts_yielded_batches(both):
    t, s = both
    want = _batches(_stream(s), epochs=3)
    first = _stream(s, workers=2)  # two workers prefetch ahead: the state must not count those
    seen = list(first)
    it = iter(first)
    seen += [next(it), next(it)]
    state = first.state_dict()
    assert state["position"] == 2 and state["epoch"] == 1
    resumed = _stream(s, seed=99)  # its own seed is overwritten by the state
    resumed.load_state_dict(state)
    assert _same(seen + _batches(resumed, epochs=2), want)
    tensor = TensorLoader(t.train_x, t.train_y, 8, True, torch.Generator().manual_seed(0), True)
    tensor.load_state_dict(state)  # the same record: a TensorLoader resumes a stream state too
    assert _same(seen + _batches(tensor, epochs=2), want)


def _bad_folder(root: Path) -> tuple[Path, Path, Path]:
    _digit_pngs(root)
    truncated = root / "c1" / "05.png"
    truncated.write_bytes(truncated.read_bytes()[:60])
    not_image = root / "c2" / "zz.png"
    not_image.write_text("not a png")
    missing = root / "c0" / "dangling.png"
    missing.symlink_to(root / "nowhere.png")
    return truncated, not_image, missing


@pytest.mark.parametrize("loader", ["tensor", "stream"])
def test_bad_file_stops_naming_it_or_is_skipped_with_a_count(tmp_path, capsys, loader):
    truncated, not_image, missing = _bad_folder(tmp_path)
    with pytest.raises(ValueError, match=r"image .*dangling\.png: cannot be decoded .*--bad-files skip"):
        load_dataset("folder", tmp_path, loader=loader)
    ds = load_dataset("folder", tmp_path, loader=loader, bad_files="skip")
    assert "skipped 3 unreadable image file(s)" in capsys.readouterr().err
    assert len(ds.skipped) == 3
    assert all(any(str(p) in s for s in ds.skipped) for p in (truncated, not_image, missing))
    assert ds.train_x.shape[0] + ds.test_x.shape[0] == CLASSES * N_PER_CLASS - 1
    if loader == "stream":  # the same images as the tensor path with the same option
        ref = load_dataset("folder", tmp_path, loader="tensor", bad_files="skip")
        assert torch.equal(ds.train_y, ref.train_y) and ds.mean() == ref.mean()


@pytest.mark.parametrize("loader", ["tensor", "stream"])
def test_mixed_sizes_name_the_file_and_both_sizes(tmp_path, loader):
    _digit_pngs(tmp_path)
    odd = tmp_path / "c2" / "03.png"
    Image.fromarray(np.zeros((9, 7), np.uint8)).save(odd)
    with pytest.raises(ValueError, match=rf"image {odd}: size 7x9 \(WxH\) differs from 8x8 of .*c0.*00\.png"):
        load_dataset("folder", tmp_path, loader=loader)


def test_auto_streams_above_the_threshold_and_refusals(folder, monkeypatch):
    assert isinstance(load_dataset("folder", folder).train_x, torch.Tensor)  # 42 x 64 bytes: tensor
    monkeypatch.setattr(files_mod, "STREAM_ABOVE_BYTES", 1000)
    assert isinstance(load_dataset("folder", folder).train_x, FileImages)
    with pytest.raises(ValueError, match=r"--loader stream.*'digits' is read into memory as one tensor"):
        load_dataset("digits", loader="stream")
    with pytest.raises(ValueError, match=r"loader must be one of \['auto', 'tensor', 'stream'\], got 'disk'"):
        TrainConfig(loader="disk")
    with pytest.raises(ValueError, match=r"bad_files must be one of"):
        TrainConfig(bad_files="ignore")
    ds = load_dataset("folder", folder, loader="stream")
    with pytest.raises(ValueError, match=r"strategy 'if-da' runs a pre-training stage .* --loader tensor"):
        check_loader(TrainConfig(dataset="folder", strategy="if-da", loader="stream"), ds)


def test_resume_accepts_a_config_stored_before_the_loader_options(tmp_path):
    stored = TrainConfig().__dict__.copy()
    for key in ("loader", "bad_files", "loader_workers"):
        stored.pop(key)
    check_same_run(stored, TrainConfig(loader="stream", loader_workers=0).__dict__, tmp_path)


_TRAIN = ["--epochs", "2", "--batch-size", "16", "--adv-images", "8", "--tta-policy-views", "1",
          "--threads", "1", "--quiet", "--strategy", "standard", "--model", "small_cnn"]  # fmt: skip
_TIMING = ("seconds", "images_per_second")


def _numbers(run: Path) -> tuple[dict, list[dict]]:
    final = json.loads((run / "final.json").read_text())
    curve = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    clean = lambda d: {k: v for k, v in d.items() if not k.endswith(_TIMING)}  # noqa: E731
    return clean(final), [clean(r) for r in curve]


def test_augkit_train_streamed_equals_tensor_and_resumes_exactly(folder, tmp_path):
    data = ["--dataset", "folder", "--data-dir", str(folder)]
    for loader in ("stream", "tensor"):
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["train", *data, *_TRAIN, "--loader", loader, "--out", str(tmp_path / loader)]) == 0
    streamed, tensor = _numbers(tmp_path / "stream"), _numbers(tmp_path / "tensor")
    assert streamed == tensor  # bit for bit on CPU: the same batches, statistics and layouts
    cfg = TrainConfig(
        dataset="folder", data_dir=str(folder), epochs=2, batch_size=16, adv_images=8, tta_policy_views=1,
        threads=1, strategy="standard", loader="stream", loader_workers=1,
    )  # fmt: skip
    train_run(cfg, tmp_path / "resumed", progress=False, until=1)  # interrupted after epoch 1
    train_run(cfg, tmp_path / "resumed", resume=True, progress=False)
    assert _numbers(tmp_path / "resumed") == tensor
