"""Label selector grammar and semantics (pure)."""

from __future__ import annotations

import pytest

from tensorone.sandbox.apiserver.errors import ApiError
from tensorone.sandbox.apiserver.selectors import match_labels, parse_field_selector, parse_label_selector


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        pytest.param("a=1", {"a": "1"}, True, id="equals"),
        pytest.param("a!=1", {}, True, id="not-equals-missing-key"),
        pytest.param("a in (1, 2)", {"a": "2"}, True, id="in-with-spaces"),
        pytest.param("a notin (1,2)", {"a": "2"}, False, id="notin"),
        pytest.param("a,!b", {"a": "x"}, True, id="exists-and-not-exists"),
        pytest.param("a>3", {"a": "4"}, True, id="greater-than"),
        pytest.param("example.com/role=gpu", {"example.com/role": "gpu"}, True, id="prefixed-key"),
        pytest.param("", {"a": "1"}, True, id="empty-matches-all"),
    ],
)
def test_label_selector_semantics(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert match_labels(parse_label_selector(selector), labels) is matches


@pytest.mark.parametrize("selector", ["a in (1", "a=b=c", "-bad=1"])
def test_malformed_label_selectors_are_bad_requests(selector: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_label_selector(selector)
    assert info.value.code == 400


def test_field_selector_allows_pod_phase_but_not_arbitrary_fields() -> None:
    assert parse_field_selector("status.phase=Running", "pods", "Pod", "v1")[0].field == "status.phase"
    with pytest.raises(ApiError) as info:
        parse_field_selector("status.phase=Running", "configmaps", "ConfigMap", "v1")
    assert info.value.message == "field label not supported: status.phase"
