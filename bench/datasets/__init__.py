"""Datasets: samples with an image, optional mask and boxes, and a split."""

from bench.datasets.base import Dataset, Sample

__all__ = ["Dataset", "Sample"]
