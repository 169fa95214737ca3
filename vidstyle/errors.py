"""The one error hierarchy of vidstyle.

Every error a user can cause derives from :class:`VidstyleError`, and each also
derives from the built-in error it resembles, so callers may catch either
(``except VidstyleError`` or ``except FileNotFoundError``). Only the CLI turns
these into ``error: ...`` lines and exit codes.
"""

from __future__ import annotations

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
    "ModelError",
    "StyleError",
    "TrainStyleError",
    "ManifestError",
    "Interrupted",
    "BatchInterrupted",
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


class ModelError(VidstyleError, ValueError):
    """An unknown model name, or weights that cannot be loaded."""


class StyleError(VidstyleError, ValueError):
    """A style that cannot be used or trained: unknown name, bad style image, wrong scale."""


class TrainStyleError(StyleError):
    """A style image or a training run that cannot be used (the message says why)."""


class ManifestError(VidstyleError):
    """The batch manifest is missing, unreadable, damaged or of another schema version."""


class Interrupted(VidstyleError):
    """Ctrl-C during long work that keeps what it did (the message says how to carry on)."""


class BatchInterrupted(Interrupted):
    """Ctrl-C during a batch: the running work was abandoned and queued again; nothing half-done is kept."""
