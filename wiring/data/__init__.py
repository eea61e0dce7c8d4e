"""The data layer: image classification datasets split three ways, from the embedded digits or the user's files.

:func:`load_dataset` reads one by name (``digits`` embedded, ``cifar10`` /
``cifar100`` binary files, an image ``folder``); :func:`from_arrays` and
:func:`from_torch` take the user's arrays or torch datasets (streamed).
:mod:`wiring.data.images` holds the splits read on demand and
:mod:`wiring.data.augment` the training augmentations.
"""

from .dataset import Dataset, Normalise, split_dataset
from .errors import DataError
from .images import Images
from .readers import DATASETS, IMAGE_SUFFIXES, cifar, from_arrays, from_torch, image_folder, load_dataset

__all__ = ["DATASETS", "DataError", "Dataset", "IMAGE_SUFFIXES", "Images", "Normalise", "cifar", "from_arrays",
           "from_torch", "image_folder", "load_dataset", "split_dataset"]
