"""The one error hierarchy of vidstyle.

Every error a user can cause derives from :class:`VidstyleError`, and each also
derives from the built-in error it resembles, so callers may catch either
(``except VidstyleError`` or ``except FileNotFoundError``). Only the CLI turns
these into ``error: ...`` lines and exit codes.
"""

from __future__ import annotations

import signal

__all__ = [
    "VidstyleError",
    "InputError",
    "VideoOpenError",
    "DecodeError",
    "SequenceError",
    "SourceDamageError",
    "EncodeError",
    "RangeError",
    "OutputError",
    "ConfigError",
    "EncoderOptionError",
    "ModelError",
    "StyleError",
    "TrainStyleError",
    "LookError",
    "ManifestError",
    "Interrupted",
    "BatchInterrupted",
    "Terminated",
    "signal_number",
    "stop_reason",
]


class VidstyleError(Exception):
    """Base class of every error vidstyle raises on purpose."""


class InputError(VidstyleError, FileNotFoundError):
    """The input path does not exist or is not a regular file."""


class VideoOpenError(VidstyleError, ValueError):
    """The input exists but is not a video we can decode (empty, not media, no video stream)."""


class SequenceError(VideoOpenError):
    """An image sequence that cannot be read as one film: no numbered frames, a gap in the
    numbering, frames of mixed sizes, or no frame rate."""


class DecodeError(VidstyleError, ValueError):
    """Decoding failed part-way through the input (truncated or corrupted data)."""


class SourceDamageError(DecodeError):
    """The source is damaged (frames that fail to decode or decode with errors, or a file that ends
    early) and the run was asked to stop at damage (``--on-damage fail``)."""


class EncodeError(VidstyleError, RuntimeError):
    """The encoder or muxer refused the settings or failed while writing."""


class RangeError(VidstyleError, ValueError):
    """A --start/--end/--frames range that is malformed or selects no frame."""


class OutputError(VidstyleError, OSError):
    """The output path cannot be written (missing folder, exists, same as input)."""


class ConfigError(VidstyleError, ValueError):
    """A setting outside its allowed values."""


class EncoderOptionError(ConfigError):
    """An encoder option (``-x``, ``--crf``, ``--preset``) the encoder does not know, or a value it refuses."""


class ModelError(VidstyleError, ValueError):
    """An unknown model name, or weights that cannot be loaded."""


class StyleError(VidstyleError, ValueError):
    """A style that cannot be used or trained: unknown name, bad style image, wrong scale."""


class TrainStyleError(StyleError):
    """A style image or a training run that cannot be used (the message says why)."""


class LookError(VidstyleError, ValueError):
    """A look (``--look``) that cannot be used: an unknown name, a missing or malformed .cube file."""


class ManifestError(VidstyleError):
    """The batch manifest is missing, unreadable, damaged or of another schema version."""


class Interrupted(VidstyleError):
    """Ctrl-C (or SIGTERM, SIGHUP) during long work that keeps what it did (the message says how to
    carry on). ``signum`` is the signal that stopped it, for the exit code."""

    def __init__(self, message: str, *, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = int(signum)


class BatchInterrupted(Interrupted):
    """Ctrl-C during a batch: the running work was abandoned and queued again; nothing half-done is kept."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread by the command line's handler.

    It is a ``KeyboardInterrupt`` so that every path that handles Ctrl-C (temporaries removed,
    workers stopped, the batch manifest put straight) handles it the same way; ``signum`` keeps
    the signal for the exit code (128 + signum). Raise it with :meth:`received`.
    """

    #: The stop signal this process received, once it has (see :func:`signal_number`).
    last_received: int | None = None

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @classmethod
    def received(cls, signum: int) -> Terminated:
        """The exception for ``signum``, noted as this process's stop signal."""
        cls.last_received = int(signum)
        return cls(signum)


def signal_number(ex: BaseException) -> int:
    """The signal behind an interruption: the one :class:`Terminated` or :class:`Interrupted`
    carries, else the stop signal this process received (a library may replace the Terminated
    its code saw with a plain KeyboardInterrupt: Ray's blocking calls do), else SIGINT (Ctrl-C)."""
    if isinstance(ex, (Terminated, Interrupted)):
        return ex.signum
    return Terminated.last_received or int(signal.SIGINT)


def stop_reason(signum: int) -> str:
    """How an interruption by ``signum`` is told: ``interrupted`` (Ctrl-C) or ``stopped by SIGTERM``."""
    if signum == signal.SIGINT:
        return "interrupted"
    return f"stopped by {signal.Signals(signum).name}"
