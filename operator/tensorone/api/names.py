"""Names, labels, annotations and layouts that more than one part of the platform relies on.

The operator creates a job's children and archives its logs, the facade finds them, the trainer writes its
artifacts where the facade serves them from, the CLI prints them. Each of those facts is spelled here once and
imported by every side: two spellings drifted apart before (the operator archived logs under one name, the facade
read another, each side's tests used its own spelling), so no side may spell them itself.

Child names are deterministic: the same job always asks for the same objects, so a restarted or racing operator
finds (409) what an earlier one created instead of duplicating it.
"""

from __future__ import annotations

from tensorone.api.spec import API_GROUP

# -- labels ------------------------------------------------------------------------------------------------------
JOB_LABEL = f"{API_GROUP}/job"
ATTEMPT_LABEL = f"{API_GROUP}/attempt"
WORKER_INDEX_LABEL = f"{API_GROUP}/worker-index"
ACCOUNT_LABEL = f"{API_GROUP}/account"
MODEL_TYPE_LABEL = f"{API_GROUP}/model-type"
API_KEY_LABEL = f"{API_GROUP}/api-key"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "tensorone-operator"
FACADE_MANAGED_BY = "tensorone-facade"

# A worker pod's containers: the trainer (its state is the worker's) and the reporting relay, the pod's only
# holder of the reporting token (tensorone.api.reporting).
TRAINER_CONTAINER = "trainer"
REPORT_RELAY_CONTAINER = "report-relay"

# Values of COMPONENT_LABEL on a job's children.
WORKER_COMPONENT = "worker"
LOGS_COMPONENT = "logs"
DATA_CHECK_COMPONENT = "data-check"
CHECKPOINTS_COMPONENT = "checkpoints"
ARTIFACT_READER_COMPONENT = "artifact-reader"

# -- annotations (written by the facade or kubectl, read by the operator) ----------------------------------------
STOP_REASON_ANNOTATION = f"{API_GROUP}/stop-reason"
PURGE_CHECKPOINTS_ANNOTATION = f"{API_GROUP}/purge-checkpoints"

FINALIZER = f"{API_GROUP}/stop-workers"
# On worker pods: a deleted worker (a stop, a retry, the end) stays until the operator has archived its whole log,
# including what it wrote during its grace period (its checkpoint, its last words).
LOG_ARCHIVE_FINALIZER = f"{API_GROUP}/archive-logs"
FIELD_MANAGER = "tensorone-operator"


# -- a job's children --------------------------------------------------------------------------------------------
def worker_pod_name(job: str, index: int) -> str:
    return f"{job}-worker-{index}"


def worker_pod_prefix(job: str) -> str:
    """What every worker pod name of ``job`` starts with (events about workers are found by it)."""
    return f"{job}-worker-"


def data_check_pod_name(job: str) -> str:
    """The short-lived pod that checks the job's dataset before admission (no GPU)."""
    return f"{job}-data-check"


def worker_hostname(index: int) -> str:
    return f"worker-{index}"


def service_name(job: str) -> str:
    return f"{job}-workers"


def config_map_name(job: str) -> str:
    return f"{job}-config"


def checkpoint_claim_name(job: str) -> str:
    return f"{job}-checkpoints"


def artifact_reader_pod_name(job: str) -> str:
    """The pod the facade starts to read a finished job's artifacts off its checkpoint volume."""
    return f"{job}-artifacts"


# On the artifact reader pod instead of JOB_LABEL: the operator counts every pod carrying JOB_LABEL (but the data
# check) as one of the job's workers.
ARTIFACTS_OF_LABEL = f"{API_GROUP}/artifacts-of"


def job_labels(job: str) -> dict[str, str]:
    return {JOB_LABEL: job, MANAGED_BY_LABEL: MANAGED_BY}


# -- archived worker logs ----------------------------------------------------------------------------------------
# One ConfigMap per finished attempt, labelled with the job, LOGS_COMPONENT and the attempt; one data key per
# worker. Readers find them by label (``archived_logs_selector``), never by guessing the name.
def logs_config_map_name(job: str, attempt: int) -> str:
    return f"{job}-logs-{attempt}"


def archived_logs_selector(job: str) -> str:
    """The label selector of every archived-log ConfigMap of ``job`` (one per attempt)."""
    return f"{JOB_LABEL}={job},{COMPONENT_LABEL}={LOGS_COMPONENT}"


def worker_log_key(index: int) -> str:
    return f"worker-{index}.log"


# -- the checkpoint volume ---------------------------------------------------------------------------------------
# ``<mount>/<namespace>/<job>/`` holds the checkpoints (``<checkpoint-id>/``) and ARTIFACTS_DIR.
ARTIFACTS_DIR = "artifacts"
# What the trainer writes under ARTIFACTS_DIR (and reports in ``status.artifacts`` by these names).
ARTIFACT_ADAPTER = "adapter"  # LoRA adapter, peft format (folder)
ARTIFACT_MERGED = "merged"  # the adapter merged into the base model, safetensors (folder)
ARTIFACT_MODEL = "model"  # a full fine-tune (folder)
ARTIFACT_BEST = "best"  # YOLO best.pt (file)
ARTIFACT_LAST = "last"  # YOLO last.pt (file)
# What an artifact's name may be (status.artifacts[].name, the download route's {name}).
ARTIFACT_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"


def job_dir(mount_path: str, namespace: str, job: str) -> str:
    """The job's folder on the checkpoint volume, as mounted at ``mount_path``."""
    return f"{mount_path.rstrip('/')}/{namespace}/{job}"


def artifacts_dir(mount_path: str, namespace: str, job: str) -> str:
    return f"{job_dir(mount_path, namespace, job)}/{ARTIFACTS_DIR}"


# -- the artifact reader (facade ↔ tensorone_trainer.serve_artifacts) ----------------------------------------------
# The reader serves ``GET <ARTIFACT_READER_ROUTE><entry>?kind=file|folder``: ``entry`` is one name directly under
# the job's ARTIFACTS_DIR; a file comes as it is, a folder as an uncompressed tar stream.
ARTIFACT_READER_ROUTE = "/artifacts/"
ARTIFACT_READER_HEALTH = "/healthz"
# One path segment: no "/", no leading dot, so no "." or ".." and nothing hidden.
ARTIFACT_ENTRY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
