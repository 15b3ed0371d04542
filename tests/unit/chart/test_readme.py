"""Every value is documented, and the chart README shows exactly those descriptions and defaults."""

from __future__ import annotations

from tests.unit.chart.readme import README, documented_keys, leaf_paths, rendered_readme
from tests.unit.chart.rendering import CHART_DIR, values_yaml


def test_every_value_is_documented_by_itself_or_its_parent() -> None:
    documented = {d.path for d in documented_keys((CHART_DIR / "values.yaml").read_text())}
    undocumented = [
        leaf
        for leaf in leaf_paths(values_yaml())
        if not any(leaf == p or leaf.startswith(p + ".") for p in documented)
    ]
    assert undocumented == []


def test_every_price_per_gpu_hour_is_a_documented_value() -> None:
    documented = {d.path for d in documented_keys((CHART_DIR / "values.yaml").read_text())}
    prices = {f"catalog.gpus.{t}.pricePerHour" for t in values_yaml()["catalog"]["gpus"]}
    assert prices <= documented


def test_readme_values_table_is_generated_from_values_yaml() -> None:
    assert README.read_text() == rendered_readme(), "run `python -m tests.unit.chart.readme`"
