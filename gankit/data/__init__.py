"""Datasets, each registered by name in ``DATASETS``."""

from gankit.data import dist, folder, images, toy, unpaired  # noqa: F401  (registers)
from gankit.data.base import DATASETS, Batch, Dataset, Stream, TensorStream, build_dataset

__all__ = ["DATASETS", "Batch", "Dataset", "Stream", "TensorStream", "build_dataset"]
