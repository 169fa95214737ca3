"""What is in a video file: :class:`VideoInfo`, read with PyAV without decoding it all.

:func:`probe` reads the container's header (and decodes the first frame); with ``exact`` it also
counts the frames by demuxing the video packets, for containers that list no count (Matroska,
WebM) or list a wrong one. :func:`video_packets` is that demuxing, which
:mod:`~vidstyle.io.remux` also uses to find keyframes and timestamps.

An image sequence (a pattern such as ``reel_%06d.dpx``, or a folder of numbered frames;
:mod:`~vidstyle.io.sequence`) opens as a video too, through libav's image2 demuxer at the rate
given (``fps``) or stated in its DPX header; its frames are counted from its files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..errors import DecodeError, InputError, VideoOpenError
from ..timecode import format_seconds
from .depth import pixel_depth
from .sequence import IMAGE_ENCODERS, ImageSequence, find_sequence, image2_options, is_sequence, sequence_rate

__all__ = ["StreamInfo", "VideoInfo", "ffmpeg_reason", "open_input", "pick_video_stream", "probe", "video_packets"]

log = logging.getLogger(__name__)

#: The codec name of a stream whose codec libav does not know (damaged headers, or not in this build).
UNKNOWN_CODEC = "unknown"

# libav's "unspecified" value of colour primaries, transfer and matrix.
_UNSPECIFIED = 2
#: How much of a video stream probe reads (packets only, no decoding) when the container records
#: no frame count (Matroska, WebM, MPEG-TS): a short film is counted exactly, a long one gives the
#: frame interval its estimate uses.
_SCAN_PACKETS = 120
_SCAN_BYTES = 32 * 2**20


@dataclass(frozen=True)
class StreamInfo:
    """An audio or subtitle stream that the writer copies along."""

    index: int
    kind: str  # "audio" or "subtitle"
    codec: str
    language: str | None = None
    channels: int | None = None
    sample_rate: int | None = None
    duration: float | None = None  # seconds, when the container says

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class VideoInfo:
    """The properties of a file's video stream and the streams beside it.

    Sizes are in pixels of the stored picture (before any rotation a player
    applies); ``rotation`` is counter-clockwise degrees from the display matrix.
    """

    path: Path
    container: str
    stream_index: int
    codec: str
    width: int
    height: int
    pix_fmt: str
    fps: Fraction  # average frame rate
    time_base: Fraction
    start_pts: int  # first pts of the video stream, in time_base
    frame_count: int
    frame_count_exact: bool  # False when estimated from duration x fps
    duration: float  # seconds
    sample_aspect_ratio: Fraction = Fraction(1)
    rotation: int = 0
    color_primaries: int = _UNSPECIFIED
    color_trc: int = _UNSPECIFIED
    colorspace: int = _UNSPECIFIED
    color_range: int = 0  # 0 unspecified, 1 limited (tv), 2 full (pc)
    bit_rate: int | None = None
    audio: tuple[StreamInfo, ...] = field(default_factory=tuple)
    subtitles: tuple[StreamInfo, ...] = field(default_factory=tuple)
    #: Where ``frame_count`` comes from: ``container`` (its header lists it), ``estimate``
    #: (duration x fps), ``packets`` (counted by demuxing, ``probe(exact=True)``) or ``files``
    #: (an image sequence's).
    frame_count_source: str = "container"
    #: Bits per component of the stored picture (8 for most video; 10 for yuv420p10le or a 10-bit
    #: DPX, 16 for a 16-bit TIFF). Above 8 the frames travel as uint16 (:mod:`~vidstyle.io.depth`).
    bit_depth: int = 8
    #: The files of an image sequence (``path`` is then its pattern); None for a video file.
    sequence: ImageSequence | None = None

    @property
    def frame_duration(self) -> Fraction:
        """Nominal duration of one frame, in seconds."""
        return 1 / self.fps if self.fps else Fraction(1, 25)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dictionary (fractions as strings such as ``"30000/1001"``)."""
        return {
            "path": str(self.path),
            "container": self.container,
            "stream_index": self.stream_index,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "pix_fmt": self.pix_fmt,
            "fps": str(self.fps),
            "fps_float": round(float(self.fps), 6),
            "time_base": str(self.time_base),
            "start_pts": self.start_pts,
            "frame_count": self.frame_count,
            "frame_count_exact": self.frame_count_exact,
            "frame_count_source": self.frame_count_source,
            "bit_depth": self.bit_depth,
            "sequence": None if self.sequence is None else {
                "pattern": str(self.sequence.pattern), "first": self.sequence.first, "last": self.sequence.last},
            "duration": round(self.duration, 6),
            "sample_aspect_ratio": str(self.sample_aspect_ratio),
            "rotation": self.rotation,
            "color_primaries": self.color_primaries,
            "color_trc": self.color_trc,
            "colorspace": self.colorspace,
            "color_range": self.color_range,
            "bit_rate": self.bit_rate,
            "audio": [s.to_dict() for s in self.audio],
            "subtitles": [s.to_dict() for s in self.subtitles],
        }

    def describe(self) -> str:
        """A few human-readable lines, for ``vidstyle info``."""
        how = {"estimate": " (estimated)", "packets": " (counted from its packets)",
               "files": " (its files)"}.get(self.frame_count_source, "")
        count = f"{self.frame_count}{how}"
        lines = [
            f"{self.path}",
            f"  container   {self.container}",
            f"  video       #{self.stream_index} {self.codec} {self.pix_fmt} "
            f"{self.width}x{self.height} @ {float(self.fps):.3f} fps",
            f"  frames      {count}, {format_seconds(self.duration)}",
            f"  time base   {self.time_base}",
        ]
        if self.sequence is not None:
            lines.insert(2, f"  sequence    {self.sequence.describe()}")
        if self.bit_depth > 8:
            lines[-3] += f", {self.bit_depth}-bit"
        if self.sample_aspect_ratio != 1:
            lines.append(f"  pixel ratio {self.sample_aspect_ratio}")
        if self.rotation:
            lines.append(f"  rotation    {self.rotation} degrees")
        lines.append(
            f"  colour      primaries {self.color_primaries}, transfer {self.color_trc}, "
            f"matrix {self.colorspace}, range {('unspecified', 'limited', 'full')[min(self.color_range, 2)]}"
        )
        for s in self.audio:
            extra = f" {s.channels} ch {s.sample_rate} Hz" if s.channels else ""
            lines.append(f"  audio       #{s.index} {s.codec}{extra} [{s.language or 'und'}]")
        for s in self.subtitles:
            lines.append(f"  subtitle    #{s.index} {s.codec} [{s.language or 'und'}]")
        return "\n".join(lines)


def open_input(path: str | os.PathLike[str], *, fps: Fraction | None = None) -> av.container.InputContainer:
    """Open a media file or an image sequence for reading, turning every failure into a one-line error.

    Args:
        fps: the rate of an image sequence (ignored for a video file); None: its DPX header's.

    Raises:
        InputError: missing path, not a regular file (a pipe, a device), or not readable.
        VideoOpenError: empty file or not a media file libav understands.
        SequenceError: an image sequence that is not one film, or has no rate.
    """
    path = Path(path)
    if is_sequence(path):
        sequence = find_sequence(path)
        return _open_sequence(sequence, sequence_rate(sequence, fps))
    if not path.exists():
        hint = f" (image sequences are numbered {', '.join(IMAGE_ENCODERS)} frames)" if "%" in path.name else ""
        raise InputError(f"input not found: {path}{hint}")
    if not path.is_file():  # (a folder is a sequence) a pipe would block the reading, a device has no length
        raise InputError(f"input is not a regular file (a pipe, a socket or a device): {path}")
    if not os.access(path, os.R_OK):
        raise InputError(f"input is not readable: {path}")
    if path.stat().st_size == 0:
        raise VideoOpenError(f"input is empty (0 bytes): {path}")
    try:
        # Tags are text by the container's word only: damaged bytes in one must not stop the reading.
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.FFmpegError as ex:
        raise VideoOpenError(f"cannot open {path} as a video: {ffmpeg_reason(ex)}") from ex


def pick_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The first video stream that is a real picture track (not cover art) of a codec libav knows."""
    unknown = False
    for stream in container.streams.video:
        if stream.codec_context is None:  # (damage in the headers, or a codec this libav lacks)
            unknown = True
        elif not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    if unknown:
        raise VideoOpenError(f"the video stream of {container.name} is of a codec libav does not know")
    raise VideoOpenError(f"no video stream with frames in {container.name}")


def probe(path: str | os.PathLike[str], *, exact: bool = False, fps: Fraction | None = None) -> VideoInfo:
    """Read the :class:`VideoInfo` of a file or an image sequence.

    The frame count comes from the container when it records one. Otherwise the first packets
    of the video stream are read (:data:`_SCAN_PACKETS`): a stream that ends among them is
    counted exactly, and a longer one is estimated from the video stream's own duration (not
    the container's, which includes the sound) over the mean interval of those packets, so a
    variable frame rate is measured rather than taken from the nominal rate
    (``frame_count_exact`` and ``frame_count_source`` say which). With ``exact`` every frame is
    counted instead, by demuxing every video packet without decoding (:func:`video_packets`;
    seconds for a feature film). The first frame is decoded to read its rotation and colour
    tags reliably. An image sequence's frames are its files, counted exactly; ``fps`` is its
    rate (None: its DPX header's).

    Raises:
        InputError, VideoOpenError: as :func:`open_input`, or no decodable video frame.
        SequenceError: as :func:`open_input`.
        DecodeError: with ``exact``, the file breaks while its packets are read.
    """
    path = Path(path)
    if is_sequence(path):
        sequence = find_sequence(path)
        return _probe_container(sequence.pattern, _open_sequence(sequence, sequence_rate(sequence, fps)), sequence)
    info = _probe(path)
    if not exact:
        return info
    count = sum(1 for _ in video_packets(info.path))
    return replace(info, frame_count=count, frame_count_exact=True, frame_count_source="packets")


def video_packets(path: Path) -> Iterator[tuple[int, int | None, bool]]:
    """``(pts, dts, keyframe)`` of each frame's packet of the video stream, in file order.

    Only demuxes: no decoding, so a feature film takes seconds. Packets the demuxer marks to
    discard (before an MP4 edit list's start) are left out, as the decoder drops their frames.

    Raises:
        InputError, VideoOpenError: the file cannot be opened.
        DecodeError: the file breaks while reading, or a packet has no timestamp.
    """
    with open_input(path) as container:
        stream = pick_video_stream(container)
        try:
            for packet in container.demux(stream):
                if packet.pts is None and packet.dts is None:
                    if packet.size:
                        raise DecodeError(f"{path.name} has video packets without timestamps; it cannot be split")
                    continue  # the demuxer's end-of-stream marker
                if packet.is_discard:
                    continue
                # Without a pts (AVI, say) frames are shown in decoding order.
                pts = packet.pts if packet.pts is not None else packet.dts
                yield pts, packet.dts, packet.is_keyframe
        except av.FFmpegError as ex:
            raise DecodeError(f"reading {path.name} failed: {ffmpeg_reason(ex)}") from ex


def _open_sequence(sequence: ImageSequence, rate: Fraction) -> av.container.InputContainer:
    """``sequence`` opened by libav's image2 demuxer at ``rate``."""
    try:
        return av.open(str(sequence.pattern), mode="r", format="image2", options=image2_options(sequence, rate))
    except av.FFmpegError as ex:
        raise VideoOpenError(f"cannot open the sequence {sequence.label}: {ffmpeg_reason(ex)}") from ex


def _probe(path: Path) -> VideoInfo:
    """:func:`probe` of a file without counting."""
    return _probe_container(path, open_input(path))


def _probe_container(path: Path, opened: av.container.InputContainer,
                     sequence: ImageSequence | None = None) -> VideoInfo:
    """The :class:`VideoInfo` of an opened file or sequence; closes it."""
    with opened as container:
        stream = pick_video_stream(container)
        cc = stream.codec_context
        time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
        fps = _frame_rate(stream)
        start_pts = stream.start_time if stream.start_time is not None else 0

        duration = 0.0
        if stream.duration:
            duration = float(stream.duration * time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        exact = bool(stream.frames and stream.frames > 0)
        if sequence is not None:  # its files, counted exactly
            exact, frame_count, duration, source = True, sequence.count, float(sequence.count / fps), "files"
        elif exact:
            frame_count, source = int(stream.frames), "container"
        else:
            frame_count, exact = _count_or_estimate(path, stream, fps, duration)
            source = "packets" if exact else "estimate"

        try:
            first = next(iter(container.decode(stream)), None)
        except av.FFmpegError as ex:
            raise VideoOpenError(f"cannot decode {path}: {ffmpeg_reason(ex)}") from ex
        if first is None:
            raise VideoOpenError(f"no video frame could be decoded from {path} (zero frames)")
        rotation = int(round(first.rotation or 0)) % 360
        if first.pts is not None and stream.start_time is None:
            start_pts = first.pts

        sar = cc.sample_aspect_ratio or stream.sample_aspect_ratio
        sar = Fraction(sar) if sar else Fraction(1)
        audio = tuple(
            StreamInfo(
                index=s.index,
                kind="audio",
                codec=s.codec_context.name if s.codec_context else UNKNOWN_CODEC,
                language=s.language,
                channels=s.codec_context.channels if s.codec_context else 0,
                sample_rate=s.codec_context.sample_rate if s.codec_context else 0,
                duration=float(s.duration * s.time_base) if s.duration and s.time_base else None,
            )
            for s in container.streams.audio
        )
        subtitles = tuple(
            StreamInfo(index=s.index, kind="subtitle", codec=s.codec_context.name if s.codec_context else UNKNOWN_CODEC,
                       language=s.language)
            for s in container.streams.subtitles
        )
        return VideoInfo(
            path=path,
            container=container.format.name,
            stream_index=stream.index,
            codec=cc.name,
            width=cc.width,
            height=cc.height,
            pix_fmt=cc.pix_fmt or first.format.name or "unknown",
            fps=fps,
            time_base=time_base,
            start_pts=int(start_pts),
            frame_count=frame_count,
            frame_count_exact=exact,
            frame_count_source=source,
            duration=duration,
            sample_aspect_ratio=sar,
            rotation=rotation,
            color_primaries=int(cc.color_primaries),
            color_trc=int(cc.color_trc),
            colorspace=int(cc.colorspace),
            color_range=int(cc.color_range),
            bit_rate=container.bit_rate or None,
            audio=audio,
            subtitles=subtitles,
            bit_depth=pixel_depth(cc.pix_fmt or first.format.name),
            sequence=sequence,
        )


def _count_or_estimate(path: Path, stream: av.video.stream.VideoStream, fps: Fraction,
                       duration: float) -> tuple[int, bool]:
    """(frames, exact) of a stream whose container records no count: see :func:`probe`."""
    timestamps, ended = _first_timestamps(path, stream.index)
    if ended:
        return len(timestamps), True
    seconds = _stream_seconds(stream) or duration
    rate = float(fps)
    if len(timestamps) >= 2 and timestamps[-1] > timestamps[0]:
        interval = (timestamps[-1] - timestamps[0]) / (len(timestamps) - 1) * float(stream.time_base)
        rate = 1.0 / interval
    return max(0, round(seconds * rate)), False


def _first_timestamps(path: Path, index: int) -> tuple[list[int], bool]:
    """Sorted timestamps of the first video packets (up to :data:`_SCAN_PACKETS` of them, or
    :data:`_SCAN_BYTES`), and whether the stream ended among them."""
    timestamps: list[int] = []
    read = 0
    with open_input(path) as container:
        try:
            for packet in container.demux(container.streams[index]):
                if packet.pts is None and packet.dts is None and not packet.size:
                    return sorted(timestamps), True  # the demuxer's end-of-stream marker
                if packet.is_discard:
                    continue
                if len(timestamps) >= _SCAN_PACKETS or read >= _SCAN_BYTES:
                    return sorted(timestamps), False
                stamp = packet.pts if packet.pts is not None else packet.dts
                timestamps.append(stamp if stamp is not None else len(timestamps))
                read += packet.size
        except av.FFmpegError:  # a damaged file: what was read is all there is to go on
            return sorted(timestamps), False
    return sorted(timestamps), True


def _stream_seconds(stream: av.video.stream.VideoStream) -> float | None:
    """The video stream's own duration: from the stream, or Matroska's per-stream DURATION tag."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION")
    if not tag:
        return None
    try:
        hours, minutes, seconds = tag.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return Fraction(25)


def ffmpeg_reason(ex: Exception) -> str:
    """libav's message without the file name PyAV appends to it."""
    strerror = getattr(ex, "strerror", None)
    return strerror or str(ex)
