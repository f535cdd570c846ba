"""Images kept as files and read on demand: the training split of a streamed image folder.

A folder too large to decode into one tensor is held as :class:`FileImages`: the file paths,
the common image size and channel count, and every image's per-channel pixel sums.  It stands
where ``ImageDataset.train_x`` holds a tensor on the tensor path.

Choices:
- One checking pass (:func:`scan_files`) decodes every file once, in ``torch.utils.data``
  worker processes, before any split: an unreadable file is found before training starts (and
  ``bad_files="skip"`` drops it before the splits are drawn, so the stream path keeps exactly
  the images the tensor path keeps), and the exact integer sums of ``v`` and ``v**2`` per image
  and channel are kept, so ``mean()``/``std()`` of any subset are the tensor path's numbers to
  the bit.  The cost is one extra decode of the folder per run (not per epoch).
- Indexing reads: ``images[i]``, ``images[a:b]`` and ``images[idx]`` decode and return uint8
  tensors, which is what a caller that slices a few images (a gallery, the training-error
  sample) expects; ``images.subset(idx)`` is the lazy view that splits and subsets take.
- Decoding follows ``folder.py``: ``1``/``L``/``LA`` are grayscale, every other 8-bit mode is
  converted to RGB by Pillow, 16-bit and float modes are refused; a grayscale image in a colour
  folder is replicated to 3 channels.  An image whose size differs from the folder's is an
  error naming the file and both sizes (nothing is resized).
- Errors found in a worker travel back as values and are raised in the calling process, so the
  message is one line naming the file (not a worker traceback).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, default_collate

__all__ = [
    "BAD_FILES",
    "LOADERS",
    "STREAM_ABOVE_BYTES",
    "FileImages",
    "ImageFiles",
    "checked",
    "decode_image",
    "keep_as_files",
    "scan_files",
    "stack_uint8",
    "to_chw",
]

BAD_FILES = ("error", "skip")
LOADERS = ("auto", "tensor", "stream")
# loader="auto" streams an image folder whose decoded uint8 size would exceed this (about 7,100
# RGB images of 224 x 224, or 1.1 M of 32 x 32): below it one tensor is cheaper than any worker pool
STREAM_ABOVE_BYTES = 1 << 30
_GRAY_MODES = frozenset({"1", "L", "LA"})
_UNSUPPORTED_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_SCAN_BATCH = 64  # files per worker task in the checking pass


def decode_image(path: str | Path) -> np.ndarray:
    """``(H, W)`` (grayscale) or ``(H, W, 3)`` uint8 pixels of one file; ValueError naming it."""
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


def to_chw(arr: np.ndarray, channels: int) -> Tensor:
    """``(C, H, W)`` uint8 tensor; a grayscale array is replicated when ``channels == 3``."""
    a = arr[..., None] if arr.ndim == 2 else arr
    if channels == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return torch.from_numpy(a.transpose(2, 0, 1).copy())  # a writable, contiguous copy


def keep_as_files(loader: str, n_images: int, shape: tuple[int, int, int]) -> bool:
    """Whether an image folder of ``n_images`` of ``shape`` (C, H, W) stays as files (streamed).

    ``tensor``: never; ``stream``: always; ``auto``: when the decoded uint8 size would exceed
    ``STREAM_ABOVE_BYTES``.
    """
    if loader not in LOADERS:
        raise ValueError(f"loader must be one of {list(LOADERS)}, got {loader!r}")
    c, h, w = shape
    return loader == "stream" or (loader == "auto" and n_images * c * h * w > STREAM_ABOVE_BYTES)


def size_error(path: str, hw: tuple[int, int], ref_hw: tuple[int, int], ref_file: str) -> ValueError:
    return ValueError(
        f"image {path}: size {hw[1]}x{hw[0]} (WxH) differs from {ref_hw[1]}x{ref_hw[0]} of {ref_file}; "
        "all images must have the same size (nothing is resized)"
    )


def _loader(dataset: Dataset, workers: int, batch: int) -> DataLoader:
    """Sequential batches of Python lists; a private generator keeps the global RNG untouched."""
    return DataLoader(
        dataset, batch_size=batch, num_workers=workers, collate_fn=list, generator=torch.Generator()
    )


# ------------------------------------------------------------------------------- the checking pass


@dataclass(frozen=True)
class Scanned:
    """What the checking pass learns about one file (``error`` set: nothing else is)."""

    path: str
    error: str | None = None
    hw: tuple[int, int] = (0, 0)
    rgb: bool = False
    sums: tuple[int, ...] = ()
    sq_sums: tuple[int, ...] = ()


class _ScanSet(Dataset):
    def __init__(self, files: Sequence[str]) -> None:
        self.files = list(files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Scanned:
        path = self.files[i]
        try:
            arr = decode_image(path)
        except ValueError as err:
            return Scanned(path, error=str(err))
        v = (arr[..., None] if arr.ndim == 2 else arr).astype(np.int32)
        sums = v.sum(axis=(0, 1), dtype=np.int64)
        sq = (v * v).sum(axis=(0, 1), dtype=np.int64)
        return Scanned(path, None, arr.shape[:2], arr.ndim == 3, tuple(map(int, sums)), tuple(map(int, sq)))


def scan_files(files: Sequence[str], workers: int = 0) -> list[Scanned]:
    """Decode every file once (in ``workers`` processes; 0 = here) and report each, in order."""
    return [s for batch in _loader(_ScanSet(files), workers, _SCAN_BATCH) for s in batch]


# ------------------------------------------------------------------------------- reading


class ImageFiles(Dataset):
    """``torch.utils.data`` view of files: item ``i`` is ``(C, H, W)`` uint8 or an error string.

    An error is returned, not raised, so that the caller raises it as one line naming the file.
    """

    def __init__(self, files: Sequence[str], channels: int, hw: tuple[int, int]) -> None:
        self.files, self.channels, self.hw = list(files), int(channels), tuple(hw)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tensor | str:
        path = self.files[i]
        try:
            arr = decode_image(path)
        except ValueError as err:
            return f"{err} (it was readable when the folder was checked)"
        if arr.shape[:2] != self.hw:
            return str(size_error(path, arr.shape[:2], self.hw, "the folder's other images"))
        return to_chw(arr, self.channels)


def stack_uint8(items: list[Tensor | str]) -> Tensor | str:
    """Collate that keeps uint8 (no float conversion); a read error comes back as its message.

    It runs in the worker, so it returns the error instead of raising (a worker's exception
    reaches the caller wrapped in a multi-line traceback); :func:`checked` raises it.
    """
    for item in items:
        if isinstance(item, str):
            return item
    # default_collate stacks into shared memory when it runs in a worker (no copy on the way back)
    return default_collate(items)


def checked(batch: Tensor | str) -> Tensor:
    """The batch, or a one-line ValueError naming the file that could not be read."""
    if isinstance(batch, str):
        raise ValueError(batch)
    return batch


@dataclass(frozen=True, eq=False)
class FileImages:
    """``N`` same-size images stored as files; ``shape`` and ``dtype`` read like a uint8 tensor's."""

    files: tuple[str, ...]
    channels: int
    hw: tuple[int, int]
    sums: Tensor  # int64 (N, C): per-image channel sums of the 0..255 values
    sq_sums: Tensor  # int64 (N, C): per-image channel sums of their squares

    dtype = torch.uint8
    ndim = 4

    def __post_init__(self) -> None:
        n, c = len(self.files), self.channels
        if c not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {c!r}")
        for name in ("sums", "sq_sums"):
            t = getattr(self, name)
            if not isinstance(t, Tensor) or t.dtype != torch.int64 or tuple(t.shape) != (n, c):
                raise ValueError(f"{name} must be an int64 ({n}, {c}) tensor, got {t!r:.60}")

    @classmethod
    def from_scan(cls, scanned: Sequence[Scanned], channels: int) -> FileImages:
        """Build from checked files (all readable, one size); grayscale sums replicate for RGB."""
        if not scanned:
            return cls((), channels, (0, 0), *(torch.zeros((0, channels), dtype=torch.int64),) * 2)

        def rows(attr: str) -> Tensor:
            vals = [getattr(s, attr) * (channels if len(getattr(s, attr)) == 1 else 1) for s in scanned]
            return torch.tensor(vals, dtype=torch.int64)

        files = tuple(s.path for s in scanned)
        return cls(files, channels, tuple(scanned[0].hw), rows("sums"), rows("sq_sums"))

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.files), self.channels, *self.hw))

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, idx: Tensor | Sequence[int]) -> FileImages:
        """The images at ``idx`` (indices in that order, or a boolean mask), still as files."""
        idx = torch.as_tensor(idx)
        idx = idx.nonzero().reshape(-1) if idx.dtype == torch.bool else idx.to(torch.int64).reshape(-1)
        files = tuple(self.files[i] for i in idx.tolist())
        return FileImages(files, self.channels, self.hw, self.sums[idx], self.sq_sums[idx])

    def reader(self) -> ImageFiles:
        return ImageFiles(self.files, self.channels, self.hw)

    def decode(self, workers: int = 0) -> Tensor:
        """Every image as one ``(N, C, H, W)`` uint8 tensor (for small splits: val, test, samples)."""
        if not self.files:
            return torch.empty((0, self.channels, *self.hw), dtype=torch.uint8)
        loader = _loader(self.reader(), workers, _SCAN_BATCH)
        x = torch.cat([checked(stack_uint8(b)) for b in loader])
        if self.channels == 1:  # the tensor path's strides: its numpy stack leaves 1-channel images
            h, w = self.hw  # with NHWC strides (the same bytes), and CPU kernels choose by strides
            x = x.as_strided(x.shape, (h * w, 1, w, 1))
        return x

    def __getitem__(self, key: int | slice | Tensor | Sequence[int]) -> Tensor:
        """Decoded pixels: ``(C, H, W)`` for an int, ``(k, C, H, W)`` for a slice or an index list."""
        if isinstance(key, int) or (isinstance(key, Tensor) and key.ndim == 0):
            return self.subset([int(key)]).decode()[0]
        if isinstance(key, slice):
            return self.subset(range(len(self.files))[key]).decode()
        return self.subset(key).decode()

    def __repr__(self) -> str:
        return f"FileImages({len(self.files)} files, shape={tuple(self.shape)})"
