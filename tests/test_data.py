"""Tests for augkit.data: readers on fixture files written here, registry, download, subsets, loader."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import os
import pickle
import struct
import threading
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from augkit.data import (
    DATASETS,
    FASHION_MNIST_CLASSES,
    DatasetNotFound,
    ImageDataset,
    TensorLoader,
    apply_subset,
    available,
    balanced_subset,
    download,
    find_dataset_dir,
    load_dataset,
    load_image_folder,
    read_cifar_batch,
    read_idx,
    read_idx_images,
    read_idx_labels,
    read_svhn_mat,
    train_val_split,
)

RNG = np.random.default_rng(1234)
IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


# ---------------------------------------------------------------------------------------------- IDX


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    if magic is None:
        magic = 0x00000800 | arr.ndim
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = False, magic: int | None = None) -> Path:
    data = idx_bytes(arr, magic)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_idx_dataset(
    directory: Path, gz: bool, n_train: int = 20, n_test: int = 10
) -> dict[str, np.ndarray]:
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        IDX_NAMES[0]: RNG.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        IDX_NAMES[1]: RNG.integers(0, 10, n_train, dtype=np.uint8),
        IDX_NAMES[2]: RNG.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        IDX_NAMES[3]: RNG.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(directory / name, arr, gz=gz)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip_exact(tmp_path: Path, gz: bool) -> None:
    images = RNG.integers(0, 256, (7, 5, 6), dtype=np.uint8)
    labels = RNG.integers(0, 10, 7, dtype=np.uint8)
    x = read_idx_images(write_idx(tmp_path / "img", images, gz=gz))
    y = read_idx_labels(write_idx(tmp_path / "lab", labels, gz=gz))
    assert x.dtype == torch.uint8 and x.shape == (7, 1, 5, 6)
    assert y.dtype == torch.int64 and y.shape == (7,)
    np.testing.assert_array_equal(x[:, 0].numpy(), images)
    np.testing.assert_array_equal(y.numpy(), labels)


def test_idx_other_types_big_endian(tmp_path: Path) -> None:
    arr = np.arange(-6, 6, dtype=">i4").reshape(3, 4)
    path = tmp_path / "ints"
    path.write_bytes(struct.pack(">I", 0x00000C02) + struct.pack(">2I", 3, 4) + arr.tobytes())
    np.testing.assert_array_equal(read_idx(path), arr)


def test_idx_wrong_magic_names_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage-idx3-ubyte"
    garbage.write_bytes(b"\x12\x34\x56\x78" + bytes(100))
    with pytest.raises(ValueError, match=r"garbage-idx3-ubyte.*bad magic number 0x12345678"):
        read_idx_images(garbage)
    labels_as_images = write_idx(tmp_path / "labels", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match=r"labels.*0x00000801, expected 0x00000803"):
        read_idx_images(labels_as_images)


def test_idx_truncated_and_trailing_payload(tmp_path: Path) -> None:
    data = idx_bytes(RNG.integers(0, 256, (4, 8, 8), dtype=np.uint8))
    short = tmp_path / "short-idx3-ubyte"
    short.write_bytes(data[:-10])
    with pytest.raises(ValueError, match=r"short-idx3-ubyte: payload truncated.*256 bytes.*found 246"):
        read_idx_images(short)
    long = tmp_path / "long"
    long.write_bytes(data + b"\0")
    with pytest.raises(ValueError, match=r"long: payload has trailing bytes"):
        read_idx_images(long)
    header_only = tmp_path / "header"
    header_only.write_bytes(data[:9])
    with pytest.raises(ValueError, match=r"header: truncated header"):
        read_idx_images(header_only)
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\0\0")
    with pytest.raises(ValueError, match="too short"):
        read_idx(tiny)


def test_idx_truncated_gzip(tmp_path: Path) -> None:
    gz = gzip.compress(idx_bytes(RNG.integers(0, 256, (50, 28, 28), dtype=np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(ValueError, match=r"cut.gz: corrupt or truncated gzip"):
        read_idx_images(path)


def test_idx_count_mismatch(tmp_path: Path) -> None:
    arrays = write_idx_dataset(tmp_path, gz=False)
    write_idx(tmp_path / IDX_NAMES[1], arrays[IDX_NAMES[1]][:-1])
    with pytest.raises(ValueError, match=r"20 images.*19 labels"):
        load_dataset("mnist", tmp_path)


# ------------------------------------------------------------------------------------------ registry


@pytest.fixture
def no_system_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the system folders at an absent path and clear $AUGKIT_DATA, whatever this machine has."""
    absent = tmp_path / "usr-share-datasets"
    for name in ("fashion-mnist", "mnist"):
        info = DATASETS[name]
        spec = dataclasses.replace(info.search, system_dirs=(str(absent / name),))
        monkeypatch.setitem(DATASETS, name, dataclasses.replace(info, search=spec))
    monkeypatch.delenv("AUGKIT_DATA", raising=False)
    return absent


@pytest.mark.parametrize("gz", [False, True])
def test_load_fashion_mnist_from_data_dir_subfolder(tmp_path: Path, no_system_dirs: Path, gz: bool) -> None:
    arrays = write_idx_dataset(tmp_path / "data" / "fashion-mnist", gz=gz)
    ds = load_dataset("fashion-mnist", tmp_path / "data")
    assert ds.name == "fashion-mnist" and ds.classes == FASHION_MNIST_CLASSES and ds.num_classes == 10
    assert ds.image_shape == (1, 28, 28)
    np.testing.assert_array_equal(ds.train_x[:, 0].numpy(), arrays[IDX_NAMES[0]])
    np.testing.assert_array_equal(ds.train_y.numpy(), arrays[IDX_NAMES[1]])
    np.testing.assert_array_equal(ds.test_x[:, 0].numpy(), arrays[IDX_NAMES[2]])
    np.testing.assert_array_equal(ds.test_y.numpy(), arrays[IDX_NAMES[3]])
    assert available("fashion-mnist", tmp_path / "data")


def test_env_var_and_lookup_order(
    tmp_path: Path, no_system_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_arrays = write_idx_dataset(tmp_path / "env" / "mnist", gz=True, n_train=6)
    monkeypatch.setenv("AUGKIT_DATA", str(tmp_path / "env"))
    assert find_dataset_dir("mnist") == tmp_path / "env" / "mnist"
    np.testing.assert_array_equal(load_dataset("mnist").train_y.numpy(), env_arrays[IDX_NAMES[1]])
    # A complete data_dir wins over $AUGKIT_DATA ...
    dir_arrays = write_idx_dataset(tmp_path / "mine", gz=False, n_train=9)
    ds = load_dataset("mnist", tmp_path / "mine")
    np.testing.assert_array_equal(ds.train_y.numpy(), dir_arrays[IDX_NAMES[1]])
    # ... and an incomplete one is an error naming it: an explicit data_dir never falls back.
    (tmp_path / "mine" / IDX_NAMES[3]).unlink()
    with pytest.raises(DatasetNotFound, match=rf"{tmp_path / 'mine'} \(data_dir\): missing t10k-labels"):
        find_dataset_dir("mnist", tmp_path / "mine")
    assert find_dataset_dir("mnist") == tmp_path / "env" / "mnist"  # the fallback is for data_dir=None


def test_missing_dataset_lists_every_place(
    tmp_path: Path, no_system_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_idx_dataset(data_dir, gz=True)
    (data_dir / (IDX_NAMES[3] + ".gz")).unlink()  # present but incomplete
    env_a, env_b = tmp_path / "envA", tmp_path / "envB"
    monkeypatch.setenv("AUGKIT_DATA", f"{env_a}{os.pathsep}{env_b}")
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("fashion-mnist", data_dir)
    err = info.value
    assert isinstance(err, FileNotFoundError)
    message = str(err)
    # an explicit data_dir is the only place searched (no $AUGKIT_DATA, no system folder)
    assert list(err.searched) == [
        str(p) for p in (data_dir, data_dir / "fashion-mnist", data_dir / "FashionMNIST" / "raw")
    ]
    assert f"{data_dir} (data_dir): missing t10k-labels-idx1-ubyte|t10k-labels-idx1-ubyte.gz" in message
    assert str(env_a) not in message and str(no_system_dirs) not in message
    assert not available("fashion-mnist", data_dir)
    # without data_dir every fallback place is listed
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("fashion-mnist")
    err = info.value
    message = str(err)
    expected_places = [
        env_a,
        env_a / "fashion-mnist",
        env_a / "FashionMNIST" / "raw",
        env_b,
        env_b / "fashion-mnist",
        env_b / "FashionMNIST" / "raw",
        no_system_dirs / "fashion-mnist",
    ]
    assert list(err.searched) == [str(p) for p in expected_places]
    for place in expected_places:
        assert f"  - {place} (" in message, place
    assert "data_dir: not given" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "download_fashion_mnist" in message


def test_missing_dataset_notes_absent_sources(no_system_dirs: Path) -> None:
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("mnist")
    message = str(info.value)
    assert "data_dir: not given" in message and "$AUGKIT_DATA: not set" in message
    assert str(no_system_dirs / "mnist") in message


def test_unknown_name_and_folder_needs_dir() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'imagenet'.*cifar10.*digits.*fashion-mnist"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="needs data_dir"):
        load_dataset("folder")
    assert not available("folder")
    assert available("digits")
    assert all(isinstance(info.description, str) and info.description for info in DATASETS.values())


# --------------------------------------------------------------------------------------------- CIFAR


def write_pickle(path: Path, obj: object, protocol: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def test_cifar10_roundtrip(tmp_path: Path, no_system_dirs: Path) -> None:
    d = tmp_path / "cifar-10-batches-py"
    batches = []
    for i, name in enumerate([*(f"data_batch_{j}" for j in range(1, 6)), "test_batch"]):
        data = RNG.integers(0, 256, (3 + i, 3072), dtype=np.uint8)
        labels = RNG.integers(0, 10, 3 + i).tolist()
        batches.append((data, labels))
        # protocol 2, like the Python 2 originals; one batch with protocol 5 (numpy's other path)
        write_pickle(d / name, {b"batch_label": b"x", b"data": data, b"labels": labels}, 5 if i == 2 else 2)
    names = [f"class{k}".encode() for k in range(10)]
    write_pickle(d / "batches.meta", {b"label_names": names, b"num_vis": 3072})
    ds = load_dataset("cifar10", tmp_path)
    assert ds.classes == tuple(f"class{k}" for k in range(10))
    train = np.concatenate([b[0] for b in batches[:5]])
    assert ds.train_x.shape == (train.shape[0], 3, 32, 32) and ds.train_x.dtype == torch.uint8
    np.testing.assert_array_equal(ds.train_x.numpy().reshape(-1, 3072), train)
    # Row layout: 1024 red values, then green, then blue, each row-major.
    np.testing.assert_array_equal(ds.train_x[0, 1].numpy(), train[0, 1024:2048].reshape(32, 32))
    np.testing.assert_array_equal(ds.train_y.numpy(), sum((b[1] for b in batches[:5]), []))
    np.testing.assert_array_equal(ds.test_x.numpy().reshape(-1, 3072), batches[5][0])
    np.testing.assert_array_equal(ds.test_y.numpy(), batches[5][1])


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    d = tmp_path / "c100" / "cifar-100-python"
    data = {}
    for split, n in (("train", 6), ("test", 4)):
        x = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = RNG.integers(0, 100, n).tolist()
        coarse = [f // 5 for f in fine]
        data[split] = (x, fine)
        write_pickle(d / split, {b"data": x, b"fine_labels": fine, b"coarse_labels": coarse})
    write_pickle(
        d / "meta", {b"fine_label_names": [f"f{k}".encode() for k in range(100)], b"coarse_label_names": []}
    )
    ds = load_dataset("cifar100", tmp_path / "c100")
    assert ds.num_classes == 100 and ds.classes[7] == "f7"
    np.testing.assert_array_equal(ds.train_x.numpy().reshape(-1, 3072), data["train"][0])
    np.testing.assert_array_equal(ds.train_y.numpy(), data["train"][1])
    np.testing.assert_array_equal(ds.test_y.numpy(), data["test"][1])


def test_bad_cifar_pickles(tmp_path: Path) -> None:
    x = np.zeros((2, 3072), np.uint8)
    missing = tmp_path / "missing_key"
    write_pickle(missing, {b"data": x, b"fine_labels": [0, 1]})
    with pytest.raises(ValueError, match=r"missing_key: missing key\(s\) \[b'labels'\]"):
        read_cifar_batch(missing)
    shape = tmp_path / "bad_shape"
    write_pickle(shape, {b"data": np.zeros((2, 1000), np.uint8), b"labels": [0, 1]})
    with pytest.raises(ValueError, match=r"bad_shape: b'data' must be a uint8 \(N, 3072\)"):
        read_cifar_batch(shape)
    count = tmp_path / "bad_count"
    write_pickle(count, {b"data": x, b"labels": [0, 1, 2]})
    with pytest.raises(ValueError, match=r"bad_count: 2 images"):
        read_cifar_batch(count)
    label_range = tmp_path / "bad_range"
    write_pickle(label_range, {b"data": x, b"labels": [0, 10]})
    with pytest.raises(ValueError, match=r"bad_range: b'labels' values must lie in \[0, 10\)"):
        read_cifar_batch(label_range, num_classes=10)
    not_dict = tmp_path / "not_dict"
    write_pickle(not_dict, [1, 2])
    with pytest.raises(ValueError, match="not_dict: expected a pickled dict, got list"):
        read_cifar_batch(not_dict)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"this is not a pickle at all")
    with pytest.raises(ValueError, match="garbage: not a readable pickle"):
        read_cifar_batch(garbage)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(pickle.dumps({b"data": x, b"labels": [0, 1]}, protocol=2)[:-40])
    with pytest.raises(ValueError, match="truncated: not a readable pickle"):
        read_cifar_batch(truncated)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_cifar_pickle_cannot_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil"
    write_pickle(evil, {b"data": _Evil(marker), b"labels": []})
    with pytest.raises(ValueError, match=r"evil: pickle references .*mkdir.*refusing"):
        read_cifar_batch(evil)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------- SVHN


def test_svhn_roundtrip_and_label_10_is_zero(tmp_path: Path) -> None:
    import scipy.io

    arrays = {}
    (tmp_path / "svhn").mkdir()
    for split, n in (("train", 5), ("test", 3)):
        x = RNG.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = RNG.integers(1, 11, (n, 1)).astype(np.uint8)
        y[0, 0] = 10
        arrays[split] = (x, y)
        scipy.io.savemat(tmp_path / "svhn" / f"{split}_32x32.mat", {"X": x, "y": y})
    ds = load_dataset("svhn", tmp_path)
    x, y = arrays["train"]
    assert ds.train_x.shape == (5, 3, 32, 32) and ds.classes == tuple("0123456789")
    for i in range(5):
        np.testing.assert_array_equal(ds.train_x[i].numpy(), x[..., i].transpose(2, 0, 1))
    np.testing.assert_array_equal(ds.train_y.numpy(), y[:, 0] % 10)
    assert ds.train_y[0] == 0
    np.testing.assert_array_equal(ds.test_y.numpy(), arrays["test"][1][:, 0] % 10)


def test_bad_svhn_files(tmp_path: Path) -> None:
    import scipy.io

    no_y = tmp_path / "no_y.mat"
    scipy.io.savemat(no_y, {"X": np.zeros((32, 32, 3, 2), np.uint8)})
    with pytest.raises(ValueError, match=r"no_y.mat: missing variable\(s\) \['y'\]"):
        read_svhn_mat(no_y)
    bad_label = tmp_path / "bad_label.mat"
    scipy.io.savemat(bad_label, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [3]])})
    with pytest.raises(ValueError, match=r"bad_label.mat: y must lie in 1..10"):
        read_svhn_mat(bad_label)
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"MATLAB? no." * 20)
    with pytest.raises(ValueError, match="garbage.mat: not a readable MATLAB file"):
        read_svhn_mat(garbage)


# -------------------------------------------------------------------------------------- image folder


def save_png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_image_folder_presplit_rgb(tmp_path: Path) -> None:
    expected: dict[str, list[tuple[np.ndarray, int]]] = {"train": [], "test": []}
    for split, per_class in (("train", 3), ("test", 2)):
        for label, cls in enumerate(("cat", "dog")):
            for i in range(per_class):
                arr = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
                save_png(tmp_path / split / cls / f"{i:02d}.png", arr)
                expected[split].append((arr, label))
    (tmp_path / "train" / "cat" / "notes.txt").write_text("ignored")
    ds = load_dataset("folder", tmp_path)
    assert ds.classes == ("cat", "dog") and ds.image_shape == (3, 6, 5)
    for split, x, y in (("train", ds.train_x, ds.train_y), ("test", ds.test_x, ds.test_y)):
        assert x.shape[0] == len(expected[split])
        for i, (arr, label) in enumerate(expected[split]):
            np.testing.assert_array_equal(x[i].numpy().transpose(1, 2, 0), arr)
            assert y[i] == label


def test_image_folder_single_root_split_gray(tmp_path: Path) -> None:
    pool = {}
    for cls, n in (("a", 10), ("b", 5)):
        for i in range(n):
            arr = np.full((4, 4), len(pool), dtype=np.uint8)  # unique value identifies the file
            save_png(tmp_path / cls / f"{i}.png", arr)
            pool[len(pool)] = cls
    ds = load_image_folder(tmp_path, test_fraction=0.2, seed=3)
    assert ds.image_shape == (1, 4, 4) and ds.classes == ("a", "b")
    assert ds.train_x.shape[0] == 12 and ds.test_x.shape[0] == 3
    assert torch.bincount(ds.test_y, minlength=2).tolist() == [2, 1]  # stratified
    ids = torch.cat([ds.train_x[:, 0, 0, 0], ds.test_x[:, 0, 0, 0]]).tolist()
    assert sorted(ids) == list(range(15))
    for x, y in ((ds.train_x, ds.train_y), (ds.test_x, ds.test_y)):
        assert [pool[int(v)] for v in x[:, 0, 0, 0]] == [ds.classes[int(k)] for k in y]
    again = load_image_folder(tmp_path, test_fraction=0.2, seed=3)
    assert torch.equal(again.test_x, ds.test_x)


def test_image_folder_size_mismatch_names_file(tmp_path: Path) -> None:
    save_png(tmp_path / "a" / "0.png", np.zeros((4, 4), np.uint8))
    save_png(tmp_path / "b" / "odd.png", np.zeros((5, 4), np.uint8))
    with pytest.raises(ValueError, match=r"odd.png: size 4x5 \(WxH\) differs from 4x4 of .*0.png"):
        load_image_folder(tmp_path)
    (tmp_path / "b" / "odd.png").unlink()
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png: cannot be decoded"):
        load_image_folder(tmp_path)


# ------------------------------------------------------------------------------------------ download


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture
def http_root(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    handler = type("H", (_Handler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/", handler.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_download_verifies_and_skips_existing(http_root, tmp_path: Path) -> None:
    root, base, requests = http_root
    payload = os.urandom(300_000)
    (root / "file.bin").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "out" / "sub" / "file.bin"
    assert download(base + "file.bin", dest, digest.upper(), timeout=10) == dest
    assert dest.read_bytes() == payload and len(requests) == 1
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.bin"]
    download(base + "file.bin", dest, digest)  # already there and correct: no request
    assert len(requests) == 1
    dest.write_bytes(b"stale partial copy")  # wrong content: fetched again and replaced
    download(base + "file.bin", dest, digest)
    assert dest.read_bytes() == payload and len(requests) == 2


def test_download_checksum_mismatch_leaves_nothing(http_root, tmp_path: Path) -> None:
    root, base, _ = http_root
    payload = os.urandom(50_000)
    good = hashlib.sha256(payload).hexdigest()
    corrupted = bytearray(payload)
    corrupted[1234] ^= 0xFF
    (root / "file.bin").write_bytes(bytes(corrupted))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match=rf"checksum mismatch.*expected SHA-256 {good}"):
        download(base + "file.bin", out / "file.bin", good)
    assert list(out.iterdir()) == []
    with pytest.raises(ValueError, match="checksum mismatch"):
        download(base + "file.bin", out / "file.bin", "0" * 64)
    assert list(out.iterdir()) == []
    with pytest.raises(urllib.error.HTTPError):
        download(base + "absent.bin", out / "absent.bin", good)
    assert list(out.iterdir()) == []


def test_download_validates_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sha256 must be 64 hexadecimal digits"):
        download("http://127.0.0.1:9/x", tmp_path / "x", "abc")
    with pytest.raises(ValueError, match="url must be"):
        download("ftp://example.invalid/x", tmp_path / "x", "0" * 64)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------- subsets


def imbalanced_labels() -> torch.Tensor:
    counts = [50, 30, 20, 40]
    return torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])[
        torch.randperm(140, generator=gen(0))
    ]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_balanced_subset_exact_counts() -> None:
    y = imbalanced_labels()
    idx = balanced_subset(y, 22, gen(1))
    assert idx.dtype == torch.int64 and torch.equal(idx, idx.unique())  # sorted, no repeats
    assert torch.bincount(y[idx], minlength=4).tolist() == [6, 6, 5, 5]
    frac = balanced_subset(y, 0.1, gen(1))  # round(14.0) = 14 -> 4, 4, 3, 3
    assert torch.bincount(y[frac], minlength=4).tolist() == [4, 4, 3, 3]
    full_class = balanced_subset(y, 80, gen(1))  # 20 each: all of class 2
    assert torch.bincount(y[full_class]).tolist() == [20, 20, 20, 20]


def test_balanced_subset_determinism_and_seed_effect() -> None:
    y = imbalanced_labels()
    a, b, c = (balanced_subset(y, 40, gen(s)) for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # Within a class the draw is uniform: each of class 2's 20 samples is picked about half the time.
    hits = torch.zeros(140)
    for s in range(300):
        hits[balanced_subset(y, 40, gen(s))] += 1
    rate = hits[y == 2] / 300
    assert 0.38 < float(rate.min()) and float(rate.max()) < 0.62


def test_balanced_subset_errors() -> None:
    y = imbalanced_labels()
    with pytest.raises(ValueError, match=r"class 2: 20 < 25"):
        balanced_subset(y, 100, gen(0))
    with pytest.raises(ValueError, match="fewer than the 4 classes"):
        balanced_subset(y, 3, gen(0))
    for bad in (0, -1, 141, 1.5, 0.0):
        with pytest.raises(ValueError, match="size"):
            balanced_subset(y, bad, gen(0))
    with pytest.raises(TypeError, match="size"):
        balanced_subset(y, True, gen(0))
    with pytest.raises(TypeError, match="generator"):
        balanced_subset(y, 10, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-D integer"):
        balanced_subset(y.float(), 10, gen(0))


def test_train_val_split_disjoint_stratified() -> None:
    y = torch.cat([torch.full((c,), k) for k, c in enumerate([50, 30, 20])])
    tr, va = train_val_split(y, 0.25, gen(3))
    assert len(set(tr.tolist()) & set(va.tolist())) == 0
    assert sorted(tr.tolist() + va.tolist()) == list(range(100))
    # 25 * (50, 30, 20) / 100 = 12.5, 7.5, 5 -> floors 12, 7, 5; the tie goes to the lower label.
    assert torch.bincount(y[va], minlength=3).tolist() == [13, 7, 5]
    tr2, va2 = train_val_split(y, 25, gen(3))
    assert torch.equal(va, va2) and torch.equal(tr, tr2)
    assert not torch.equal(va, train_val_split(y, 25, gen(4))[1])
    for bad in (0, 100, 1.0):
        with pytest.raises(ValueError, match="val_size"):
            train_val_split(y, bad, gen(0))


def small_dataset(n_train: int = 200, n_test: int = 30) -> ImageDataset:
    x = (
        torch.arange(n_train, dtype=torch.int64)
        .remainder(256)
        .to(torch.uint8)
        .view(-1, 1, 1, 1)
        .expand(-1, 1, 2, 2)
    )
    y = torch.arange(n_train) % 4
    tx = torch.zeros(n_test, 1, 2, 2, dtype=torch.uint8)
    return ImageDataset("toy", x.contiguous(), y, tx, torch.arange(n_test) % 4, ("a", "b", "c", "d"))


def test_apply_subset() -> None:
    ds = small_dataset()
    out = apply_subset(ds, subset=40, val=0.2, seed=5)
    assert out.val_x is not None and out.val_y is not None
    assert out.train_x.shape[0] == 40 and out.val_x.shape[0] == 40
    assert torch.bincount(out.train_y).tolist() == [10] * 4 and torch.bincount(out.val_y).tolist() == [10] * 4
    assert out.test_x is ds.test_x and out.classes == ds.classes
    train_ids, val_ids = set(out.train_x[:, 0, 0, 0].tolist()), set(out.val_x[:, 0, 0, 0].tolist())
    assert not train_ids & val_ids
    # Same seed, other subset size: the same validation images.
    other = apply_subset(ds, subset=80, val=0.2, seed=5)
    assert torch.equal(other.val_x, out.val_x)
    assert torch.equal(apply_subset(ds, subset=40, val=0.2, seed=5).train_x, out.train_x)
    assert not torch.equal(apply_subset(ds, subset=40, val=0.2, seed=6).train_x, out.train_x)
    assert apply_subset(ds) is ds
    with pytest.raises(ValueError, match="already has a validation split"):
        apply_subset(out, val=0.1)


def test_image_dataset_validation_and_stats() -> None:
    x = torch.tensor([[[[0, 255]], [[51, 51]]], [[[255, 0]], [[102, 102]]]], dtype=torch.uint8)  # (2,2,1,2)
    ds = ImageDataset("t", x, torch.tensor([0, 1]), x, torch.tensor([1, 0]), ("a", "b"))
    v = x.numpy().astype(np.float64) / 255
    np.testing.assert_allclose(ds.mean(), v.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(ds.std(), v.std(axis=(0, 2, 3)), rtol=1e-9)
    with pytest.raises(ValueError, match="2 images but train_y has 3"):
        ImageDataset("t", x, torch.tensor([0, 1, 1]), x, torch.tensor([1, 0]), ("a", "b"))
    with pytest.raises(ValueError, match=r"test_y labels must lie in \[0, 2\)"):
        ImageDataset("t", x, torch.tensor([0, 1]), x, torch.tensor([2, 0]), ("a", "b"))
    with pytest.raises(ValueError, match="uint8"):
        ImageDataset("t", x.float(), torch.tensor([0, 1]), x, torch.tensor([1, 0]), ("a", "b"))
    with pytest.raises(ValueError, match="val_x and val_y"):
        ImageDataset("t", x, torch.tensor([0, 1]), x, torch.tensor([1, 0]), ("a", "b"), val_x=x)


# -------------------------------------------------------------------------------------------- loader


def index_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose pixels encode their index (low, high byte), labels equal to the index."""
    idx = torch.arange(n)
    x = (
        torch.stack([idx % 256, idx // 256], 1)
        .to(torch.uint8)
        .view(n, 2, 1, 1)
        .expand(n, 2, 3, 3)
        .contiguous()
    )
    return x, idx


def collect(loader: TensorLoader) -> list[torch.Tensor]:
    return [yb.clone() for _, yb in loader]


def test_loader_covers_every_sample_once() -> None:
    x, y = index_data(103)
    loader = TensorLoader(x, y, batch_size=10, shuffle=True, generator=gen(0))
    assert len(loader) == 11
    rng_before = torch.get_rng_state()
    epochs = []
    for _ in range(2):
        sizes, seen = [], []
        for xb, yb in loader:
            assert xb.dtype == torch.uint8 and xb.shape[1:] == (2, 3, 3)
            assert torch.equal(xb[:, 0, 0, 0].long() + 256 * xb[:, 1, 0, 0].long(), yb)  # rows stay paired
            sizes.append(len(yb))
            seen.append(yb)
        assert sizes == [10] * 10 + [3]
        order = torch.cat(seen)
        assert torch.equal(order.sort().values, torch.arange(103))
        epochs.append(order)
    assert not torch.equal(epochs[0], epochs[1])  # a new permutation every epoch
    assert torch.equal(torch.get_rng_state(), rng_before)  # global RNG untouched
    assert loader.epoch == 2
    dropped = TensorLoader(x, y, batch_size=10, shuffle=True, generator=gen(0), drop_last=True)
    batches = collect(dropped)
    assert len(dropped) == 10 == len(batches) and len(torch.cat(batches).unique()) == 100
    plain = TensorLoader(x, y, batch_size=50)
    assert torch.equal(torch.cat(collect(plain)), torch.arange(103))


def test_loader_same_seed_same_order() -> None:
    x, y = index_data(64)
    a = [collect(TensorLoader(x, y, 8, True, gen(s))) for s in (1, 1, 2)]
    assert all(torch.equal(p, q) for p, q in zip(a[0], a[1], strict=True))
    assert not torch.equal(torch.cat(a[0]), torch.cat(a[2]))


@pytest.mark.parametrize("stop_after", [0, 4, 9])
def test_loader_resume_mid_epoch(stop_after: int) -> None:
    x, y = index_data(95)
    ref_loader = TensorLoader(x, y, 10, True, gen(11))
    reference = [collect(ref_loader) for _ in range(3)]  # the uninterrupted run, 3 epochs

    loader = TensorLoader(x, y, 10, True, gen(11))
    collect(loader)  # epoch 0
    it = iter(loader)
    head = [next(it)[1].clone() for _ in range(stop_after)]
    state = loader.state_dict()
    assert state["position"] == stop_after % len(loader) and state["epoch"] == (1 if stop_after < 10 else 2)
    del it

    resumed = TensorLoader(x, y, 10, True, gen(999))  # different seed: the state must override it
    resumed.load_state_dict(state)
    rest = collect(resumed)
    assert len(head) + len(rest) == len(reference[1])
    for got, want in zip(head + rest, reference[1], strict=True):
        assert torch.equal(got, want)
    for got, want in zip(collect(resumed), reference[2], strict=True):
        assert torch.equal(got, want)


def test_loader_state_after_last_batch_points_to_next_epoch() -> None:
    x, y = index_data(30)
    ref = TensorLoader(x, y, 10, True, gen(4))
    reference = [collect(ref) for _ in range(2)]
    loader = TensorLoader(x, y, 10, True, gen(4))
    it = iter(loader)
    for _ in range(3):
        next(it)  # all of epoch 0 handed out, StopIteration not yet asked for
    state = loader.state_dict()
    assert state["epoch"] == 1 and state["position"] == 0
    resumed = TensorLoader(x, y, 10, True, gen(0))
    resumed.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(collect(resumed), reference[1], strict=True))


def test_loader_transform_and_validation() -> None:
    x, y = index_data(12)
    loader = TensorLoader(x, y, 5, transform=lambda xb: xb.float() / 255)
    xb, _ = next(iter(loader))
    assert xb.dtype == torch.float32
    with pytest.raises(ValueError, match="needs an explicit generator"):
        TensorLoader(x, y, 5, shuffle=True)
    with pytest.raises(ValueError, match="batch_size"):
        TensorLoader(x, y, 0)
    with pytest.raises(ValueError, match="first dimension"):
        TensorLoader(x, y[:-1], 4)
    other = TensorLoader(x, y, 4, True, gen(0))
    with pytest.raises(ValueError, match="batches of 5"):
        other.load_state_dict(TensorLoader(x, y, 5, True, gen(0)).state_dict())


# ---------------------------------------------------------------------------------------- real data


def test_digits_always_loads() -> None:
    ds = load_dataset("digits")
    assert ds.image_shape == (1, 8, 8) and ds.train_x.dtype == torch.uint8
    assert ds.train_x.shape[0] == 1437 and ds.test_x.shape[0] == 360 and ds.num_classes == 10
    assert int(ds.train_x.max()) == 255 and int(ds.train_x.min()) == 0
    from sklearn.datasets import load_digits

    raw = load_digits()
    # Every train image is one of sklearn's, scaled by 255/16 and rounded.
    scaled = torch.from_numpy(np.rint(raw.images * 255 / 16).astype(np.uint8)).flatten(1)
    flat = ds.train_x.flatten(1)
    match = (flat[:, None, :] == scaled[None, :50, :]).all(-1)
    assert match.any()
    counts = torch.bincount(ds.test_y, minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37  # stratified 20 %
    assert torch.equal(load_dataset("digits").test_x, ds.test_x)  # fixed split


SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not SYSTEM_FASHION.is_dir(),
    reason="Debian package dataset-fashion-mnist not installed (/usr/share/datasets/fashion-mnist absent)",
)
def test_real_fashion_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUGKIT_DATA", raising=False)
    ds = load_dataset("fashion-mnist")
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.train_y).tolist() == [6000] * 10
    assert torch.bincount(ds.test_y).tolist() == [1000] * 10
    # Published statistics of Fashion-MNIST's training set: mean 0.2860, std 0.3530.
    assert abs(ds.mean()[0] - 0.2860) < 5e-4 and abs(ds.std()[0] - 0.3530) < 5e-4


# ------------------------------------------------------------------- bad input (reliability issue)


def test_explicit_missing_data_dir_is_an_error_not_a_fallback(
    tmp_path: Path, no_system_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``data_dir`` that does not exist names ``data_dir`` and the path; a complete copy
    elsewhere ($AUGKIT_DATA here, the system folder on a Debian machine) is not used."""
    write_idx_dataset(tmp_path / "env" / "fashion-mnist", gz=False)
    monkeypatch.setenv("AUGKIT_DATA", str(tmp_path / "env"))
    absent = tmp_path / "nonexistent"
    for call in (load_dataset, find_dataset_dir):
        with pytest.raises(DatasetNotFound, match=rf"data_dir {absent} does not exist"):
            call("fashion-mnist", absent)
    assert not available("fashion-mnist", absent)
    assert load_dataset("fashion-mnist").train_x.shape[0] == 20  # data_dir=None keeps the fallback
    with pytest.raises(TypeError, match="data_dir must be"):
        load_dataset("fashion-mnist", 3)


def test_system_folder_is_not_used_when_data_dir_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "usr-share" / "fashion-mnist"
    write_idx_dataset(system, gz=False)
    info = DATASETS["fashion-mnist"]
    spec = dataclasses.replace(info.search, system_dirs=(str(system),))
    monkeypatch.setitem(DATASETS, "fashion-mnist", dataclasses.replace(info, search=spec))
    monkeypatch.delenv("AUGKIT_DATA", raising=False)
    assert find_dataset_dir("fashion-mnist") == system
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFound, match=r"empty \(data_dir\): missing") as err:
        load_dataset("fashion-mnist", tmp_path / "empty")
    assert str(system) not in str(err.value)


def test_idx_labels_out_of_range_name_the_file(tmp_path: Path) -> None:
    arrays = write_idx_dataset(tmp_path, gz=False)
    bad = arrays[IDX_NAMES[3]].copy()
    bad[4] = 10  # K = 10 classes: labels 0..9
    write_idx(tmp_path / IDX_NAMES[3], bad)
    msg = rf"IDX file .*{IDX_NAMES[3]}: labels must lie in \[0, 10\), got 10 at index 4"
    with pytest.raises(ValueError, match=msg):
        load_dataset("mnist", tmp_path)
    with pytest.raises(ValueError, match=IDX_NAMES[3]):
        read_idx_labels(tmp_path / IDX_NAMES[3], num_classes=10)
    assert read_idx_labels(tmp_path / IDX_NAMES[3]).max() == 10  # without K: no range to check


@pytest.mark.parametrize("label", [10, -1, 1.5, True])
def test_cifar_bad_labels_name_the_file(tmp_path: Path, label: object) -> None:
    d = tmp_path / "cifar-10-batches-py"
    for name in [*(f"data_batch_{j}" for j in range(1, 6)), "test_batch"]:
        labels = [0, 1, 2] if name != "test_batch" else [0, label, 2]
        write_pickle(d / name, {b"data": RNG.integers(0, 256, (3, 3072), dtype=np.uint8), b"labels": labels})
    write_pickle(d / "batches.meta", {b"label_names": [f"c{k}".encode() for k in range(10)]})
    with pytest.raises(ValueError, match=r"CIFAR file .*test_batch: b'labels'"):
        load_dataset("cifar10", tmp_path)


def test_empty_test_split_is_refused(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path / "idx", gz=False, n_test=0)
    with pytest.raises(ValueError, match=r"dataset 'mnist' in .*idx: the test split holds no images"):
        load_dataset("mnist", tmp_path / "idx")
    for label, cls in enumerate(("cat", "dog")):
        save_png(tmp_path / "img" / "train" / cls / "0.png", np.full((4, 4, 3), label, np.uint8))
        (tmp_path / "img" / "test" / cls).mkdir(parents=True)
    with pytest.raises(ValueError, match=r"image folder .*test: the test split holds no image files"):
        load_dataset("folder", tmp_path / "img")
