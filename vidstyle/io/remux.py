"""Container surgery by stream copy: where a file's frames and keyframes are, and joining parts.

Everything here reads or writes packets without decoding them:

* :func:`keyframe_indices` and :func:`frame_timestamps` demux a file's video packets to find its
  keyframes and the exact timestamp of each frame, so a long film can be cut at keyframes and its
  frames selected by their own timestamps (exact for variable frame rate files).
* :func:`join_segments` puts separately encoded parts of one film back together: their video
  packets copied without re-encoding, moved back to the source's clock, and the source's audio and
  subtitles muxed once (:class:`~vidstyle.io.packets.PacketCopier`), as a whole-file run writes them.

Frame indices count the video stream's frames in presentation order, from 0.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from ..errors import EncodeError, OutputError
from ..timecode import TimePoint
from .atomic import claim_output
from .packets import PacketCopier
from .probe import VideoInfo, ffmpeg_reason, open_input, pick_video_stream, probe, video_packets
from .writer import check_output_path

__all__ = ["frame_time_point", "frame_timestamps", "join_segments", "keyframe_indices"]

log = logging.getLogger(__name__)


# -- reading packets ----------------------------------------------------------------------------


def keyframe_indices(path: str | os.PathLike[str]) -> tuple[list[int], int]:
    """Where a file's keyframes are: their frame indices and the total frame count.

    Reads the video packets without decoding them. Indices count frames in presentation order
    (packets sorted by pts), the order the reader yields frames in.

    Returns:
        (sorted indices of keyframes, number of frames).

    Raises:
        InputError, VideoOpenError, DecodeError: as :func:`~vidstyle.io.probe.video_packets`.
    """
    packets = sorted((pts, key) for pts, _dts, key in video_packets(Path(path)))
    return [i for i, (_pts, key) in enumerate(packets) if key], len(packets)


def frame_timestamps(path: Path, upto: int | None = None) -> list[int]:
    """Source pts of frames ``0 .. upto`` (all frames when None), in presentation order.

    Stops reading as soon as the first ``upto + 1`` timestamps are settled: dts grows in file
    order and a packet's pts is never below its dts, so once a dts passes the ``upto``-th smallest
    pts seen, no later packet can come before it. A segment near the start of a long film thus
    reads only the start of the file.
    """
    if upto is None:
        return sorted(pts for pts, _dts, _key in video_packets(path))
    everything: list[int] = []
    smallest: list[int] = []  # the upto + 1 smallest pts so far, negated: a max-heap
    for pts, dts, _key in video_packets(path):
        everything.append(pts)
        if len(smallest) <= upto:
            heapq.heappush(smallest, -pts)
        elif pts < -smallest[0]:
            heapq.heapreplace(smallest, -pts)
        if len(smallest) > upto and dts is not None and dts > -smallest[0]:
            break
    return sorted(everything)[: upto + 1]


def frame_time_point(info: VideoInfo, timestamps: list[int], index: int) -> TimePoint | None:
    """The reader's range point that selects frame ``index`` exactly: its own timestamp.

    The reader keeps frames whose ``(pts - start_pts) * time_base`` is at or after the start and
    before the end, so the frame's exact time is both an inclusive start and an exclusive end.
    None for frame 0, the beginning of the file.
    """
    if index == 0:
        return None
    seconds = (timestamps[index] - info.start_pts) * info.time_base
    return TimePoint(seconds=max(Fraction(0), seconds), text=f"f{index}")


# -- joining ------------------------------------------------------------------------------------


def join_segments(
    src: str | os.PathLike[str],
    parts: list[tuple[Path, int]],
    dst: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> int:
    """Join segment files into ``dst`` by stream copy, with the source's sound muxed once.

    The video packets of every part are copied without re-encoding, their timestamps moved from
    the part's clock (zero at its first frame) back to the source's and then to the output's
    (zero at the first part's first frame), which is what an unchunked run writes. The source's
    audio and subtitle streams are copied whole, as :class:`~vidstyle.io.writer.VideoWriter`
    does for a whole file. ``dst`` appears only when complete.

    Timestamps are moved through the source's time base, exactly when the parts' container
    stores time at least as finely as the source (same container, or MP4/MOV which keep it);
    when it is coarser (Matroska's milliseconds for an MP4 source), each frame is matched to the
    source frame it came from, so the output still equals an unchunked run's.

    Args:
        src: the film the parts were rendered from.
        parts: ``(part file, source pts of its first frame)`` in film order (the pts is
            :class:`~vidstyle.batch.segments.SegmentResult`'s ``first_pts``).
        dst: the joined file; the extension picks the container.
        overwrite: replace an existing ``dst``.

    Returns:
        the number of video frames written.

    Raises:
        EncodeError: the parts differ in codec, size, pixel format or codec parameters (they
            cannot be joined by stream copy), or their decoding timestamps would go backwards.
        OutputError: ``dst`` cannot be written or exists.
    """
    src, dst = Path(src), Path(dst)
    if not parts:
        raise ValueError("no parts to join")
    parts = [(Path(path), int(first_pts)) for path, first_pts in parts]
    check_output_path(dst, src=src, overwrite=overwrite)
    _check_joinable([path for path, _ in parts])
    info = probe(src)
    with claim_output(dst) as claim:
        frames = _join_into(claim.tmp, src, info, parts)
        if dst.exists() and not overwrite:
            raise OutputError(f"output appeared while working: {dst} (use --overwrite to replace it)")
        claim.commit()
    log.info("joined %d parts into %s: %d frames", len(parts), dst, frames)
    return frames


def _video_params(path: Path) -> dict[str, object]:
    """What must agree between parts for their packets to form one stream."""
    with open_input(path) as container:
        cc = pick_video_stream(container).codec_context
        return {
            "codec": cc.name,
            "size": f"{cc.width}x{cc.height}",
            "pixel format": cc.pix_fmt,
            "codec parameters (extradata)": bytes(cc.extradata or b""),
        }


def _check_joinable(paths: list[Path]) -> None:
    """Raise EncodeError unless every part's video has the first part's parameters."""
    first = _video_params(paths[0])
    for path in paths[1:]:
        params = _video_params(path)
        for key, value in first.items():
            if params[key] != value:
                shown = (value, params[key]) if not isinstance(value, bytes) else ("...", "... (differ)")
                raise EncodeError(
                    f"{path.name} cannot be joined to {paths[0].name} by stream copy: {key} "
                    f"{shown[1]}, expected {shown[0]}"
                )


def _join_into(tmp: Path, src: Path, info: VideoInfo, parts: list[tuple[Path, int]]) -> int:
    """Write the joined file at ``tmp``; returns the frames written. The caller removes ``tmp``."""
    tb = info.time_base
    origin = parts[0][1]
    try:
        out = av.open(str(tmp), mode="w")
    except (av.FFmpegError, ValueError) as ex:
        raise OutputError(
            f"cannot write {tmp.suffix or 'a file without extension'}: unknown container (use .mp4, .mkv or .mov)"
        ) from ex
    copier: PacketCopier | None = None
    frames = 0
    last_dts: int | None = None
    closed = False
    source = _SourceFrames(src)
    try:
        with open_input(parts[0][0]) as first:
            video = out.add_stream_from_template(pick_video_stream(first))
        # As VideoWriter asks: the muxer then picks the time base an unchunked run gets, and
        # Matroska writes the frame rate (without it, readers take 1 / time base for the rate).
        video.time_base = tb
        video.codec_context.framerate = info.fps
        if info.rotation:
            video.set_display_rotation(info.rotation)
        if info.audio or info.subtitles:
            copier = PacketCopier(src, info, out)
        out.start_encoding()
        if copier is not None:
            copier.start(origin * tb, trim=False)
        for path, first_pts in parts:
            for packet, pts, dts in _part_timeline(path, first_pts, info, source):
                if last_dts is not None and dts <= last_dts:
                    raise EncodeError(
                        f"cannot join {path.name}: its decoding timestamps go back into the part before it "
                        f"({dts} <= {last_dts} source ticks); were the parts encoded with other settings?"
                    )
                last_dts = dts
                packet.pts, packet.dts = pts - origin, dts - origin
                packet.stream = video
                out.mux(packet)
                frames += 1
                if copier is not None:
                    copier.advance(dts * tb)
        if copier is not None:
            copier.finish(None)
            copier = None
        closed = True  # whatever close() does, it is not to be tried again
        out.close()
    except av.FFmpegError as ex:
        raise EncodeError(f"joining the parts failed: {ffmpeg_reason(ex)}") from ex
    finally:
        if copier is not None:
            copier.close()
        if not closed:
            try:
                out.close()
            except Exception:  # a half-written file may not close cleanly; the caller deletes it
                pass
    return frames


class _SourceFrames:
    """The source's frame timestamps, read (by demuxing) only if a part needs them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pts: list[int] | None = None

    def match(self, approx: Fraction, tolerance: Fraction, part: Path) -> int:
        """The source frame timestamp within ``tolerance`` of ``approx`` (source ticks)."""
        if self._pts is None:
            self._pts = frame_timestamps(self.path)
        i = bisect.bisect_left(self._pts, approx)
        nearby = self._pts[max(0, i - 1) : i + 1]
        best = min(nearby, key=lambda v: abs(v - approx)) if nearby else None
        if best is None or abs(best - approx) > tolerance:
            raise EncodeError(
                f"a frame of {part.name} at {float(approx):.0f} source ticks matches no frame of {self.path.name}"
            )
        return best


def _part_timeline(
    path: Path, first_pts: int, info: VideoInfo, source: _SourceFrames
) -> Iterator[tuple[av.Packet, int, int]]:
    """The video packets of one part, in file order, with pts and dts on the source's clock.

    Yields ``(packet, pts, dts)``: source ticks (``info.time_base``), not yet shifted to the
    output's zero; the packet's duration is already in source ticks and its time base set to it.

    A part stores time in its container's time base. When that is at least as fine as the
    source's, rounding to the nearest source tick recovers each timestamp exactly; when it is
    coarser (Matroska's milliseconds), the pts is matched to the source frame it was rounded
    from, and the dts keeps its distance to the pts.

    Containers that store no dts (Matroska) give the first packets of a stream with B-frames
    none: those are placed a frame apart before the first known one, as the encoder had them.
    """
    tb = info.time_base
    step = max(1, round(info.frame_duration / tb))
    pending: list[tuple[av.Packet, int]] = []  # packets waiting for a known dts
    previous: int | None = None
    with open_input(path) as container:
        stream = pick_video_stream(container)
        ratio = Fraction(stream.time_base) / tb  # source ticks per part tick
        for packet in container.demux(stream):
            if packet.pts is None and packet.dts is None:
                continue  # end-of-stream marker
            if packet.pts is None:
                raise EncodeError(f"{path.name} has video packets without a timestamp")
            if ratio > 1:
                pts = source.match(first_pts + packet.pts * ratio, ratio / 2, path)
                dts = None if packet.dts is None else pts - round((packet.pts - packet.dts) * ratio)
            else:
                pts = first_pts + round(packet.pts * ratio)
                dts = None if packet.dts is None else first_pts + round(packet.dts * ratio)
            packet.duration = round((packet.duration or 0) * ratio)
            packet.time_base = tb
            if dts is None:
                pending.append((packet, pts))
                continue
            for j, (waiting, waiting_pts) in enumerate(pending):
                yield waiting, waiting_pts, min(waiting_pts, dts - (len(pending) - j) * step)
            pending = []
            previous = dts
            yield packet, pts, dts
    for waiting, waiting_pts in pending:  # no dts known after them: a frame apart, after the last
        previous = waiting_pts if previous is None else min(waiting_pts, previous + step)
        yield waiting, waiting_pts, previous
