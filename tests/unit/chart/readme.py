"""The chart README's values table, generated from the `# --` comments of values.yaml.

Regenerate with ``python -m tests.unit.chart.readme``; ``test_readme`` fails when README.md is out of date.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from tests.unit.chart.rendering import CHART_DIR

README = CHART_DIR / "README.md"
START, END = "<!-- values:start -->", "<!-- values:end -->"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):")
_DOC = re.compile(r"^ *# -- ?(?P<text>.*)$")
_MORE = re.compile(r"^ *# ?(?P<text>.*)$")


@dataclass(frozen=True)
class Documented:
    path: str
    description: str
    default: Any


def documented_keys(text: str) -> list[Documented]:
    """Keys preceded by a ``# --`` comment (continued by following ``#`` lines), in file order."""
    values = yaml.safe_load(text)
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    found: list[Documented] = []
    for line in text.splitlines():
        if (doc := _DOC.match(line)) is not None:
            pending = [doc.group("text")]
            continue
        if pending is not None and (more := _MORE.match(line)) is not None and line.lstrip().startswith("#"):
            pending.append(more.group("text"))
            continue
        key = _KEY.match(line)
        if key is None:
            if not line.strip().startswith("- ") and line.strip():
                pending = None
            continue
        indent = len(key.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key.group("key")))
        if pending is not None:
            path = [k for _, k in stack]
            node = values
            for part in path:
                node = node[part]
            found.append(Documented(".".join(path), " ".join(pending).strip(), node))
            pending = None
    return found


def leaf_paths(node: Any, prefix: str = "") -> list[str]:
    """Every key path down to scalars, lists and empty maps."""
    if isinstance(node, dict) and node:
        return [p for k, v in node.items() for p in leaf_paths(v, f"{prefix}.{k}" if prefix else str(k))]
    return [prefix]


def values_table(text: str) -> str:
    rows = ["| Key | Default | Description |", "|---|---|---|"]
    for entry in documented_keys(text):
        default = json.dumps(entry.default, separators=(", ", ": "))
        if len(default) > 60:
            default = "see values.yaml"
        description = entry.description.replace("|", "\\|")
        rows.append(f"| `{entry.path}` | `{default}` | {description} |")
    return "\n".join(rows)


def rendered_readme() -> str:
    """README.md with its values table regenerated."""
    current = README.read_text()
    head, rest = current.split(START, 1)
    _, tail = rest.split(END, 1)
    table = values_table((CHART_DIR / "values.yaml").read_text())
    return f"{head}{START}\n{table}\n{END}{tail}"


def main() -> None:
    README.write_text(rendered_readme())


if __name__ == "__main__":
    main()
