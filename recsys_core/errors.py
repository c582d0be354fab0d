"""Our own exceptions: every message says what is wrong and what to do about it."""

from __future__ import annotations

QUOTE_LIMIT = 80


def quote_data(data: bytes | str, limit: int = QUOTE_LIMIT, bare: bool = False) -> str:
    """Data quoted in a message, shortened and printable, so a hostile file cannot flood or garble it.

    repr-style: non-printable characters (NUL, controls, escapes) are shown escaped; at most ``limit``
    characters of the text are quoted, with the total length noted when it is cut. ``bare``: text that
    is already short and printable is returned as it is, without quotes.
    """
    text = data.decode("utf-8", "backslashreplace") if isinstance(data, (bytes, bytearray)) else str(data)
    if bare and len(text) <= limit and text.isprintable():
        return text
    head = text[:limit]
    shown = repr(head)
    if len(shown) > limit + 2:  # escapes made it longer: cut the repr itself, never mid-escape
        cut = limit
        while cut > 0 and len(repr(head[:cut])) > limit + 2:
            cut = cut * 3 // 4
        head = head[:cut]
        shown = repr(head)
    if len(head) < len(text):
        shown += f"... ({len(text):,} characters)"
    return shown


class RecsysError(Exception):
    """Base class so callers (CLI, UI) can show one message instead of a traceback.

    ``detail`` holds what only an operator needs (a server path); the message itself names datasets.
    """

    def __init__(self, *args: object, detail: str = "") -> None:
        super().__init__(*args)
        self.detail = detail


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


class TransientReadError(CacheError):
    """A cached entry could not be read just now (I/O error, out of memory); it was kept, not deleted."""


class DeviceError(RecsysError):
    """Training failed on its device (out of memory, a CUDA error) even after the smaller-batch retries.

    The caller retries the stage on the CPU; ``reason`` is "out of memory" or "device error".
    """

    def __init__(self, message: str, reason: str = "device error", batch_size: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.batch_size = batch_size
