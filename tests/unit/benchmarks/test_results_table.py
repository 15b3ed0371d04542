"""The benchmark table: each figure beside its baseline, with the ratio and the target."""

from __future__ import annotations

import math

import pytest
from benchmarks.results import Result, format_number, render_report, render_table


def test_a_figure_with_a_baseline_shows_both_and_the_ratio() -> None:
    row = render_table(
        [Result("op", "p50, N=10", 300.0, "ms", "minimal kopf operator", 100.0, "ratio ≤ 1.5")]
    )
    assert row.splitlines()[2] == (
        "| op | p50, N=10 | 300 ms | minimal kopf operator | 100 ms | 3.00x | ratio ≤ 1.5 |  |"
    )


def test_a_figure_without_a_baseline_has_dashes_for_baseline_and_ratio() -> None:
    row = render_table([Result("trainer", "checkpoint time", 0.25, "s", note="2 MB")]).splitlines()[2]
    assert row == "| trainer | checkpoint time | 0.25 s | — | — | — | — | 2 MB |"


def test_pipes_in_text_do_not_break_the_table() -> None:
    row = render_table([Result("f", "GET a|b", 1.0, "ms", "x|y", 2.0)]).splitlines()[2]
    assert "GET a\\|b" in row
    assert "x\\|y" in row
    assert row.count(" | ") == 7


@pytest.mark.parametrize(
    ("value", "text"),
    [(math.nan, "—"), (0.0, "0"), (12345.6, "12,346"), (123.4, "123"), (12.34, "12.3"), (1.234, "1.23"),
     (0.01234, "0.0123")],
    ids=["nan", "zero", "thousands", "hundreds", "tens", "units", "small"],
)  # fmt: skip
def test_numbers_are_shown_with_three_significant_figures(value: float, text: str) -> None:
    assert format_number(value) == text


def test_the_report_has_the_machine_facts_notes_and_table() -> None:
    report = render_report(
        [Result("b", "x", 1.0, "s", "base", 2.0)],
        [("CPU", "AMD EPYC, 2 cores")],
        ["`b`: quick form"],
        "Results",
    )
    assert report.startswith("# Results\n")
    assert "- **CPU**: AMD EPYC, 2 cores" in report
    assert "- `b`: quick form" in report
    assert "| b | x | 1.00 s | base | 2.00 s | 0.50x |" in report
