"""The operator's report endpoint: workers' progress, metrics and checkpoints, authenticated and validated, written
by the operator as the status's one writer (see :mod:`tensorone.api.reporting`)."""
