"""Decode a video into batches of RGB frames, on a thread of its own.

``VideoReader`` seeks to the keyframe before the range, decodes forward, drops the
frames that precede the range, and hands batches to the caller through a bounded
queue, so decoding overlaps with whatever the caller does with the frames.

    with VideoReader("reel.mkv", start="00:01:00", frames=48, batch_size=8) as reader:
        for batch in reader:
            batch.frames  # (B, H, W, 3) uint8 RGB
            batch.pts     # (B,) int64, in reader.info.time_base
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

from ..errors import DecodeError, RangeError
from ..timecode import TimePoint, format_seconds, parse_timepoint
from .colour import sws_colorspace, sws_range
from .probe import VideoInfo, ffmpeg_reason, open_input, pick_video_stream, probe

__all__ = ["FrameBatch", "VideoReader"]

log = logging.getLogger(__name__)

_END = object()


@dataclass(frozen=True)
class FrameBatch:
    """Consecutive decoded frames.

    Attributes:
        frames: (B, H, W, 3) uint8 RGB.
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

    Raises on iteration:
        RangeError: the range selects no frame.
        DecodeError: the stream breaks before its end.
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
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, got {batch_size}")
        self.path = Path(path)
        self.info: VideoInfo = probe(self.path)
        self.start = parse_timepoint(start) if start is not None else None
        self.end = parse_timepoint(end) if end is not None else None
        self.max_frames = frames
        self.batch_size = batch_size
        self.threads = threads
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
        #: Set when the file ended well before the frame count its container states.
        self.truncated = False

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
        self._container = open_input(self.path)
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
        """Iterate frame by frame: ``(rgb (H, W, 3) uint8, pts)``."""
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

        decoded_any = False
        for frame in container.decode(stream):
            if self._stop.is_set():
                return
            pts = frame.pts
            if pts is None:  # raw streams without timestamps: count at the nominal rate
                pts = origin if last_pts is None else last_pts + step
            if sought and not decoded_any and start_s and (pts - origin) * tb > start_s:
                # The seek overshot the range start (a sparse or wrong index): start over.
                log.debug("seek landed after the start; decoding from the beginning instead")
                container.seek(origin, stream=stream, backward=True, any_frame=False)
                sought = False
                continue
            decoded_any = True
            last_pts = pts
            t = (pts - origin) * tb
            if start_s is not None and t < start_s:
                continue
            if end_s is not None and t >= end_s:
                break
            frames.append(
                frame.to_ndarray(format="rgb24", src_colorspace=colorspace, src_color_range=colour_range)
            )
            pts_list.append(pts)
            if len(frames) == self.batch_size:
                if not flush():
                    return
                tick = time.perf_counter()
            if self.max_frames is not None and emitted + len(frames) >= self.max_frames:
                break
        if not flush():
            return
        expected = self.expected_frames
        if not self.is_range and info.frame_count_exact and expected and emitted < expected * 0.98:
            self.truncated = True
            log.warning(
                "%s ended after %d of the %d frames its container lists: the file looks truncated",
                self.path.name, emitted, expected,
            )
        self._put(_END)
