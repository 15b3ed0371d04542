"""Progress and metrics reporting: one reporter on rank 0, fanned out to sinks.

Sinks: the TrainingJob status subresource (in a cluster), a JSONL file (always; the full history) and a
Prometheus endpoint (on request). A sink failing never stops training.
"""

from tensorone_trainer.reporting.base import Reporter, Sink, StatusSnapshot

__all__ = ["Reporter", "Sink", "StatusSnapshot"]
