"""Dataset names -> loaders, and where each loader looks for its files.

Lookup for file-based datasets (first folder holding *every* required file wins):

- ``data_dir`` given: ``data_dir`` itself, then each of its dataset sub-folders (e.g.
  ``fashion-mnist/``), and nowhere else.  A ``data_dir`` that does not exist, or holds no complete
  copy, is an error naming ``data_dir`` and the path: an explicit folder that silently fell back
  to another copy of the data would train on data the caller did not ask for.
- ``data_dir`` None: each entry of ``$AUGKIT_DATA`` (``os.pathsep``-separated), then its dataset
  sub-folders; then the system folder of a Debian data package, where one exists
  (``/usr/share/datasets/fashion-mnist`` from ``dataset-fashion-mnist``).

``load_dataset`` refuses a dataset whose train or test split holds no image (an empty test
set would report an error rate of 0/0).

Choices:
- The torchvision cache layouts (``FashionMNIST/raw``, ``MNIST/raw``) are searched as sub-folders
  too, so data already downloaded by other tools is found.
- An IDX file may be raw or gzip (``.gz``); the raw one is preferred when both exist.
- A miss raises ``DatasetNotFound`` (a ``FileNotFoundError``) listing every place searched and how
  to get the data; nothing is ever downloaded implicitly (see ``augkit.data.download``).
- ``DATASETS`` is a data table; there is no dispatch on names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .base import ImageDataset
from .cifar import CIFAR10_DIR, CIFAR10_FILES, CIFAR100_DIR, CIFAR100_FILES, load_cifar10, load_cifar100
from .digits import load_digits_dataset
from .folder import load_image_folder
from .idx import read_idx_pair
from .svhn import SVHN_FILES, load_svhn

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotFound",
    "FASHION_MNIST_CLASSES",
    "IDX_FILES",
    "MNIST_CLASSES",
    "SearchSpec",
    "available",
    "find_dataset_dir",
    "load_dataset",
]

ENV_VAR = "AUGKIT_DATA"

# Xiao et al. 2017 (arXiv:1708.07747), Table 1: label k is FASHION_MNIST_CLASSES[k].
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(d) for d in range(10))

# IDX file stems (each may also end in .gz): train images, train labels, test images, test labels.
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_IDX_ALTERNATIVES = tuple((stem, stem + ".gz") for stem in IDX_FILES)

_DOWNLOAD_HINT = (
    "python -c \"from augkit.data import download_fashion_mnist; download_fashion_mnist('DIR')\", "
    f"then pass data_dir=DIR or set {ENV_VAR}=DIR"
)


class DatasetNotFound(FileNotFoundError):
    """A dataset's files are in none of the searched places; ``searched`` lists them."""

    def __init__(self, message: str, searched: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.searched = searched


@dataclass(frozen=True)
class SearchSpec:
    """Where a file-based dataset may live and which files it needs."""

    files: tuple[tuple[str, ...], ...]  # each required file as its accepted names, preferred first
    subfolders: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    how_to_get: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetInfo:
    """One row of ``DATASETS``: ``load(directory)`` gets the folder that ``search`` located."""

    load: Callable[..., ImageDataset]
    description: str
    search: SearchSpec | None = None
    needs_data_dir: bool = False
    files: bool = False  # one file per image: load takes loader=, bad_files=, workers= (may stream)


def _resolve_files(directory: Path, files: tuple[tuple[str, ...], ...]) -> tuple[list[Path], list[str]]:
    """Paths of the required files in ``directory`` and the names of those missing."""
    found, missing = [], []
    for names in files:
        hit = next((directory / n for n in names if (directory / n).is_file()), None)
        if hit is None:
            missing.append("|".join(names))
        else:
            found.append(hit)
    return found, missing


def _roots(data_dir: str | Path | None) -> tuple[list[tuple[str, Path]], list[str]]:
    """Search roots with their origin, and notes for the sources that were absent."""
    if data_dir is not None:  # an explicit folder is the only place searched
        return [("data_dir", Path(data_dir))], []
    roots: list[tuple[str, Path]] = []
    notes = ["data_dir: not given"]
    env = os.environ.get(ENV_VAR, "")
    entries = [e for e in env.split(os.pathsep) if e]
    if not entries:
        notes.append(f"${ENV_VAR}: not set")
    roots.extend((f"${ENV_VAR}", Path(e)) for e in entries)
    return roots, notes


def _candidates(spec: SearchSpec, data_dir: str | Path | None) -> tuple[list[tuple[str, Path]], list[str]]:
    roots, notes = _roots(data_dir)
    cands = [(origin, d) for origin, root in roots for d in (root, *(root / s for s in spec.subfolders))]
    if data_dir is None:
        cands.extend(("system", Path(d)) for d in spec.system_dirs)
    return cands, notes


def _check_data_dir(name: str, data_dir: object) -> None:
    if data_dir is None:
        return
    if not isinstance(data_dir, (str, os.PathLike)) or not str(data_dir):
        raise TypeError(f"data_dir must be a non-empty str or os.PathLike path or None, got {data_dir!r}")
    if not Path(data_dir).is_dir():
        raise DatasetNotFound(
            f"dataset {name!r}: data_dir {data_dir} does not exist or is not a folder "
            "(pass data_dir=None to search $AUGKIT_DATA and the system folders)",
            (str(data_dir),),
        )


def _get(name: str) -> DatasetInfo:
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets are {sorted(DATASETS)}")
    return DATASETS[name]


def find_dataset_dir(name: str, data_dir: str | Path | None = None) -> Path | None:
    """The folder ``load_dataset(name, data_dir)`` would read (None for built-in data).

    Raises ``DatasetNotFound`` listing every place searched when the files are nowhere.
    """
    info = _get(name)
    if info.needs_data_dir and data_dir is None:
        raise ValueError(f"dataset {name!r} needs data_dir (the root folder of the images), got None")
    _check_data_dir(name, data_dir)
    if info.needs_data_dir:
        return Path(data_dir)
    if info.search is None:
        return None
    spec = info.search
    cands, notes = _candidates(spec, data_dir)
    lines = [f"  - {note}" for note in notes]
    for origin, d in cands:
        if not d.is_dir():
            lines.append(f"  - {d} ({origin}): does not exist")
            continue
        _, missing = _resolve_files(d, spec.files)
        if not missing:
            return d
        lines.append(f"  - {d} ({origin}): missing {', '.join(missing)}")
    wanted = ", ".join("|".join(alts) for alts in spec.files)
    message = "\n".join(
        [f"dataset {name!r} not found: need {wanted}. Searched:", *lines, "How to get it:"]
        + [f"  - {h}" for h in spec.how_to_get]
    )
    raise DatasetNotFound(message, tuple(str(d) for _, d in cands))


def available(name: str, data_dir: str | Path | None = None) -> bool:
    """Whether ``load_dataset(name, data_dir)`` would find its files (without reading them)."""
    if _get(name).needs_data_dir and data_dir is None:
        return False
    try:
        find_dataset_dir(name, data_dir)
    except DatasetNotFound:
        return False
    return True


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    loader: str = "auto",
    bad_files: str = "error",
    workers: int = 0,
) -> ImageDataset:
    """Load a dataset by name (see ``DATASETS``) from local files.

    ``loader``/``bad_files``/``workers`` apply to datasets of one file per image (``folder``:
    see :func:`augkit.data.folder.load_image_folder`); the others are read as one tensor, so
    ``loader="stream"`` is refused for them.
    """
    info = _get(name)
    if loader == "stream" and not info.files:
        raise ValueError(
            f"loader 'stream' (--loader stream): dataset {name!r} is read into memory as one tensor; "
            "streaming reads image folders (--dataset folder); use --loader auto or tensor"
        )
    directory = find_dataset_dir(name, data_dir)
    opts = {"loader": loader, "bad_files": bad_files, "workers": workers} if info.files else {}
    ds = info.load(directory, **opts)
    for split, x in (("train", ds.train_x), ("test", ds.test_x)):
        if x.shape[0] == 0:
            where = f" in {directory}" if directory is not None else ""
            raise ValueError(f"dataset {name!r}{where}: the {split} split holds no images; cannot use it")
    return ds


def _idx_loader(name: str, classes: tuple[str, ...]) -> Callable[[Path | None], ImageDataset]:
    def load(directory: Path | None) -> ImageDataset:
        if directory is None:
            raise ValueError(f"{name}: no folder located")
        paths, _ = _resolve_files(directory, _IDX_ALTERNATIVES)
        train_x, train_y = read_idx_pair(paths[0], paths[1], len(classes))
        test_x, test_y = read_idx_pair(paths[2], paths[3], len(classes))
        return ImageDataset(name, train_x, train_y, test_x, test_y, classes)

    return load


def _dir_loader(fn: Callable[..., ImageDataset]) -> Callable[..., ImageDataset]:
    def load(directory: Path | None, **options) -> ImageDataset:
        if directory is None:
            raise ValueError("no folder located")
        return fn(directory, **options)

    return load


DATASETS: dict[str, DatasetInfo] = {
    "fashion-mnist": DatasetInfo(
        load=_idx_loader("fashion-mnist", FASHION_MNIST_CLASSES),
        description="Fashion-MNIST (Xiao et al. 2017): 60,000/10,000 28x28 grayscale, 10 clothing classes",
        search=SearchSpec(
            files=_IDX_ALTERNATIVES,
            subfolders=("fashion-mnist", "FashionMNIST/raw"),
            system_dirs=("/usr/share/datasets/fashion-mnist",),
            how_to_get=(
                "Debian/Ubuntu: apt-get install dataset-fashion-mnist "
                "(installs the files in /usr/share/datasets/fashion-mnist)",
                _DOWNLOAD_HINT,
            ),
        ),
    ),
    "mnist": DatasetInfo(
        load=_idx_loader("mnist", MNIST_CLASSES),
        description="MNIST (LeCun et al. 1998): 60,000/10,000 28x28 grayscale handwritten digits",
        search=SearchSpec(
            files=_IDX_ALTERNATIVES,
            subfolders=("mnist", "MNIST/raw"),
            system_dirs=("/usr/share/datasets/mnist",),
            how_to_get=(
                "put the four IDX files of http://yann.lecun.com/exdb/mnist/ (or a mirror) in DIR, "
                f"then pass data_dir=DIR or set {ENV_VAR}=DIR",
            ),
        ),
    ),
    "cifar10": DatasetInfo(
        load=_dir_loader(load_cifar10),
        description="CIFAR-10 (Krizhevsky 2009): 50,000/10,000 32x32 RGB, 10 classes",
        search=SearchSpec(
            files=tuple((f,) for f in CIFAR10_FILES),
            subfolders=(CIFAR10_DIR, "cifar10", f"cifar10/{CIFAR10_DIR}"),
            how_to_get=(
                "extract cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html into DIR, "
                f"then pass data_dir=DIR or set {ENV_VAR}=DIR",
            ),
        ),
    ),
    "cifar100": DatasetInfo(
        load=_dir_loader(load_cifar100),
        description="CIFAR-100 (Krizhevsky 2009): 50,000/10,000 32x32 RGB, 100 fine classes",
        search=SearchSpec(
            files=tuple((f,) for f in CIFAR100_FILES),
            subfolders=(CIFAR100_DIR, "cifar100", f"cifar100/{CIFAR100_DIR}"),
            how_to_get=(
                "extract cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html into DIR, "
                f"then pass data_dir=DIR or set {ENV_VAR}=DIR",
            ),
        ),
    ),
    "svhn": DatasetInfo(
        load=_dir_loader(load_svhn),
        description="SVHN cropped digits (Netzer et al. 2011): 73,257/26,032 32x32 RGB, 10 classes",
        search=SearchSpec(
            files=tuple((f,) for f in SVHN_FILES),
            subfolders=("svhn", "SVHN"),
            how_to_get=(
                "put train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/ in DIR, "
                f"then pass data_dir=DIR or set {ENV_VAR}=DIR",
            ),
        ),
    ),
    "folder": DatasetInfo(
        load=_dir_loader(load_image_folder),
        description="image folder: DIR/train/<class>/*, DIR/test/<class>/* or DIR/<class>/* (80/20 split)",
        needs_data_dir=True,
        files=True,
    ),
    "digits": DatasetInfo(
        load=lambda _directory: load_digits_dataset(),
        description="scikit-learn digits (UCI): 1,437/360 8x8 grayscale, 10 classes; always available",
    ),
}
