"""Reader for IDX files, the MNIST / Fashion-MNIST storage format.

Format (LeCun et al., http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE";
Fashion-MNIST, Xiao et al. 2017, arXiv:1708.07747, ships the same format): a 4-byte magic
``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32 dimensions, then the payload in
row-major order, big-endian.  Images are ``0x00000803`` (uint8, 3 dims N x H x W), labels
``0x00000801`` (uint8, 1 dim N).

Choices: a file is gzip-compressed when it starts with the gzip magic ``1f 8b`` (whatever its
name), so renamed or hand-decompressed files load too.  The payload must be *exactly* the product
of the dimensions: short files are truncated downloads, longer ones are not IDX files we
understand; both are errors rather than silently reshaped data.  The whole file is read into
memory (47 MB for the largest file of the supported datasets).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "IDX_IMAGES_MAGIC",
    "IDX_LABELS_MAGIC",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "read_idx_pair",
]

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801

# IDX type code -> big-endian numpy dtype (from the format description cited above).
_IDX_TYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"IDX file {path} does not exist") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise ValueError(f"IDX file {path}: corrupt or truncated gzip stream ({err})") from err


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (raw or gzip) into a numpy array of its declared shape and type.

    Raises ``ValueError`` naming the file when the magic is wrong (or differs from
    ``expected_magic``), the header is short, or the payload size does not match the dimensions.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"IDX file {path}: only {len(data)} bytes, too short for the 4-byte magic number")
    (magic,) = struct.unpack(">I", data[:4])
    type_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16 != 0 or type_code not in _IDX_TYPES or ndim == 0:
        raise ValueError(
            f"IDX file {path}: bad magic number 0x{magic:08x}; expected 0x0000TTNN with type TT in "
            f"{{{', '.join(f'0x{t:02x}' for t in _IDX_TYPES)}}} and NN >= 1 dimensions "
            "(is this an IDX file?)"
        )
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(f"IDX file {path}: magic number 0x{magic:08x}, expected 0x{expected_magic:08x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"IDX file {path}: truncated header, {ndim} dimensions need {header} bytes, file has {len(data)}"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_TYPES[type_code])
    expected = math.prod(dims) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        problem = "truncated" if got < expected else "has trailing bytes"
        raise ValueError(
            f"IDX file {path}: payload {problem}: dimensions {dims} need {expected} bytes after the "
            f"{header}-byte header, found {got}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def read_idx_images(path: str | Path) -> Tensor:
    """Read an image IDX file (magic 0x00000803) as a uint8 ``(N, 1, H, W)`` tensor."""
    arr = read_idx(path, IDX_IMAGES_MAGIC)
    if arr.ndim != 3:
        raise ValueError(f"IDX file {path}: image files have 3 dimensions (N, H, W), got {arr.shape}")
    return torch.from_numpy(arr.copy()).unsqueeze(1)


def read_idx_labels(path: str | Path, num_classes: int | None = None) -> Tensor:
    """Read a label IDX file (magic 0x00000801) as an int64 ``(N,)`` tensor.

    With ``num_classes`` every label must lie in ``[0, num_classes)`` (error naming the file).
    """
    arr = read_idx(path, IDX_LABELS_MAGIC)
    if num_classes is not None and arr.size and int(arr.max()) >= num_classes:  # uint8: never < 0
        bad = int(np.argmax(arr >= num_classes))
        raise ValueError(
            f"IDX file {path}: labels must lie in [0, {num_classes}), got {int(arr[bad])} at index {bad} "
            f"(range [{int(arr.min())}, {int(arr.max())}])"
        )
    return torch.from_numpy(arr.astype(np.int64))


def read_idx_pair(
    images_path: str | Path, labels_path: str | Path, num_classes: int | None = None
) -> tuple[Tensor, Tensor]:
    """Read matching image and label IDX files; their counts must agree (labels as ``read_idx_labels``)."""
    x = read_idx_images(images_path)
    y = read_idx_labels(labels_path, num_classes)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"IDX files disagree: {images_path} holds {x.shape[0]} images, "
            f"{labels_path} holds {y.shape[0]} labels"
        )
    return x, y
