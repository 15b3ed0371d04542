"""Finding a job from what a person types: its id (``job_…``), its Kubernetes name (``job-…``), or its name.

Names are free text and need not be unique, so a name that several jobs share is refused with the ids to choose
from instead of guessing.
"""

from __future__ import annotations

from tensorone.api.ids import JOB_ID_PREFIX, is_generated_id, name_to_id
from tensorone.sdk.client import TensorOneClient
from tensorone.sdk.errors import TensorOneError
from tensorone.sdk.models import JobSummary

PAGE = 100


def all_jobs(client: TensorOneClient) -> list[JobSummary]:
    """Every job of the account, newest first (the API pages at most 100 at a time)."""
    jobs: list[JobSummary] = []
    while True:
        page = client.training.jobs.list(limit=PAGE, offset=len(jobs))
        jobs.extend(page.jobs)
        if not page.pagination.has_more or not page.jobs:
            return jobs


def resolve_job_id(client: TensorOneClient, ref: str) -> str:
    """The id of the job ``ref`` names (id, Kubernetes name, or the job's name).

    Raises:
        TensorOneError: ``JOB_NOT_FOUND`` when no job matches; ``AMBIGUOUS_NAME`` (with ``details.jobIds``)
            when several jobs carry that name.
    """
    as_id = name_to_id(ref)
    if as_id.startswith(JOB_ID_PREFIX) and is_generated_id(as_id):
        return as_id
    matches = [job.id for job in all_jobs(client) if job.name == ref]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise TensorOneError(
            "JOB_NOT_FOUND", "no job of this account has that id or name", {"jobId": ref}, 404
        )
    raise TensorOneError(
        "AMBIGUOUS_NAME",
        f"{len(matches)} jobs have that name; use one of their ids: {', '.join(matches)}",
        {"jobIds": matches},
    )
