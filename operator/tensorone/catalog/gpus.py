"""GPU types the platform knows, their Kubernetes product labels, memory, peak throughput and price.

Everything numeric comes from a YAML file (the packaged ``defaults.yaml``, or the operator's ConfigMap through
``--config`` / ``TENSORONE_CONFIG``), so a platform team sets prices without touching code.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tensorone.api.spec import GpuType

CONFIG_ENV = "TENSORONE_CONFIG"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_RESOURCE = "nvidia.com/gpu"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class GpuModel(_Config):
    display_name: str
    products: list[str] = Field(min_length=1, description="Values of the nvidia.com/gpu.product node label")
    memory_gb: float = Field(gt=0)
    peak_tflops: float = Field(gt=0, description="Dense bf16/fp16 tensor-core peak")
    supports_bf16: bool
    price_per_hour: float = Field(ge=0, description="USD per GPU-hour")
    yolo_images_per_second: dict[str, float] = Field(default_factory=dict)


class GpuCatalog(_Config):
    default_gpu_type: GpuType = GpuType.A100
    currency: str = "USD"
    storage_price_per_gb_month: float = Field(0.10, ge=0)
    assumed_utilization: float = Field(0.35, gt=0, le=1)
    tokens_per_byte: float = Field(0.25, gt=0)
    assumed_dataset_tokens: int = Field(10_000_000, ge=1)
    assumed_dataset_images: int = Field(10_000, ge=1)
    gpus: dict[GpuType, GpuModel]

    def gpu(self, gpu_type: GpuType | str | None) -> GpuModel:
        """The model of ``gpu_type`` (the default type when None)."""
        return self.gpus[GpuType(gpu_type) if gpu_type else self.default_gpu_type]

    def resolve(self, gpu_type: GpuType | str | None) -> GpuType:
        return GpuType(gpu_type) if gpu_type else self.default_gpu_type

    def type_of_product(self, product: str) -> GpuType | None:
        """The GPU type whose product label is ``product``."""
        for gpu_type, model in self.gpus.items():
            if product in model.products:
                return gpu_type
        return None


def load_catalog(path: str | Path | None = None) -> GpuCatalog:
    """Read the catalog from ``path``, else ``$TENSORONE_CONFIG``, else the packaged defaults."""
    chosen = path or os.environ.get(CONFIG_ENV)
    if chosen:
        text = Path(chosen).read_text()
    else:
        text = resources.files("tensorone.catalog").joinpath("defaults.yaml").read_text()
    return GpuCatalog.model_validate(yaml.safe_load(text))
