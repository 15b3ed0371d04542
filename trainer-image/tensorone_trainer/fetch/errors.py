"""Why a fetch failed, as one sentence naming the field and the URL (shown without credentials or query)."""

from __future__ import annotations

from tensorone_trainer.errors import DataError


class FetchError(DataError):
    """The source cannot be fetched; retrying the job cannot help (exit 65, its message fails the job)."""

    def __init__(self, field: str, source: str, cause: str) -> None:
        super().__init__(f"{field} {source}: {cause}")


class SourceNotFoundError(FetchError):
    """The bucket, object, repository, revision or file does not exist: never retried."""


class SourceDeniedError(FetchError):
    """The credentials (or their absence) do not allow reading it: never retried."""


class SourceUnreachableError(FetchError):
    """Network errors (or server errors) went on through every retry."""


class SourceInvalidError(FetchError):
    """What arrived is not what the source said it is (size or hash), or cannot be laid out safely."""
