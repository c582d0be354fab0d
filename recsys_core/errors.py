"""Our own exceptions: every message says what is wrong and what to do about it."""

from __future__ import annotations


class RecsysError(Exception):
    """Base class so callers (CLI, UI) can show one message instead of a traceback."""


class DatasetError(RecsysError):
    """A dataset is missing, malformed or inconsistent."""


class DownloadError(DatasetError):
    """A release could not be fetched, verified or extracted."""


class ConfigError(RecsysError):
    """A setting is out of range or unknown."""


class UnknownMovieError(RecsysError):
    """A movie title or id does not match the catalogue; carries close candidates."""

    def __init__(self, message: str, candidates: list[str] | None = None) -> None:
        super().__init__(message)
        self.candidates = list(candidates or [])


class CacheError(RecsysError):
    """An artifact is corrupt, incomplete or unwritable."""


class DeviceError(RecsysError):
    """Training failed on its device (out of memory, a CUDA error) even after the smaller-batch retries.

    The caller retries the stage on the CPU; ``reason`` is "out of memory" or "device error".
    """

    def __init__(self, message: str, reason: str = "device error", batch_size: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.batch_size = batch_size
