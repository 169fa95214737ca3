"""Chunked processing of one long film: plan segments, render each, join them by stream copy.

A two-hour reel is too long for one process to finish soon, so it is cut into segments that run
in parallel (processes or Ray tasks; the orchestration lives elsewhere):

    keyframes, total = keyframe_indices(src)
    segments = plan_segments(total, keyframes, chunks=4)
    results = [render_segment(src, part_path(s), config, s) for s in segments]   # in parallel
    join_segments(src, [(part_path(s), r.first_pts) for s, r in zip(segments, results)], dst)

* Cuts fall on keyframes of the source, so each segment's decoder starts close to where it is
  needed. Each segment also decodes and runs ``warmup`` frames before its first frame and drops
  their outputs: the temporal state (flow, reused features, blending) then has the history it
  would have had in one run.
* A segment file holds only video, with timestamps starting at zero like any output of
  :class:`~vidstyle.io.writer.VideoWriter`; :func:`join_segments` shifts each part back to the
  source's clock, copies its packets without re-encoding, and copies the source's audio and
  subtitles once, as a whole-file run does. The joined file has the frame count and timestamps of
  an unchunked run.

Frame indices count the video stream's frames in presentation order, from 0. They are resolved to
timestamps by reading packets, not by multiplying by a frame rate, so they are exact for variable
frame rate files and for files whose stated rate is slightly off.
"""

from __future__ import annotations

import bisect
import heapq
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..config import RemasterConfig
from ..errors import DecodeError, EncodeError, OutputError, RangeError
from ..io.atomic import partial_path
from ..io.probe import VideoInfo, ffmpeg_reason, open_input, pick_video_stream, probe
from ..io.reader import VideoReader
from ..io.writer import PacketCopier, VideoWriter, check_output_path
from ..models.registry import resolve_device
from ..pipeline import ProgressCallback
from ..style.catalog import model_for
from ..temporal.stage import open_temporal
from ..timecode import TimePoint

__all__ = ["Segment", "SegmentResult", "frame_timestamps", "join_segments", "keyframe_indices", "plan_segments",
           "render_segment"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    """One piece of a film: the frames ``[first_frame, first_frame + frames)`` of its output.

    Frame indices count the source's video frames in presentation order, from 0.
    """

    index: int
    """Position among the film's segments, from 0."""
    first_frame: int
    """Index of the segment's first output frame."""
    frames: int
    """How many frames the segment outputs, 1 or more."""
    warmup: int
    """Frames decoded and run before ``first_frame`` whose outputs are dropped: they give the
    temporal state its history. At most ``first_frame``."""

    def __post_init__(self) -> None:
        if self.index < 0 or self.first_frame < 0:
            raise ValueError(f"segment index and first frame must be 0 or more, got {self.index}, {self.first_frame}")
        if self.frames < 1:
            raise ValueError(f"a segment must hold 1 frame or more, got {self.frames}")
        if not 0 <= self.warmup <= self.first_frame:
            raise ValueError(f"warmup must be between 0 and first_frame {self.first_frame}, got {self.warmup}")

    @property
    def end(self) -> int:
        """Index of the frame after the segment (exclusive end)."""
        return self.first_frame + self.frames

    @property
    def decode_start(self) -> int:
        """Index of the first frame decoded: the first warm-up frame."""
        return self.first_frame - self.warmup


@dataclass
class SegmentResult:
    """What :func:`render_segment` wrote. Times in seconds; fps = frames / seconds."""

    frames: int
    """Frames written; always equal to the segment's ``frames``."""
    first_pts: int
    """Source pts (in the source video stream's time base) of the first written frame: what
    :func:`join_segments` needs to put the part back on the source's clock."""
    seconds: float
    fps: float


# -- reading packets ----------------------------------------------------------------------------


def _video_packets(path: Path) -> Iterator[tuple[int, int | None, bool]]:
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


def keyframe_indices(path: str | os.PathLike[str]) -> tuple[list[int], int]:
    """Where a file's keyframes are: their frame indices and the total frame count.

    Reads the video packets without decoding them. Indices count frames in presentation order
    (packets sorted by pts), the order the reader yields frames in.

    Returns:
        (sorted indices of keyframes, number of frames).

    Raises:
        InputError, VideoOpenError, DecodeError: as :func:`_video_packets`.
    """
    packets = sorted((pts, key) for pts, _dts, key in _video_packets(Path(path)))
    return [i for i, (_pts, key) in enumerate(packets) if key], len(packets)


def frame_timestamps(path: Path, upto: int | None = None) -> list[int]:
    """Source pts of frames ``0 .. upto`` (all frames when None), in presentation order.

    Stops reading as soon as the first ``upto + 1`` timestamps are settled: dts grows in file
    order and a packet's pts is never below its dts, so once a dts passes the ``upto``-th smallest
    pts seen, no later packet can come before it. A segment near the start of a long film thus
    reads only the start of the file.
    """
    if upto is None:
        return sorted(pts for pts, _dts, _key in _video_packets(path))
    everything: list[int] = []
    smallest: list[int] = []  # the upto + 1 smallest pts so far, negated: a max-heap
    for pts, dts, _key in _video_packets(path):
        everything.append(pts)
        if len(smallest) <= upto:
            heapq.heappush(smallest, -pts)
        elif pts < -smallest[0]:
            heapq.heapreplace(smallest, -pts)
        if len(smallest) > upto and dts is not None and dts > -smallest[0]:
            break
    return sorted(everything)[: upto + 1]


# -- planning -----------------------------------------------------------------------------------


def plan_segments(
    frame_count: int,
    keyframes: list[int],
    *,
    chunks: int | None = None,
    target_frames: int | None = None,
    warmup: int = 4,
) -> list[Segment]:
    """Cut ``frame_count`` frames into segments at keyframes.

    Aims for ``chunks`` segments of equal length, or for segments of about ``target_frames``
    (``round(frame_count / target_frames)`` of them); each cut moves to the keyframe nearest to
    its ideal place (the earlier one on a tie). Cuts that land on the same keyframe merge, so a
    file with few keyframes or frames gets fewer segments; one without keyframes after frame 0,
    or of one frame, is one segment. The segments cover ``[0, frame_count)`` exactly once.

    Args:
        frame_count: frames in the file, 1 or more.
        keyframes: keyframe indices (from :func:`keyframe_indices`); 0 and indices outside the
            file are ignored.
        chunks, target_frames: exactly one of them, 1 or more.
        warmup: frames run before each segment for the temporal state, clipped to what exists.

    Raises:
        ValueError: a count below 1, a negative warmup, or not exactly one of chunks and
            target_frames.

    >>> [(s.first_frame, s.frames, s.warmup) for s in plan_segments(40, [0, 10, 20, 30], chunks=4)]
    [(0, 10, 0), (10, 10, 4), (20, 10, 4), (30, 10, 4)]
    """
    if frame_count < 1:
        raise ValueError(f"frame_count must be 1 or more, got {frame_count}")
    if (chunks is None) == (target_frames is None):
        raise ValueError("give exactly one of chunks and target_frames")
    if chunks is not None and chunks < 1:
        raise ValueError(f"chunks must be 1 or more, got {chunks}")
    if target_frames is not None and target_frames < 1:
        raise ValueError(f"target_frames must be 1 or more, got {target_frames}")
    if warmup < 0:
        raise ValueError(f"warmup must be 0 or more, got {warmup}")
    if chunks is None:
        assert target_frames is not None
        chunks = max(1, int(Fraction(frame_count, target_frames) + Fraction(1, 2)))
    candidates = sorted({k for k in keyframes if 0 < k < frame_count})
    cuts: set[int] = set()
    for i in range(1, chunks):
        if not candidates:
            break
        cuts.add(_nearest(candidates, Fraction(i * frame_count, chunks)))
    bounds = [0, *sorted(cuts), frame_count]
    return [
        Segment(index=i, first_frame=a, frames=b - a, warmup=min(warmup, a))
        for i, (a, b) in enumerate(zip(bounds, bounds[1:]))
    ]


def _nearest(values: list[int], target: Fraction) -> int:
    """The element of sorted ``values`` nearest to ``target``, the smaller one on a tie."""
    i = bisect.bisect_left(values, target)
    nearby = values[max(0, i - 1) : i + 1]
    return min(nearby, key=lambda v: (abs(v - target), v))


# -- rendering ----------------------------------------------------------------------------------


def render_segment(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    config: RemasterConfig,
    segment: Segment,
    progress: ProgressCallback | None = None,
) -> SegmentResult:
    """Remaster one segment of ``src`` into ``dst``: video only, timestamps from zero.

    Decodes frames ``[segment.decode_start, segment.end)``, runs the temporal stage and the model
    over all of them (the warm-up frames give the temporal state its history) and writes the
    outputs from ``segment.first_frame`` on. ``config.range`` is ignored: a segment is its own
    range. No audio or subtitles: :func:`join_segments` copies them once for the whole film.
    ``dst`` appears only when complete (temporary file and rename), so a crashed segment leaves
    nothing a resuming runner could mistake for a finished one.

    Give ``dst`` the extension of the final output: the container decides the time base the
    timestamps are stored in, and the same one keeps the join's arithmetic exact.

    The frames are selected by their exact timestamps, read from the packets up to the segment's
    end (demuxing only; this reads the file up to there once more).

    Args:
        src: the whole film; never modified.
        dst: the segment file.
        config: the run's settings (model, scale, encoder, temporal ...).
        segment: which frames, from :func:`plan_segments`.
        progress: called after each batch with (frames written, ``segment.frames``).

    Returns:
        a :class:`SegmentResult` with the source pts of the first written frame.

    Raises:
        RangeError: the segment reaches past the end of the file.
        DecodeError: the decoder gave other frames than the packets promise; nothing is written.
        VidstyleError: as :func:`vidstyle.remaster`.
    """
    src, dst = Path(src), Path(dst)
    started = time.perf_counter()
    check_output_path(dst, src=src, overwrite=config.overwrite)
    # One frame past the end: its timestamp is where the segment stops.
    timestamps = frame_timestamps(src, upto=segment.end)
    if len(timestamps) < segment.end:
        raise RangeError(
            f"segment {segment.index} ends at frame {segment.end} but {src.name} has {len(timestamps)} frames"
        )
    info = probe(src)
    first_pts = timestamps[segment.first_frame]
    model = model_for(config, resolve_device(config.device))
    reader = VideoReader(
        src,
        start=_time_point(info, timestamps, segment.decode_start),
        end=_time_point(info, timestamps, segment.end) if segment.end < len(timestamps) else None,
        batch_size=config.batch_size,
        queue_depth=config.queue_depth,
    )
    try:
        writer = VideoWriter(
            dst,
            source=info,
            width=info.width * config.scale,
            height=info.height * config.scale,
            encode=config.encode,
            copy_streams=False,
            overwrite=config.overwrite,
            queue_depth=config.queue_depth,
        )
    except BaseException:
        reader.close()
        raise
    warmed = written = 0
    with reader, writer:
        temporal = open_temporal(config.temporal, model)
        for batch in temporal.batches(reader, depth=config.queue_depth):
            out = temporal.run(batch)
            keep = np.asarray(batch.pts) >= first_pts
            warmed += int(np.count_nonzero(~keep))
            if keep.any():
                writer.write(out[keep], np.asarray(batch.pts)[keep])
                written += int(np.count_nonzero(keep))
            if progress is not None:
                progress(written, segment.frames)
        if (warmed, written) != (segment.warmup, segment.frames):
            raise DecodeError(
                f"segment {segment.index} of {src.name} decoded {warmed} warm-up and {written} output frames, "
                f"expected {segment.warmup} and {segment.frames}: its packets and decoded frames disagree "
                f"(a damaged file?); remaster it in one piece"
            )
        writer.commit()
    seconds = time.perf_counter() - started
    log.info("segment %d: %d frames (+%d warm-up) in %.1f s", segment.index, written, warmed, seconds)
    return SegmentResult(frames=written, first_pts=first_pts, seconds=seconds, fps=written / max(seconds, 1e-9))


def _time_point(info: VideoInfo, timestamps: list[int], index: int) -> TimePoint | None:
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
        parts: ``(segment file, SegmentResult.first_pts)`` in film order.
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
    tmp = partial_path(dst)
    try:
        frames = _join_into(tmp, src, info, parts)
        if dst.exists() and not overwrite:
            raise OutputError(f"output appeared while working: {dst} (use --overwrite to replace it)")
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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
