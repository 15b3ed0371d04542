"""What every builder needs to know about one job: its identity, parsed spec, dataset and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tensorone.api import names
from tensorone.api.dataset import DatasetSpec
from tensorone.api.resources import API_VERSION_STRING
from tensorone.api.spec import TRAINING_JOB_KIND, AnyJobSpec
from tensorone.controller.settings import OperatorSettings


@dataclass(frozen=True)
class JobContext:
    """One TrainingJob as the builders see it."""

    name: str
    namespace: str
    uid: str
    spec: AnyJobSpec
    dataset: DatasetSpec
    settings: OperatorSettings
    gpu_products: tuple[str, ...]

    @property
    def owner_reference(self) -> dict[str, Any]:
        """Makes the job the controller of a child, so garbage collection removes it with the job."""
        return {
            "apiVersion": API_VERSION_STRING,
            "kind": TRAINING_JOB_KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def metadata(
        self, name: str, component: str, extra_labels: dict[str, str] | None = None
    ) -> dict[str, Any]:
        labels = {**names.job_labels(self.name), names.COMPONENT_LABEL: component, **(extra_labels or {})}
        return {
            "name": name,
            "namespace": self.namespace,
            "labels": labels,
            "ownerReferences": [self.owner_reference],
        }

    @property
    def job_dir(self) -> str:
        """The job's folder on the checkpoint volume, as mounted in the workers."""
        return names.job_dir(self.settings.checkpoint_mount_path, self.namespace, self.name)
