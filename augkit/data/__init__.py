"""Datasets from local files, fixed-seed subsets, a tensor-resident loader and a streaming one.

Nothing here downloads at run time; ``download`` / ``download_fashion_mnist`` are the explicit,
checksum-verified exception.  See the module docstrings for the formats and the choices made.
"""

from .base import ImageDataset
from .cifar import load_cifar10, load_cifar100, read_cifar_batch
from .digits import load_digits_dataset
from .download import FASHION_MNIST_FILES, download, download_fashion_mnist, sha256_of
from .files import FileImages
from .folder import load_image_folder
from .idx import read_idx, read_idx_images, read_idx_labels, read_idx_pair
from .loader import TensorLoader
from .prepare import as_size, prepare_data
from .registry import (
    DATASETS,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    DatasetInfo,
    DatasetNotFound,
    available,
    find_dataset_dir,
    load_dataset,
)
from .stream import StreamLoader
from .subsets import apply_subset, balanced_subset, train_val_split
from .svhn import load_svhn, read_svhn_mat

__all__ = [
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "MNIST_CLASSES",
    "DatasetInfo",
    "DatasetNotFound",
    "FileImages",
    "ImageDataset",
    "StreamLoader",
    "TensorLoader",
    "apply_subset",
    "as_size",
    "available",
    "balanced_subset",
    "download",
    "download_fashion_mnist",
    "find_dataset_dir",
    "load_cifar10",
    "load_cifar100",
    "load_dataset",
    "load_digits_dataset",
    "load_image_folder",
    "load_svhn",
    "prepare_data",
    "read_cifar_batch",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "read_idx_pair",
    "read_svhn_mat",
    "sha256_of",
    "train_val_split",
]
