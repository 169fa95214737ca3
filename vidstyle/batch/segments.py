"""Chunked processing of one long film: plan segments, render each, join them by stream copy.

A two-hour reel is too long for one process to finish soon, so it is cut into segments that run
in parallel (processes or Ray tasks; the orchestration lives elsewhere):

    keyframes, total = keyframe_indices(src)                   # vidstyle.io.remux
    segments = plan_segments(total, keyframes, chunks=4)
    results = [render_segment(src, part_path(s), config, s) for s in segments]   # in parallel
    join_segments(src, [(part_path(s), r.first_pts) for s, r in zip(segments, results)], dst)  # io.remux

* Cuts fall on keyframes of the source, so each segment's decoder starts close to where it is
  needed. Each segment also decodes and runs ``warmup`` frames before its first frame and drops
  their outputs: the temporal state (flow, reused features, blending) then has the history it
  would have had in one run. With ``--repair``, which reads frames on both sides of the one it
  mends (:func:`vidstyle.restore.repair_context`), the warm-up is at least the repair's reach
  back, and ``cooldown`` frames past the segment's end are decoded and run too, their outputs
  dropped: each segment then repairs its frames as one run over the film does.
* A segment file holds only video, with timestamps starting at zero like any output of
  :class:`~vidstyle.io.writer.VideoWriter`; :func:`~vidstyle.io.remux.join_segments` shifts each part back to the
  source's clock, copies its packets without re-encoding, and copies the source's audio and
  subtitles once, as a whole-file run does. The joined file has the frame count and timestamps of
  an unchunked run.

This module plans the segments and renders one (on the engine's loop,
:func:`vidstyle.engine.run_stages`); reading packets and joining them is :mod:`vidstyle.io.remux`'s.

Frame indices count the video stream's frames in presentation order, from 0. They are resolved to
timestamps by reading packets, not by multiplying by a frame rate, so they are exact for variable
frame rate files and for files whose stated rate is slightly off.
"""

from __future__ import annotations

import bisect
import logging
import os
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..config import RangeConfig, RemasterConfig
from ..engine import FramePath, ProgressCallback, StageRun, open_stages, run_stages
from ..errors import DecodeError, RangeError
from ..io.damage import DamageReport, StreamDamage
from ..io.probe import probe
from ..io.remux import frame_time_point, frame_timestamps
from ..io.writer import check_output_path

__all__ = ["Segment", "SegmentResult", "own_damage", "plan_segments", "render_segment"]

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
    cooldown: int = 0
    """Frames decoded and run after the segment's last frame whose outputs are dropped: the
    repair's look-ahead. Not past the end of the film (:func:`plan_segments` clips it)."""

    def __post_init__(self) -> None:
        if self.index < 0 or self.first_frame < 0:
            raise ValueError(f"segment index and first frame must be 0 or more, got {self.index}, {self.first_frame}")
        if self.frames < 1:
            raise ValueError(f"a segment must hold 1 frame or more, got {self.frames}")
        if not 0 <= self.warmup <= self.first_frame:
            raise ValueError(f"warmup must be between 0 and first_frame {self.first_frame}, got {self.warmup}")
        if self.cooldown < 0:
            raise ValueError(f"cooldown must be 0 or more, got {self.cooldown}")

    @property
    def end(self) -> int:
        """Index of the frame after the segment (exclusive end)."""
        return self.first_frame + self.frames

    @property
    def decode_start(self) -> int:
        """Index of the first frame decoded: the first warm-up frame."""
        return self.first_frame - self.warmup

    @property
    def decode_end(self) -> int:
        """Index of the frame after the last one decoded (exclusive): past the cool-down."""
        return self.end + self.cooldown


@dataclass
class SegmentResult:
    """What :func:`render_segment` wrote. Times in seconds; fps = frames / seconds."""

    frames: int
    """Frames written; always equal to the segment's ``frames``."""
    first_pts: int
    """Source pts (in the source video stream's time base) of the first written frame: what
    :func:`~vidstyle.io.remux.join_segments` needs to put the part back on the source's clock."""
    seconds: float
    fps: float
    stage_seconds: dict[str, float] = field(default_factory=dict)
    """Busy seconds of ``decode``, ``model`` and ``encode``, as :class:`~vidstyle.engine.RemasterResult`'s."""
    warnings: list[str] = field(default_factory=list)
    damage: dict[str, Any] | None = None
    """The damage of the segment's own frames (not its warm-up), with the film's frame indices
    (:func:`~vidstyle.io.damage.combine_damage` joins the segments'); None when it has none."""


# -- planning -----------------------------------------------------------------------------------


def plan_segments(
    frame_count: int,
    keyframes: list[int],
    *,
    chunks: int | None = None,
    target_frames: int | None = None,
    warmup: int = 4,
    cooldown: int = 0,
) -> list[Segment]:
    """Cut ``frame_count`` frames into segments at keyframes.

    Aims for ``chunks`` segments of equal length, or for segments of about ``target_frames``
    (``round(frame_count / target_frames)`` of them); each cut moves to the keyframe nearest to
    its ideal place (the earlier one on a tie). Cuts that land on the same keyframe merge, so a
    file with few keyframes or frames gets fewer segments; one without keyframes after frame 0,
    or of one frame, is one segment. The segments cover ``[0, frame_count)`` exactly once.

    Args:
        frame_count: frames in the file, 1 or more.
        keyframes: keyframe indices (from :func:`~vidstyle.io.remux.keyframe_indices`); 0 and indices outside the
            file are ignored.
        chunks, target_frames: exactly one of them, 1 or more.
        warmup: frames run before each segment for the temporal state, clipped to what exists.
        cooldown: frames run after each segment for the repair's look-ahead, clipped to what
            exists (the last segment has none).

    Raises:
        ValueError: a count below 1, a negative warmup or cooldown, or not exactly one of chunks
            and target_frames.

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
    if cooldown < 0:
        raise ValueError(f"cooldown must be 0 or more, got {cooldown}")
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
        Segment(index=i, first_frame=a, frames=b - a, warmup=min(warmup, a), cooldown=min(cooldown, frame_count - b))
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

    Decodes frames ``[segment.decode_start, segment.decode_end)``, runs the repair, the temporal
    stage and the model over all of them (the warm-up frames give the temporal state its
    history, the cool-down frames the repair's look-ahead) and writes the outputs of
    ``[segment.first_frame, segment.end)``. ``config.range`` is ignored: a segment is its own
    range. No audio or subtitles: :func:`~vidstyle.io.remux.join_segments` copies them once for the whole film.
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
    # One frame past the end of what is decoded: its timestamp is where decoding stops.
    timestamps = frame_timestamps(src, upto=segment.decode_end)
    if len(timestamps) < segment.end:
        raise RangeError(
            f"segment {segment.index} ends at frame {segment.end} but {src.name} has {len(timestamps)} frames"
        )
    info = probe(src)
    first_pts = timestamps[segment.first_frame]
    decode_end = min(segment.decode_end, len(timestamps))
    end = frame_time_point(info, timestamps, decode_end) if decode_end < len(timestamps) else None
    keep_until = timestamps[segment.end] if segment.end < decode_end else None
    config = replace(config, range=RangeConfig(start=frame_time_point(info, timestamps, segment.decode_start), end=end))
    reader, model, writer, noise = open_stages(src, dst, config, copy_streams=False)

    def check(run: StageRun) -> None:
        kept = own_damage(run.damage, segment)
        lost_warmup = _lost_before(run.damage, segment.warmup)  # left out under --on-damage warn
        if (run.warmup + lost_warmup, run.frames + kept.lost) != (segment.warmup, segment.frames):
            raise DecodeError(
                f"segment {segment.index} of {src.name} decoded {run.warmup} warm-up and {run.frames} output "
                f"frames, expected {segment.warmup} and {segment.frames}: its packets and decoded frames "
                f"disagree (a damaged file?); remaster it in one piece"
            )

    with reader, writer:
        path = FramePath.open(config, model, source_noise=noise, bits=reader.info.bit_depth)
        run = run_stages(reader, path.run, writer, batches=path.batches(reader, depth=config.queue_depth),
                         progress=progress, total=segment.frames, keep_from=first_pts, keep_until=keep_until,
                         before_commit=check)
    seconds = time.perf_counter() - started
    log.info("segment %d: %d frames (+%d warm-up) in %.1f s", segment.index, run.frames, run.warmup, seconds)
    damage = own_damage(run.damage, segment)
    return SegmentResult(frames=run.frames, first_pts=first_pts, seconds=seconds,
                         fps=run.frames / max(seconds, 1e-9), stage_seconds=run.stage_seconds, warnings=run.warnings,
                         damage=damage.to_dict() if damage.damaged else None)


def own_damage(damage: DamageReport, segment: Segment) -> DamageReport:
    """The damage of a segment's own frames, on the film's numbering: the run's frames from
    ``segment.decode_start``, less the warm-up frames (the previous segment's own) and the
    cool-down frames (the next segment's)."""
    streams = [_before_end(s.clipped(segment.warmup, segment.decode_start), segment) for s in damage.streams]
    return DamageReport(damage.source, damage.on_damage, streams, damage.ended)


def _before_end(stream: StreamDamage, segment: Segment) -> StreamDamage:
    """``stream`` (on the film's numbering) without the frames at or past ``segment.end``."""
    if not segment.cooldown:
        return stream

    def own(indices: list[int]) -> list[int]:
        return [i for i in indices if i < segment.end]

    return replace(stream, frames=min(stream.frames, segment.frames), lost=own(stream.lost),
                   corrupt=own(stream.corrupt), affected=own(stream.affected), concealed=own(stream.concealed))


def _lost_before(damage: DamageReport, warmup: int) -> int:
    """Frames missing from the output (lost, not concealed) among the first ``warmup`` frames the
    run decoded, as :attr:`DamageReport.lost` counts them."""
    return sum(len({i for i in s.lost if i < warmup} - set(s.concealed)) for s in damage.streams)
