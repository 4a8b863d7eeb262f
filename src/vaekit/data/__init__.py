"""Data: named data sets (registry), file loaders, and synthetic data for tests."""

from vaekit.data.dataset import Dataset, as_examples
from vaekit.data.download import FileSpec, resolve_data_dir
from vaekit.data.registry import dataset_names, load_dataset, register

__all__ = ["Dataset", "FileSpec", "as_examples", "dataset_names", "load_dataset", "register", "resolve_data_dir"]
