"""Reader for a folder of image files laid out one sub-folder per class.

Two layouts (the ImageFolder convention of torchvision / Keras ``image_dataset_from_directory``):

- ``root/train/<class>/*`` and ``root/test/<class>/*``: the split is given.
- ``root/<class>/*``: one pool, split into train / test by a stratified, fixed-seed fraction.

Choices:
- Classes are the sorted sub-folder names of ``train/`` (or ``root``); label ``k`` is the k-th
  name.  A test class that has no train folder is an error; a train class without test
  images is allowed.
- Every image must have the same size.  Nothing is resized: a silent resize would change the
  data a method is evaluated on, so a mismatch is an error naming the file and both sizes.
- Colour: ``1``/``L``/``LA`` images are grayscale (alpha dropped); every other 8-bit mode is
  converted to RGB by Pillow (alpha dropped, palette expanded).  If any image is RGB, grayscale
  images are replicated to 3 channels.  16-bit and float modes (``I;16``, ``I``, ``F``) are
  rejected: scaling them to 8 bits is a choice the caller should make.
- Files are read in sorted order, so the result does not depend on the file system.  A name
  with an image extension that is not a readable file (a dangling link) is a bad file, not
  silently ignored.
- Bad files (missing, not an image, truncated, unsupported mode): ``bad_files="error"`` stops
  at the first, naming it; ``"skip"`` leaves every one out *before* the train/test split is
  drawn, prints how many to stderr and keeps them in ``ImageDataset.skipped``.  Never silent.
- ``loader``: ``"tensor"`` decodes every image into one tensor (the original behaviour);
  ``"stream"`` keeps the training images as files (:class:`~augkit.data.files.FileImages`,
  streamed by :class:`~augkit.data.stream.StreamLoader`) and decodes only the test split;
  ``"auto"`` streams when the decoded folder would exceed ``files.STREAM_ABOVE_BYTES`` (1 GiB),
  estimated from the file count and the first file's header.  Both give the same images,
  labels, split and statistics.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .base import ImageDataset
from .files import BAD_FILES, LOADERS, FileImages, decode_image, keep_as_files, scan_files, size_error
from .subsets import train_val_split

__all__ = ["IMAGE_EXTENSIONS", "find_class_dirs", "load_image_folder"]

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
)
_GRAY_MODES = frozenset({"1", "L", "LA"})
_SKIP_HINT = "; --bad-files skip (bad_files='skip') leaves unreadable files out, counted"


def find_class_dirs(root: Path) -> list[Path]:
    """Sorted, non-hidden sub-folders of ``root``."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(class_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in class_dir.iterdir()
        if not p.is_dir() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _list_split(split_root: Path, class_names: tuple[str, ...], required: bool) -> list[tuple[Path, int]]:
    """``(file, label)`` of every image file under ``split_root/<class>/``, sorted."""
    entries: list[tuple[Path, int]] = []
    index = {name: i for i, name in enumerate(class_names)}
    for class_dir in find_class_dirs(split_root):
        if class_dir.name not in index:
            raise ValueError(
                f"image folder {class_dir}: class {class_dir.name!r} has no training folder; "
                f"training classes are {list(class_names)}"
            )
        files = _image_files(class_dir)
        if not files and required:
            raise ValueError(
                f"image folder {class_dir}: no image files (extensions {sorted(IMAGE_EXTENSIONS)})"
            )
        entries.extend((path, index[class_dir.name]) for path in files)
    return entries


def _check(paths: list[Path], errors: list[str | None], sizes: list[tuple], bad_files: str) -> list[str]:
    """Apply the bad-file and same-size rules in file order; return the skipped ``path: reason``s."""
    skipped: list[str] = []
    ref: tuple | None = None
    for path, err, size in zip(paths, errors, sizes, strict=True):
        if err is not None:
            if bad_files == "error":
                raise ValueError(err + _SKIP_HINT)
            skipped.append(err)
        elif ref is None:
            ref = (size, path)
        elif size != ref[0]:
            raise size_error(str(path), size, ref[0], str(ref[1]))
    return skipped


def _decode_all(paths: list[Path]) -> tuple[list[np.ndarray | None], list[str | None]]:
    arrays: list[np.ndarray | None] = []
    errors: list[str | None] = []
    for path in paths:
        try:
            arrays.append(decode_image(path))
            errors.append(None)
        except ValueError as err:
            arrays.append(None)
            errors.append(str(err))
    return arrays, errors


def _to_tensor(images: list[np.ndarray], channels: int) -> Tensor:
    if not images:
        return torch.empty((0, channels, 0, 0), dtype=torch.uint8)
    arrs = [a[..., None] if a.ndim == 2 else a for a in images]
    if channels == 3:
        arrs = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrs]
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrs).transpose(0, 3, 1, 2)))


def _peek_shape(paths: list[Path]) -> tuple[int, int, int] | None:
    """``(C, H, W)`` from the header of the first file that opens (no pixels decoded)."""
    from PIL import Image

    for path in paths:
        try:
            with Image.open(path) as im:
                return (1 if im.mode in _GRAY_MODES else 3, im.height, im.width)
        except Exception:  # noqa: BLE001 - a bad file is reported by the checking pass, not here
            continue
    return None


def _decoded_splits(paths: list[Path], bad_files: str) -> tuple[list[bool], list[str], int, list]:
    """Tensor path: decode everything here; keep mask, skipped, channels and the kept arrays."""
    arrays, errors = _decode_all(paths)
    sizes = [None if a is None else a.shape[:2] for a in arrays]
    skipped = _check(paths, errors, sizes, bad_files)
    kept = [a for a in arrays if a is not None]
    channels = 3 if any(a.ndim == 3 for a in kept) else 1
    return [a is not None for a in arrays], skipped, channels, kept


def _file_splits(paths: list[Path], bad_files: str, workers: int) -> tuple[list[bool], list[str], int, list]:
    """Stream path: one checking pass in workers; keep mask, skipped, channels and the kept scans."""
    scanned = scan_files([str(p) for p in paths], workers)
    skipped = _check(paths, [s.error for s in scanned], [s.hw for s in scanned], bad_files)
    kept = [s for s in scanned if s.error is None]
    channels = 3 if any(s.rgb for s in kept) else 1
    return [s.error is None for s in scanned], skipped, channels, kept


def _check_options(test_fraction: float, presplit: bool, bad_files: str, loader: str, workers: int) -> None:
    if not presplit and not (isinstance(test_fraction, float) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must be a float in (0, 1), got {test_fraction!r}")
    if bad_files not in BAD_FILES:
        raise ValueError(f"bad_files must be one of {list(BAD_FILES)}, got {bad_files!r}")
    if loader not in LOADERS:
        raise ValueError(f"loader must be one of {list(LOADERS)}, got {loader!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an int >= 0, got {workers!r}")


def load_image_folder(
    root: str | Path,
    test_fraction: float = 0.2,
    seed: int = 0,
    bad_files: str = "error",
    loader: str = "auto",
    workers: int = 0,
) -> ImageDataset:
    """Load ``root`` in either layout of the module docstring.

    ``test_fraction`` and ``seed`` apply only to the single-pool layout: a stratified split drawn
    from ``torch.Generator().manual_seed(seed)``.  ``bad_files`` and ``loader``: see the module
    docstring; ``workers``: decode processes of the stream path's checking pass (0 = here).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a directory")
    presplit = (root / "train").is_dir() and (root / "test").is_dir()
    _check_options(test_fraction, presplit, bad_files, loader, workers)
    train_root = root / "train" if presplit else root
    class_dirs = find_class_dirs(train_root)
    if not class_dirs:
        raise ValueError(f"image folder {train_root}: no class sub-folders found")
    classes = tuple(d.name for d in class_dirs)
    entries = _list_split(train_root, classes, required=True)
    n_train = len(entries)
    entries += _list_split(root / "test", classes, required=False) if presplit else []
    paths = [p for p, _ in entries]
    shape = _peek_shape(paths)
    lazy = shape is not None and keep_as_files(loader, len(paths), shape)
    keep, skipped, channels, kept = (
        _file_splits(paths, bad_files, workers) if lazy else _decoded_splits(paths, bad_files)
    )
    if skipped:
        print(
            f"image folder {root}: skipped {len(skipped)} unreadable image file(s) (bad_files='skip'); "
            f"first: {skipped[0]}",
            file=sys.stderr,
            flush=True,
        )
    labels = torch.tensor([lab for (_, lab), k in zip(entries, keep, strict=True) if k], dtype=torch.int64)
    is_train = torch.tensor([i < n_train for i, k in enumerate(keep) if k], dtype=torch.bool)
    x = FileImages.from_scan(kept, channels) if lazy else _to_tensor(kept, channels)
    return _split(root, x, labels, is_train, presplit, test_fraction, seed, classes, tuple(skipped), workers)


def _take(x: Tensor | FileImages, idx: Tensor) -> Tensor | FileImages:
    return x.subset(idx) if isinstance(x, FileImages) else x[idx]


def _split(root, x, y, is_train, presplit, test_fraction, seed, classes, skipped, workers) -> ImageDataset:
    """Train/test from the given split or the stratified pool split; test images always decoded."""
    if presplit:
        train_idx, test_idx = is_train.nonzero().reshape(-1), (~is_train).nonzero().reshape(-1)
        if test_idx.numel() == 0:
            raise ValueError(f"image folder {root / 'test'}: the test split holds no image files")
        if train_idx.numel() == 0:
            raise ValueError(f"image folder {root / 'train'}: every training image was skipped as unreadable")
    else:
        if y.numel() < 2:
            raise ValueError(f"image folder {root}: {y.numel()} readable image(s); need at least 2 to split")
        train_idx, test_idx = train_val_split(y, test_fraction, torch.Generator().manual_seed(seed))
    test_x = _take(x, test_idx)
    if isinstance(test_x, FileImages):
        test_x = test_x.decode(workers)
    return ImageDataset(
        "folder", _take(x, train_idx), y[train_idx], test_x, y[test_idx], classes, skipped=skipped
    )
