"""The job mirror's snapshot: sorted once, served until the mirror changes, never stale after a change."""

from __future__ import annotations

from typing import Any

import pytest

from tensorone.api.resources import training_job_manifest
from tensorone.api.translate import plan_create
from tensorone.facade.store import JobInformer
from tensorone.facade.views import JobView, effective_status

NS = "acct-x"


def _job(name: str, *, created: str, rv: int, display: str = "job", **status: Any) -> dict[str, Any]:
    spec = plan_create(
        {
            "name": display,
            "modelType": "llm",
            "datasetId": "ds_0123456789abcdef",
            "config": {"baseModel": "gpt2"},
        }
    ).spec
    obj = training_job_manifest(name, NS, spec)
    obj["metadata"].update({"uid": name, "resourceVersion": str(rv), "creationTimestamp": created})
    if status:
        obj["status"] = status
    return obj


class _NoKube:
    timeout = 1.0


async def _informer(*objs: dict[str, Any]) -> JobInformer:
    informer = JobInformer(_NoKube(), NS)  # type: ignore[arg-type]
    for obj in objs:
        informer.observe(obj)
    return informer


async def test_orderings_break_ties_by_name_in_both_directions() -> None:
    same = "2024-01-15T10:00:00Z"
    informer = await _informer(
        _job("job-b", created=same, rv=1, display="zeta"),
        _job("job-a", created=same, rv=2, display="zeta"),
        _job("job-c", created="2024-01-16T10:00:00Z", rv=3, display="alpha"),
    )
    snapshot = informer.snapshot()
    assert [v.name for v in snapshot.ordered("created_at", False)] == ["job-a", "job-b", "job-c"]
    assert [v.name for v in snapshot.ordered("created_at", True)] == ["job-c", "job-b", "job-a"]
    assert [v.name for v in snapshot.ordered("name", False)] == ["job-c", "job-a", "job-b"]
    assert snapshot.ordered("name", False) is snapshot.ordered("name", False)


@pytest.mark.parametrize("change", ["newer-version", "deleted"])
async def test_a_change_in_the_mirror_replaces_the_snapshot(change: str) -> None:
    informer = await _informer(_job("job-a", created="2024-01-15T10:00:00Z", rv=1))
    before = informer.snapshot()
    assert [v.status for v in before.views] == ["pending"]  # not yet admitted: "queued" on the resource
    if change == "deleted":
        informer.forget("job-a", 2)
        assert informer.snapshot().views == []
    else:
        informer.observe(_job("job-a", created="2024-01-15T10:00:00Z", rv=2, phase="running"))
        assert [v.status for v in informer.snapshot().views] == ["running"]
    assert before is not informer.snapshot()


async def test_an_older_version_leaves_the_snapshot_as_it_was() -> None:
    informer = await _informer(_job("job-a", created="2024-01-15T10:00:00Z", rv=5, phase="running"))
    before = informer.snapshot()
    informer.observe(_job("job-a", created="2024-01-15T10:00:00Z", rv=4))
    assert informer.snapshot() is before


async def test_a_view_carries_what_the_job_itself_says() -> None:
    informer = await _informer(
        _job("job-a", created="2024-01-15T10:00:00Z", rv=1, phase="running", startedAt="2024-01-15T11:00:00Z")
    )
    (view,) = informer.snapshot().views
    assert view == JobView.of(view.job)
    assert view.status == effective_status(view.job) == "running"
    assert view.updated_at.isoformat() == "2024-01-15T11:00:00+00:00"
    assert view.model_type == "llm"
