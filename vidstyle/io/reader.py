"""Decode a video into batches of RGB frames, on a thread of its own.

``VideoReader`` seeks to the keyframe before the range, decodes forward, drops the
frames that precede the range, and hands batches to the caller through a bounded
queue, so decoding overlaps with whatever the caller does with the frames.

    with VideoReader("reel.mkv", start="00:01:00", frames=48, batch_size=8) as reader:
        for batch in reader:
            batch.frames  # (B, H, W, 3) uint8 RGB (uint16 for a source of more than 8 bits)
            batch.pts     # (B,) int64, in reader.info.time_base
        reader.damage     # what failed to decode or decoded with errors (vidstyle.io.damage)

An image sequence reads the same way (``VideoReader("scans/reel_%06d.dpx", fps=24)``): its
timestamps are frame indices, and every frame must have the size of the first.

It decodes packet by packet, so a packet the decoder refuses costs its own frame and not the run:
a damaged source is read to its end, and what was wrong with it is counted (``on_damage``).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import DecodeError, RangeError, SequenceError
from ..timecode import TimePoint, format_seconds, parse_timepoint
from .colour import sws_colorspace, sws_range
from .damage import DamageReport, DamageTracker, SourceEnd
from .depth import FLOAT_RGB, HIGH_DEPTH_DTYPE, frame_dtype, from_float, rgb_format
from .probe import VideoInfo, ffmpeg_reason, open_input, pick_video_stream, probe

__all__ = ["FrameBatch", "VideoReader"]

log = logging.getLogger(__name__)

_END = object()


@dataclass(frozen=True)
class FrameBatch:
    """Consecutive decoded frames.

    Attributes:
        frames: (B, H, W, 3) RGB, uint8, or uint16 (0..65535) for a source of more than 8 bits.
        pts: (B,) int64 presentation timestamps in the stream's time base.
        first_index: index of ``frames[0]`` among the frames the reader yields.
    """

    frames: np.ndarray
    pts: np.ndarray
    first_index: int

    def __len__(self) -> int:
        return len(self.frames)


class VideoReader:
    """Iterate over batches of frames of ``[start, end)``, at most ``frames`` of them.

    Args:
        path: the video file.
        start, end: :class:`TimePoint` or text (``"00:01:00.5"``, ``"12.5"``, ``"f1200"``);
            ``end`` is exclusive. ``None`` means the beginning / the end of the file.
        frames: the most frames to yield.
        batch_size: frames per batch.
        queue_depth: batches decoded ahead of the consumer.
        threads: decoder threads (0: libav decides).
        on_damage: ``warn`` reads a damaged source to its end and counts the damage
            (:attr:`damage`); ``conceal`` also repeats the previous frame in place of one that fails
            to decode, with that frame's timestamp; ``fail`` raises at the first damaged frame.
        fps: the rate of an image sequence whose files state none (ignored for a video file).
        eight_bit: decode to uint8 whatever the source's depth (for stages that work on 8 bits);
            otherwise a source of more than 8 bits gives uint16 frames (:attr:`dtype`).

    Raises on iteration:
        RangeError: the range selects no frame.
        DecodeError: no frame of the stream decodes.
        SourceDamageError: with ``on_damage="fail"``, the source is damaged.
        SequenceError: a frame of an image sequence differs in size from the first.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        start: TimePoint | str | None = None,
        end: TimePoint | str | None = None,
        frames: int | None = None,
        batch_size: int = 8,
        queue_depth: int = 4,
        threads: int = 0,
        on_damage: str = "warn",
        fps: Fraction | None = None,
        eight_bit: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, got {batch_size}")
        self.path = Path(path)
        self.info: VideoInfo = probe(self.path, fps=fps)
        #: The frames' dtype: uint8, or uint16 for a source of more than 8 bits (unless ``eight_bit``).
        self.dtype = frame_dtype(8 if eight_bit else self.info.bit_depth)
        #: Lines for the user about the source: an ``fps`` that a video file ignores.
        self.warnings: list[str] = []
        if fps is not None and self.info.sequence is None:
            self.warnings.append(f"--fps {fps} is ignored: {self.path.name} is a video file with its own rate "
                                 f"({float(self.info.fps):g} fps)")
        self.start = parse_timepoint(start) if start is not None else None
        self.end = parse_timepoint(end) if end is not None else None
        self.max_frames = frames
        self.batch_size = batch_size
        self.threads = threads
        self.on_damage = on_damage
        self._start_s = self.start.to_seconds(self.info.fps) if self.start else None
        self._end_s = self.end.to_seconds(self.info.fps) if self.end else None
        self._check_range()

        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_depth))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._container: av.container.InputContainer | None = None
        #: Frames yielded so far, and seconds the decode thread spent working.
        self.frames_read = 0
        self.busy_seconds = 0.0
        self._tracker: DamageTracker | None = None
        self._broken: str | None = None  # libav's words when demuxing broke off
        self._seeks = 0  # seeks back to the beginning by the decode thread
        #: Frames left out because their timestamp did not come after the previous frame's (damage).
        self.backward_frames = 0

    # -- range --------------------------------------------------------------------------
    def _check_range(self) -> None:
        start, end, info = self._start_s, self._end_s, self.info
        if start is not None and end is not None and end <= start:
            raise RangeError(f"--end {self.end} must come after --start {self.start}")
        if start is not None and info.duration > 0 and start >= Fraction(info.duration).limit_denominator(10**6):
            raise RangeError(
                f"--start {self.start} is after the end of the video ({format_seconds(info.duration)})"
            )

    @property
    def is_range(self) -> bool:
        """True when only part of the file is read."""
        return self.start is not None or self.end is not None or self.max_frames is not None

    @property
    def expected_frames(self) -> int | None:
        """How many frames the reader should yield, when it can be told in advance."""
        total = self.info.frame_count
        if not total:
            return self.max_frames
        first = 0 if self._start_s is None else int(round(self._start_s * self.info.fps + Fraction(1, 2)))
        last = total if self._end_s is None else int(round(self._end_s * self.info.fps + Fraction(1, 2)))
        count = max(0, min(total, last) - first)
        return min(count, self.max_frames) if self.max_frames else count

    @property
    def damage(self) -> DamageReport:
        """What was wrong with the frames read so far (complete once iteration has ended)."""
        if self._tracker is None:
            return DamageReport(self.path.name, self.on_damage)
        return self._tracker.report()

    @property
    def truncated(self) -> bool:
        """Whether the file ended before the frames its container lists."""
        return self._tracker is not None and self._tracker.ended is not None

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the decode thread and release the file."""
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:  # unblock a producer waiting on a full queue
                    self._queue.get_nowait()
                except queue.Empty:
                    self._thread.join(timeout=0.05)
            self._thread = None

    def __iter__(self) -> Iterator[FrameBatch]:
        if self._thread is not None:
            raise RuntimeError("a VideoReader can be iterated once")
        self._container = open_input(self.path, fps=self.info.fps)
        self._thread = threading.Thread(target=self._decode_thread, name="vidstyle-decode", daemon=True)
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            self.frames_read += len(item)
            yield item
        if self.frames_read == 0:
            raise RangeError(
                f"the range selects no frame of {self.path.name} "
                f"(start {self.start or 'beginning'}, end {self.end or 'end of file'})"
            )

    def frames(self) -> Iterator[tuple[np.ndarray, int]]:
        """Iterate frame by frame: ``(rgb (H, W, 3) uint8 or uint16, pts)``."""
        for batch in self:
            for frame, pts in zip(batch.frames, batch.pts):
                yield frame, int(pts)

    # -- decode thread ------------------------------------------------------------------
    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _decode_thread(self) -> None:
        container = self._container
        assert container is not None
        try:
            self._decode_into_queue(container)
        except av.FFmpegError as ex:
            self._put(
                DecodeError(
                    f"decoding {self.path.name} failed after {self.frames_read} frames: {ffmpeg_reason(ex)}"
                )
            )
        except BaseException as ex:  # delivered to the consumer, which re-raises it
            self._put(ex)
        finally:
            container.close()

    def _in_range(self, pts: int) -> bool:
        """Whether the frame at ``pts`` lies in ``[start, end)``."""
        t = (pts - self.info.start_pts) * self.info.time_base
        return (self._start_s is None or t >= self._start_s) and (self._end_s is None or t < self._end_s)

    def _decode_into_queue(self, container: av.container.InputContainer) -> None:
        info = self.info
        stream = pick_video_stream(container)
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        tb = info.time_base
        origin = info.start_pts
        start_s, end_s = self._start_s, self._end_s
        colorspace = sws_colorspace(info.colorspace, info.height)
        colour_range = sws_range(info.color_range)
        tracker = self._tracker = DamageTracker(self.path.name, stream.index, on_damage=self.on_damage,
                                                in_range=self._in_range,
                                                seconds=lambda pts: float((pts - origin) * tb))
        conceal = self.on_damage == "conceal"

        sought = False
        if start_s:
            # Seek to the keyframe at or before the start, a second early for decoders
            # whose index points slightly past the true keyframe.
            target = origin + int((max(Fraction(0), start_s - 1)) / tb)
            container.seek(target, stream=stream, backward=True, any_frame=False)
            sought = True

        frames: list[np.ndarray] = []
        pts_list: list[int] = []
        emitted = 0
        emitted_pts: int | None = None  # the timestamp of the last frame given out
        last_pts: int | None = None
        step = max(1, int(round(info.frame_duration / tb)))
        tick = time.perf_counter()

        def flush() -> bool:
            nonlocal frames, pts_list, emitted
            if not frames:
                return True
            batch = FrameBatch(np.stack(frames), np.asarray(pts_list, dtype=np.int64), emitted)
            emitted += len(frames)
            frames, pts_list = [], []
            self.busy_seconds += time.perf_counter() - tick
            ok = self._put(batch)
            return ok

        def emit(picture: np.ndarray, pts: int) -> bool:
            """Add a frame to the batch; False once the reader must stop (closed, or enough frames)."""
            nonlocal tick, emitted_pts
            frames.append(picture)
            pts_list.append(pts)
            emitted_pts = pts
            if len(frames) == self.batch_size:
                if not flush():
                    return False
                tick = time.perf_counter()
            return self.max_frames is None or emitted + len(frames) < self.max_frames

        def fill(lost: list[int], picture: np.ndarray) -> bool:
            """``--on-damage conceal``: ``picture`` in the place of each lost frame."""
            for lost_pts in lost:
                if emitted_pts is not None and lost_pts <= emitted_pts:
                    continue  # a lost frame of a stretch the file holds twice: its time is taken
                tracker.concealed(lost_pts)
                if not emit(picture, lost_pts):
                    return False
            return True

        pixels, deep = rgb_format(self.dtype), self.dtype == HIGH_DEPTH_DTYPE

        def rgb(frame: av.VideoFrame) -> np.ndarray:
            if (frame.width, frame.height) != (info.width, info.height):
                raise self._size_changed(frame, frame.pts if frame.pts is not None else info.start_pts)
            if deep and frame.format.name == FLOAT_RGB:
                return from_float(frame.to_ndarray())
            return frame.to_ndarray(format=pixels, src_colorspace=colorspace, src_color_range=colour_range)

        decoded_any = False
        to_the_end = True  # False when the range or the frame limit stops the reading
        previous: np.ndarray | None = None
        for frame in self._frames(container, stream, tracker):
            if self._stop.is_set():
                return
            pts = frame.pts
            if pts is None:  # raw streams without timestamps: count at the nominal rate
                pts = origin if last_pts is None else last_pts + step
            if sought and not decoded_any and start_s and (pts - origin) * tb > start_s:
                # The seek overshot the range start (a sparse or wrong index): start over.
                log.debug("seek landed after the start; decoding from the beginning instead")
                container.seek(origin, stream=stream, backward=True, any_frame=False)
                tracker.restart()
                self._seeks += 1
                sought = False
                continue
            if last_pts is not None and pts <= last_pts:
                # A damaged file may hold a stretch twice (a repeated chunk) or a timestamp that goes
                # back; an output cannot show two frames at one time, so the later frame is left out.
                self.backward_frames += 1
                continue
            decoded_any = True
            last_pts = pts
            lost = tracker.decoded(pts, corrupt=frame.is_corrupt)  # lost frames lie in the range
            t = (pts - origin) * tb
            if start_s is not None and t < start_s:
                continue
            past_end = end_s is not None and t >= end_s
            picture = None if past_end else rgb(frame)
            if lost and conceal:
                filler = previous if previous is not None else picture if picture is not None else rgb(frame)
                if not fill(lost, filler):
                    to_the_end = False
                    break
            if past_end:
                to_the_end = False
                break
            previous = picture
            if not emit(picture, pts):
                to_the_end = False
                break
        if self._stop.is_set():
            return
        if self.backward_frames:
            log.warning("%s: %d decoded frame(s) left out: their timestamps do not come after the frame "
                        "before (the file is damaged)", self.path.name, self.backward_frames)
        if to_the_end:
            lost = tracker.finish()
            if lost and conceal and previous is not None and not fill(lost, previous) and self._stop.is_set():
                return
            if not decoded_any:
                raise DecodeError(f"no frame of {self.path.name} could be decoded"
                                  + (f": {self._broken}" if self._broken else
                                     f" ({tracker.damage.decode_errors} packets refused)"))
            ending = self._ending(stream, tracker, last_pts)
            if ending is not None:
                tracker.end_early(ending)
                log.info("%s %s", self.path.name, ending.describe())
        if not flush():
            return
        self._put(_END)

    def _size_changed(self, frame: av.VideoFrame, pts: int) -> DecodeError:
        """The error of a frame whose size is not the first frame's: the batches, the model and the
        encoder work at one size."""
        info, size = self.info, f"{frame.width}x{frame.height}"
        first = f"{info.width}x{info.height}"
        if info.sequence is not None:
            sequence = info.sequence
            name = sequence.frame_path(sequence.first + int((pts - info.start_pts) * info.time_base * info.fps)).name
            return SequenceError(f"{sequence.label} mixes frame sizes: {name} is {size}, the first frame "
                                 f"({sequence.frame_path(sequence.first).name}) {first}; a film has one size")
        when = format_seconds(float((pts - info.start_pts) * info.time_base))
        return DecodeError(f"{self.path.name} changes its frame size at {when} "
                           f"({size}, the first frames {first}); vidstyle cannot follow a change of size within a film")

    def _frames(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                tracker: DamageTracker) -> Iterator[av.VideoFrame]:
        """The stream's frames as the decoder gives them, fed one packet at a time.

        A packet the decoder refuses costs its own frame (the tracker counts it), not the run; a
        file whose data breaks off ends there, with what the decoder still holds. A packet the
        demuxer marks corrupt is fed only once another packet follows it: the last packet of a cut
        file is cut short, and fed to a frame-threaded decoder it makes the decoder drop the frames
        it holds (2 sound frames of a 64x48 test clip), so it is counted as lost instead.
        """
        packets = container.demux(stream)
        held: av.Packet | None = None
        seeks = self._seeks
        while True:
            packet: av.Packet | None
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as ex:  # the demuxer cannot go on: flush the decoder, and stop
                self._broken = ffmpeg_reason(ex)
                packet = None
            data = packet is not None and packet.size > 0  # (not the end-of-stream marker, which flushes)
            if held is not None and seeks == self._seeks:
                if data:
                    yield from self._decode(held, stream, tracker)
                else:
                    tracker.refused(held.pts, "cut short at the end of the file")
            held, seeks = None, self._seeks
            if data:
                tracker.fed(packet.pts, keyframe=packet.is_keyframe, corrupt=packet.is_corrupt,
                            discard=packet.is_discard)
                if packet.is_corrupt:
                    held = packet
                    continue
            yield from self._decode(packet, stream, tracker)
            if packet is None:
                return

    def _decode(self, packet: av.Packet | None, stream: av.video.stream.VideoStream,
                tracker: DamageTracker) -> Iterator[av.VideoFrame]:
        """The frames one packet gives (None flushes the decoder); a seek back (``_seeks``) drops
        the rest of them."""
        seeks = self._seeks
        try:
            decoded = packet.decode() if packet is not None else stream.codec_context.decode(None)
        except av.FFmpegError as ex:
            if packet is not None:
                tracker.refused(packet.pts, ffmpeg_reason(ex))
            return
        for frame in decoded:
            yield frame
            if seeks != self._seeks:
                return

    def _ending(self, stream: av.video.stream.VideoStream, tracker: DamageTracker,
                last_pts: int | None) -> SourceEnd | None:
        """Where the file ended, when it ended before what its container states; None when it did not.

        The container states a frame count (MP4, MOV) or a duration of the video track (the
        stream's, or Matroska's ``DURATION`` tag); a file read to its end is early when it has
        fewer frames than the count (from the beginning), or when its last frame ends more than
        two frames and half a second before the duration. Reading that broke off with an error
        always ends early.
        """
        info = self.info
        if tracker.last_pts is not None:  # the file ends with the last frame counted, lost or not
            last_pts = tracker.last_pts if last_pts is None else max(last_pts, tracker.last_pts)
        if last_pts is None:
            return None
        seconds = float((last_pts - info.start_pts) * info.time_base + info.frame_duration)
        count = info.frame_count if info.frame_count_exact else None
        duration = track_duration(stream)
        if self._broken:
            return SourceEnd(tracker.frames, seconds, count, duration, self._broken)
        short_count = count is not None and self._start_s is None and tracker.frames + tracker.discarded < count
        slack = max(2 * float(info.frame_duration), 0.5)
        short_time = duration is not None and seconds < duration - slack
        if short_count or short_time:
            return SourceEnd(tracker.frames, seconds, count, duration)
        return None


def track_duration(stream: av.video.stream.VideoStream) -> float | None:
    """The video track's own duration in seconds, as its container states it (MP4's track header,
    Matroska's ``DURATION`` tag); None when it states none."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    text = (stream.metadata or {}).get("DURATION")
    if not text:
        return None
    try:
        hours, minutes, secs = text.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(secs)
    except ValueError:
        return None
