"""The GPU catalog and pricing (from configuration) and the job estimator built on it."""

from tensorone.catalog.gpus import GpuCatalog, GpuModel, load_catalog

__all__ = ["GpuCatalog", "GpuModel", "load_catalog"]
