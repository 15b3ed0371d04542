"""The local sink: the full metric history in ``metrics.jsonl`` and the latest status in ``status.json``.

This is the record of a run that survives without a cluster, and the source a resumed run reads its history
back from (the status keeps only a bounded history). A resumed run first drops the points logged after the
checkpoint it resumes from, so the file stays one consistent curve.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tensorone.api.status import MetricPoint
from tensorone_trainer.reporting.base import StatusSnapshot

METRICS_FILE = "metrics.jsonl"
STATUS_FILE = "status.json"


def load_history(output_dir: Path, upto_step: int | None) -> list[MetricPoint]:
    """The history of earlier attempts up to ``upto_step`` (all of it if ``None``; none if 0), rewriting the file
    without the points past that step."""
    file = output_dir / METRICS_FILE
    if not file.is_file():
        return []
    points = []
    for line in file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                points.append(MetricPoint.model_validate_json(line))
            except ValueError:
                continue  # a line cut short by a killed process
    if upto_step is not None:
        points = [p for p in points if p.step <= upto_step]
    tmp = file.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(p.to_wire()) + "\n" for p in points), encoding="utf-8")
    os.replace(tmp, file)
    return points


class JsonlSink:
    """Appends every new point to ``metrics.jsonl``; rewrites ``status.json`` at most every ``interval`` s."""

    def __init__(self, output_dir: Path, interval: float = 1.0) -> None:
        output_dir.mkdir(parents=True, exist_ok=True)
        self.output_dir = output_dir
        self.interval = interval
        self._last_status = -interval
        self._metrics = (output_dir / METRICS_FILE).open("a", encoding="utf-8")

    def publish(self, snapshot: StatusSnapshot) -> None:
        for point in snapshot.new_points:
            self._metrics.write(json.dumps(point.to_wire()) + "\n")
        self._metrics.flush()
        now = time.monotonic()
        if not snapshot.final and now - self._last_status < self.interval:
            return
        self._last_status = now
        status = snapshot.to_status_patch(with_history=False)
        tmp = self.output_dir / (STATUS_FILE + ".tmp")
        tmp.write_text(json.dumps(status, indent=2), encoding="utf-8")
        os.replace(tmp, self.output_dir / STATUS_FILE)

    def close(self) -> None:
        self._metrics.close()
