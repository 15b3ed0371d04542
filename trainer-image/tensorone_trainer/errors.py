"""Errors that end a run with a documented, non-retryable exit code.

The operator decides whether to retry a failed worker from its exit code alone: the two codes here
(sysexits.h values, defined by the contract in ``tensorone.api.trainer_config``) mean "retrying cannot help",
and the message becomes the pod's termination message, so it must name the field, file or line at fault.
"""

from __future__ import annotations

from tensorone.api.trainer_config import EXIT_CONFIGURATION_ERROR, EXIT_DATA_ERROR


class TrainerError(Exception):
    """A failure the user must fix; ``exit_code`` tells the operator not to retry."""

    exit_code: int = 1


class ConfigurationError(TrainerError):
    """The run config (or something it names, like the base model) is unusable."""

    exit_code = EXIT_CONFIGURATION_ERROR


class DataError(TrainerError):
    """The dataset is malformed; the message names the file and line (or record)."""

    exit_code = EXIT_DATA_ERROR
