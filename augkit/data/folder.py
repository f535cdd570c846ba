"""Reader for a folder of image files laid out one sub-folder per class.

Two layouts (the ImageFolder convention of torchvision / Keras ``image_dataset_from_directory``):

- ``root/train/<class>/*`` and ``root/test/<class>/*``: the split is given.
- ``root/<class>/*``: one pool, split into train / test by a stratified, fixed-seed fraction.

Choices:
- Classes are the sorted sub-folder names of ``train/`` (or ``root``); label ``k`` is the k-th
  name.  A test class that has no train folder is an error; a train class without test
  images is allowed.
- Every image must have the same size.  Nothing is resized: a silent resize would change the
  data a method is evaluated on, so a mismatch is an error naming the file.
- Colour: ``1``/``L``/``LA`` images are grayscale (alpha dropped); every other 8-bit mode is
  converted to RGB by Pillow (alpha dropped, palette expanded).  If any image is RGB, grayscale
  images are replicated to 3 channels.  16-bit and float modes (``I;16``, ``I``, ``F``) are
  rejected: scaling them to 8 bits is a choice the caller should make.
- Files are read in sorted order, so the result does not depend on the file system.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .base import ImageDataset
from .subsets import train_val_split

__all__ = ["IMAGE_EXTENSIONS", "find_class_dirs", "load_image_folder"]

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
)
_GRAY_MODES = frozenset({"1", "L", "LA"})
_UNSUPPORTED_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def find_class_dirs(root: Path) -> list[Path]:
    """Sorted, non-hidden sub-folders of ``root``."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(class_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in class_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _decode(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in _UNSUPPORTED_MODES:
                raise ValueError(
                    f"image {path}: mode {im.mode!r} (16-bit or float) is not supported; "
                    "convert the folder to 8-bit images first"
                )
            im = im.convert("L" if im.mode in _GRAY_MODES else "RGB")
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"image {path}: cannot be decoded ({err})") from err


def _read_split(
    split_root: Path, class_names: tuple[str, ...], ref: dict, required: bool
) -> tuple[list[np.ndarray], list[int]]:
    """Decode every image under ``split_root/<class>/``; ``ref`` carries the first file and size."""
    images: list[np.ndarray] = []
    labels: list[int] = []
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
        for path in files:
            arr = _decode(path)
            size = arr.shape[:2]
            if "size" not in ref:
                ref["size"], ref["file"] = size, path
            elif size != ref["size"]:
                raise ValueError(
                    f"image {path}: size {size[1]}x{size[0]} (WxH) differs from {ref['size'][1]}x"
                    f"{ref['size'][0]} of {ref['file']}; all images must have the same size"
                )
            images.append(arr)
            labels.append(index[class_dir.name])
    return images, labels


def _to_tensor(images: list[np.ndarray], channels: int) -> Tensor:
    if not images:
        return torch.empty((0, channels, 0, 0), dtype=torch.uint8)
    arrs = [a[..., None] if a.ndim == 2 else a for a in images]
    if channels == 3:
        arrs = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrs]
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrs).transpose(0, 3, 1, 2)))


def load_image_folder(root: str | Path, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """Load ``root`` in either layout of the module docstring.

    ``test_fraction`` and ``seed`` apply only to the single-pool layout: a stratified split drawn
    from ``torch.Generator().manual_seed(seed)``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a directory")
    presplit = (root / "train").is_dir() and (root / "test").is_dir()
    if not presplit and not (isinstance(test_fraction, float) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must be a float in (0, 1), got {test_fraction!r}")
    train_root = root / "train" if presplit else root
    class_dirs = find_class_dirs(train_root)
    if not class_dirs:
        raise ValueError(f"image folder {train_root}: no class sub-folders found")
    classes = tuple(d.name for d in class_dirs)
    ref: dict = {}
    train_imgs, train_lab = _read_split(train_root, classes, ref, required=True)
    test_imgs, test_lab = _read_split(root / "test", classes, ref, required=False) if presplit else ([], [])
    channels = 3 if any(a.ndim == 3 for a in train_imgs + test_imgs) else 1
    x = _to_tensor(train_imgs, channels)
    y = torch.tensor(train_lab, dtype=torch.int64)
    if presplit:
        if not test_imgs:
            raise ValueError(f"image folder {root / 'test'}: the test split holds no image files")
        test_x = _to_tensor(test_imgs, channels)
        test_y = torch.tensor(test_lab, dtype=torch.int64)
        return ImageDataset("folder", x, y, test_x, test_y, classes)
    train_idx, test_idx = train_val_split(y, test_fraction, torch.Generator().manual_seed(seed))
    return ImageDataset("folder", x[train_idx], y[train_idx], x[test_idx], y[test_idx], classes)
