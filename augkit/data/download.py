"""The one explicit, opt-in download helper (nothing else in augkit touches the network).

``download`` streams a URL to a temporary file beside ``dest``, checks its SHA-256 and only then
moves it into place with ``os.replace`` (atomic on POSIX and Windows), so an interrupted or
corrupted transfer never leaves a file that looks complete.

Choices:
- A ``dest`` that already exists with the right checksum is kept and nothing is fetched; one with
  the wrong checksum (e.g. an old partial copy) is replaced by a fresh download.
- The checksum is mandatory: a file we cannot verify is a file we cannot cite in a result.
- ``FASHION_MNIST_FILES`` gives the SHA-256 of Zalando's published ``.gz`` files.  The values agree
  in two independent public sources (the ``mnists`` script by C. Olding and the ``batchup``
  library by G. French), and their MD5s match those of the Fashion-MNIST README.  The Debian
  package ``dataset-fashion-mnist`` ships recompressed ``.gz`` files with other hashes but the
  same content; it needs no download.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = ["FASHION_MNIST_FILES", "FASHION_MNIST_URL", "download", "download_fashion_mnist", "sha256_of"]

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# file name -> SHA-256 of the upstream gzip file (see module docstring for the sources).
FASHION_MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
    "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
    "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
    "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
}

_SCHEMES = ("http", "https", "file")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: str | Path, sha256: str, timeout: float = 60) -> Path:
    """Fetch ``url`` to ``dest`` and verify it; return ``dest``.

    Raises ``ValueError`` (and leaves neither ``dest`` nor a temporary file) when the content's
    SHA-256 differs from ``sha256``; network errors propagate as ``urllib.error.URLError``/``OSError``.
    """
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in _SCHEMES:
        raise ValueError(f"url must be a {'/'.join(_SCHEMES)} URL, got {url!r}")
    if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256.strip().lower()):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    expected = sha256.strip().lower()
    dest = Path(dest)
    if dest.is_file() and sha256_of(dest) == expected:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != expected:
            raise ValueError(
                f"checksum mismatch for {url}: expected SHA-256 {expected}, got {got}; {dest} not written"
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a data file is world-readable like any download
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def download_fashion_mnist(
    dest_dir: str | Path, timeout: float = 60, base_url: str = FASHION_MNIST_URL
) -> Path:
    """Fetch the four Fashion-MNIST files into ``dest_dir`` (verified); return ``dest_dir``.

    Afterwards ``load_dataset("fashion-mnist", data_dir=dest_dir)`` finds them.
    """
    dest_dir = Path(dest_dir)
    for name, digest in FASHION_MNIST_FILES.items():
        download(urllib.parse.urljoin(base_url, name), dest_dir / name, digest, timeout=timeout)
    return dest_dir
