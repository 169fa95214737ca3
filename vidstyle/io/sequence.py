"""Image sequences: a film as numbered frames (``reel_000001.dpx`` ...), read and written.

Film scanners write one file per frame, DPX or TIFF, often 10 or 16 bits; graders take frames
back. vidstyle reads and writes them through libav's image2 demuxer and muxer, so a sequence is a
video stream like any other from the reader on: timestamps are frame indices at the sequence's
rate, and ranges (``--start f100``) count frames.

* In: a printf pattern (``scans/reel_%06d.dpx``) or a folder of numbered frames (``scans/``).
  :func:`find_sequence` lists it on disk and refuses what would not be one film: no frames, a
  gap in the numbering, several sequences in one folder, mixed padding. The rate is ``--fps``, or
  the DPX header's (:func:`dpx_frame_rate`): TIFF, PNG and EXR files hold none
  (:func:`sequence_rate`).
* Out: an output named with a pattern (``out/reel_%06d.tif``) is a sequence too
  (:func:`is_pattern`); :class:`OutputSequence` says which encoder and pixel format write it (16-bit
  TIFF, 10-bit DPX by default) and which frames of it are on disk already.

Numbers follow the printf convention libav uses: ``%06d`` is six digits with leading zeros
(numbers past 999999 take more), ``%d`` no padding.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import EncodeError, InputError, SequenceError
from ..timecode import parse_frame_rate
from .damage import ranges_text

__all__ = [
    "IMAGE_ENCODERS",
    "ImageSequence",
    "OutputSequence",
    "dpx_frame_rate",
    "find_sequence",
    "image2_options",
    "is_pattern",
    "is_sequence",
    "numbered_frames",
    "pattern_label",
    "sequence_rate",
    "sequence_stem",
    "sequences_among",
]

#: File extensions (lower case) of image sequences, and the libav encoder of each.
IMAGE_ENCODERS = {".dpx": "dpx", ".tif": "tiff", ".tiff": "tiff", ".png": "png", ".exr": "exr"}
_KINDS = {"dpx": "DPX", "tiff": "TIFF", "png": "PNG", "exr": "EXR"}

#: A frame number in a printf pattern: ``%d`` or ``%0Nd``.
_SPEC = re.compile(r"%(0\d+)?d")
#: A numbered file: the last run of digits before the extension is its number.
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<digits>\d+)(?P<suffix>\.[^.]+)$")


def is_pattern(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names image frames by a printf pattern (``reel_%06d.dpx``): a frame number
    in its name, and the extension of an image sequence (``100%done.mp4`` is a video file)."""
    path = Path(path)
    return bool(_SPEC.search(path.name)) and path.suffix.lower() in IMAGE_ENCODERS


def is_sequence(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an image sequence as an input: a pattern, or a folder."""
    return is_pattern(path) or Path(path).is_dir()


def _name(pattern: str, number: int) -> str:
    """The file name of frame ``number`` of a pattern's name."""
    return _SPEC.sub(lambda m: format(number, (m.group(1) or "") + "d"), pattern, count=1)


def pattern_label(pattern: str) -> str:
    """A pattern's name with the number as hashes (``reel_######.dpx``), as VFX tools write it:
    for messages and temporary names (a ``%`` would be read as a pattern again)."""
    return _SPEC.sub(lambda m: "#" * max(1, int(m.group(1) or "1")), pattern, count=1)


@dataclass(frozen=True)
class ImageSequence:
    """Frames on disk, numbered ``first`` to ``first + count - 1`` without a gap."""

    pattern: Path
    """Where they are, as a printf pattern (``/scans/reel_%06d.dpx``)."""
    first: int
    """The number of the first frame (its file name's)."""
    count: int

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    @property
    def encoder(self) -> str:
        """The libav codec of its files (``dpx``, ``tiff``, ``png``, ``exr``)."""
        return IMAGE_ENCODERS[self.pattern.suffix.lower()]

    @property
    def label(self) -> str:
        """``reel_######.dpx``."""
        return pattern_label(self.pattern.name)

    def frame_path(self, number: int) -> Path:
        """The file of frame ``number`` (a file name's number, not an index)."""
        return self.pattern.with_name(_name(self.pattern.name, number))

    def footprint(self) -> tuple[int, int]:
        """(total bytes, newest modification time in ns) of its files: what a batch compares to
        tell that a film changed."""
        size = newest = 0
        for number in range(self.first, self.last + 1):
            stat = self.frame_path(number).stat()
            size += stat.st_size
            newest = max(newest, stat.st_mtime_ns)
        return size, newest

    def describe(self) -> str:
        return f"{self.label}, frames {self.first}-{self.last}"


def numbered_frames(pattern: Path) -> list[int]:
    """The numbers of the files on disk that ``pattern`` names, sorted."""
    spec = _SPEC.search(pattern.name)
    assert spec is not None, f"not a pattern: {pattern}"
    before, after = pattern.name[: spec.start()], pattern.name[spec.end():]
    match = re.compile(re.escape(before) + r"(\d+)" + re.escape(after) + "$").match
    numbers = []
    try:
        entries = list(os.scandir(pattern.parent))
    except OSError as ex:
        raise InputError(f"cannot read the folder {pattern.parent}: {ex.strerror}") from ex
    for entry in entries:
        m = match(entry.name)
        if m and _name(pattern.name, int(m.group(1))) == entry.name and entry.is_file():
            numbers.append(int(m.group(1)))
    return sorted(numbers)


def find_sequence(path: str | os.PathLike[str]) -> ImageSequence:
    """The image sequence a pattern or a folder holds.

    Raises:
        InputError: the folder does not exist, or holds no numbered frames.
        SequenceError: no frame matches the pattern, several sequences in the folder, mixed padding, a
            gap in the numbering (the message says which numbers).
    """
    path = Path(path)
    if is_pattern(path):
        if "%" in str(path.parent):
            raise SequenceError(f"the frame number pattern belongs in the file name, not the folder: {path}")
        if not path.parent.is_dir():
            raise InputError(f"input folder not found: {path.parent} (of the sequence {path.name})")
        numbers = numbered_frames(path)
        if not numbers:
            raise SequenceError(f"no frame matches {path}: there is no file such as "
                                f"{_name(path.name, 1)} in {path.parent}")
        pattern = path
    elif path.is_dir():
        pattern, numbers = _folder_sequence(path)
    else:
        raise InputError(f"not an image sequence (a pattern such as reel_%06d.dpx, or a folder): {path}")
    first, last = numbers[0], numbers[-1]
    if last - first + 1 != len(numbers):
        present = set(numbers)
        missing = [n for n in range(first, last + 1) if n not in present]
        raise SequenceError(
            f"{pattern_label(pattern.name)} has a gap in its numbering: frame {ranges_text(missing)} missing "
            f"(first missing file {_name(pattern.name, missing[0])}; the frames run {first}-{last})"
        )
    return ImageSequence(pattern, first, len(numbers))


def _numbered(names: list[str]) -> dict[tuple[str, str], list[str]]:
    """Numbered image files by (prefix, extension): their digits, in the order of ``names``."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name in names:
        m = _NUMBERED.match(name)
        if m and m["suffix"].lower() in IMAGE_ENCODERS:
            groups.setdefault((m["prefix"], m["suffix"]), []).append(m["digits"])
    return groups


def sequences_among(names: list[str]) -> dict[str, list[str]]:
    """The image sequences among the file names of one folder, by pattern (``reel_%06d.dpx``):
    the names of their frames. For a batch's discovery, which looks at names only (gaps are found
    when the film is read)."""
    return {prefix + _spec(digits) + suffix: [prefix + d + suffix for d in digits]
            for (prefix, suffix), digits in _numbered(names).items()}


def sequence_stem(pattern: Path) -> str:
    """The name of the film a pattern holds, for output names: the text before the number
    (``reel1`` of ``reel1_%06d.dpx``), or the folder's name when there is none."""
    spec = _SPEC.search(pattern.name)
    prefix = pattern.name[: spec.start()] if spec else pattern.stem
    return prefix.rstrip("._- ") or pattern.parent.name or "sequence"


def _folder_sequence(folder: Path) -> tuple[Path, list[int]]:
    """The one sequence in ``folder``: its pattern and its numbers. Unnumbered files, hidden files
    and files of other kinds are left alone."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if not entry.name.startswith(".") and entry.is_file())
    except OSError as ex:
        raise InputError(f"cannot read the folder {folder}: {ex.strerror}") from ex
    groups = _numbered(names)
    if not groups:
        raise InputError(f"input is a directory with no numbered frames: {folder} (an image sequence "
                         f"is files such as reel_000001.dpx; {', '.join(IMAGE_ENCODERS)})")
    if len(groups) > 1:
        listed = ", ".join(f"{pattern_label(prefix + _spec(digits) + suffix)} ({len(digits)} frames)"
                           for (prefix, suffix), digits in sorted(groups.items()))
        (prefix, suffix), digits = min(groups.items())
        raise SequenceError(f"{folder} holds {len(groups)} image sequences ({listed}); "
                            f"give one as a pattern, such as {folder / (prefix + _spec(digits) + suffix)}")
    (prefix, suffix), digits = next(iter(groups.items()))
    spec = _spec(digits)
    pattern = prefix + spec + suffix
    odd = [d for d in digits if format(int(d), spec[1:]) != d]
    if odd:
        raise SequenceError(f"the frames of {pattern_label(pattern)} in {folder} mix their padding "
                            f"({prefix}{digits[0]}{suffix} and {prefix}{odd[0]}{suffix}); rename them to one width")
    return folder / pattern, sorted(int(d) for d in digits)


def _spec(digits: list[str]) -> str:
    """The printf number of a set of numbers' digits: ``%06d`` when padded, ``%d`` when not."""
    widths = {len(d) for d in digits}
    padded = [len(d) for d in digits if len(d) > 1 and d.startswith("0")]
    if padded:
        return f"%0{min(padded)}d"
    if len(widths) == 1 and widths != {1}:
        return f"%0{widths.pop()}d"
    return "%d"


def dpx_frame_rate(path: Path) -> Fraction | None:
    """The frame rate a DPX file's header states, or None.

    SMPTE 268M keeps it twice: in the motion-picture film header (offset 1724) and in the
    television header (offset 1940), each a 32-bit float in the file's byte order, all ones when
    undefined. A header shorter than those offsets (libav writes 1664 bytes) states none.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(1944)
    except OSError:
        return None
    if len(head) < 8 or head[:4] not in (b"SDPX", b"XPDS"):
        return None
    order = ">" if head[:4] == b"SDPX" else "<"
    (offset,) = struct.unpack(order + "I", head[4:8])
    for where in (1724, 1940):
        raw = head[where:where + 4]
        if offset < where + 4 or len(raw) < 4 or raw == b"\xff\xff\xff\xff":
            continue
        (rate,) = struct.unpack(order + "f", raw)
        if 0 < rate <= 1000:  # also False for NaN
            return parse_frame_rate(repr(rate))
    return None


def sequence_rate(sequence: ImageSequence, fps: Fraction | None) -> Fraction:
    """The frame rate of ``sequence``: ``fps`` when given, else the DPX header's.

    Raises:
        SequenceError: no ``fps``, and the files hold none.
    """
    if fps:
        return Fraction(fps)
    kind = _KINDS[sequence.encoder]
    if sequence.encoder == "dpx":
        rate = dpx_frame_rate(sequence.frame_path(sequence.first))
        if rate:
            return rate
        why = "its DPX header states none"
    else:
        why = f"{kind} files hold none"
    raise SequenceError(f"{sequence.label} needs a frame rate: {why}; give one with --fps "
                        f"(e.g. --fps 24 or --fps 24000/1001)")


def image2_options(sequence: ImageSequence, rate: Fraction) -> dict[str, str]:
    """The options of libav's image2 demuxer that read ``sequence`` at ``rate``: pts 0 is frame
    ``sequence.first``, and names are taken literally (no glob)."""
    return {"framerate": f"{rate.numerator}/{rate.denominator}", "start_number": str(sequence.first),
            "pattern_type": "sequence"}


@dataclass(frozen=True)
class OutputSequence:
    """An output named with a pattern: frames written by libav's image2 muxer.

    By default graders get 10-bit DPX and 16-bit TIFF whatever the source's depth; PNG is 16-bit
    for a source of more than 8 bits; EXR is 32-bit float.
    """

    pattern: Path
    encoder: str
    pix_fmt: str

    @classmethod
    def for_output(cls, pattern: Path, codec: str, pix_fmt: str | None, *, deep: bool) -> OutputSequence:
        """How to write ``pattern`` (:func:`is_pattern`): the encoder its extension names, and
        ``pix_fmt`` or the default.

        Raises:
            EncodeError: a ``codec`` other than the default (libx264) or the extension's own, or a
                pattern in the folder's name.
        """
        if "%" in str(pattern.parent):
            raise EncodeError(f"the frame number pattern belongs in the file name, not the folder: {pattern}")
        encoder = IMAGE_ENCODERS[pattern.suffix.lower()]
        if codec not in ("libx264", encoder):
            raise EncodeError(f"--codec {codec} cannot write {pattern.suffix} frames; the extension picks "
                              f"the image encoder ({encoder})")
        if pix_fmt is None:
            pix_fmt = {"dpx": "gbrp10le", "tiff": "rgb48le", "exr": "gbrpf32le"}.get(
                encoder, "rgb48be" if deep else "rgb24")
        return cls(pattern, encoder, pix_fmt)

    @property
    def label(self) -> str:
        return pattern_label(self.pattern.name)

    def frame_path(self, number: int) -> Path:
        return self.pattern.with_name(_name(self.pattern.name, number))

    def on_disk(self) -> list[Path]:
        """The frames of this pattern already in its folder."""
        if not self.pattern.parent.is_dir():
            return []
        return [self.frame_path(n) for n in numbered_frames(self.pattern)]
