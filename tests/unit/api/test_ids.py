"""Job and dataset ids and the Kubernetes names that hold them."""

from __future__ import annotations

import re

import pytest

from tensorone.api.ids import id_to_name, is_generated_id, name_to_id, new_dataset_id, new_job_id


def test_generated_ids_have_the_documented_form() -> None:
    assert re.fullmatch(r"job_[0-9a-f]{16}", new_job_id())
    assert re.fullmatch(r"ds_[0-9a-f]{16}", new_dataset_id())
    assert new_job_id() != new_job_id()
    assert is_generated_id(new_job_id())


def test_cr_name_is_the_id_with_dashes_and_back() -> None:
    job_id = new_job_id()
    name = id_to_name(job_id)
    assert name == job_id.replace("_", "-")
    assert name_to_id(name) == job_id


@pytest.mark.parametrize("bad", ["ds_Upper", "ds_with space", "ds_" + "a" * 260, "_leading"], ids=str)
def test_ids_no_object_can_have_map_to_none(bad: str) -> None:
    assert id_to_name(bad) is None
