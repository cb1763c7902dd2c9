"""Sample-quality metrics: pure functions of feature matrices (``distances``), the shipped
LeNet feature extractors (``features``) and the image plumbing (``images``)."""

from gankit.metrics.distances import (
    classifier_score,
    density_coverage,
    frechet_distance,
    frechet_distance_from_stats,
    kernel_distance,
    precision_recall,
)
from gankit.metrics.features import load_classifier
from gankit.metrics.images import evaluate_images, real_data_floor

__all__ = [
    "classifier_score",
    "density_coverage",
    "evaluate_images",
    "frechet_distance",
    "frechet_distance_from_stats",
    "kernel_distance",
    "load_classifier",
    "precision_recall",
    "real_data_floor",
]
