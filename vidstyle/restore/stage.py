"""The repair stage: damage of one frame mended from its neighbours, before the network.

Dust and dirt sit on one frame of film and not on the frames either side; a line scratch runs
down the same column for many frames; flicker changes the brightness of whole frames. A network
that sees one frame at a time cannot tell a speck from a button, so this stage looks at the
neighbours first, along the optical flow, in the manner of the motion-compensated detectors
restorers use (Kokaram's spike detection index; VapourSynth's DeSpot and RemoveDirt):

* for every frame ``t`` it computes DIS flow to ``t - 1`` and ``t + 1`` (forward and backward, so
  each flow has its forward-backward reliability), on grey frames shrunk by the temporal stage's
  ``flow_downscale`` and median-filtered so that the specks themselves do not steer the flow, with
  DIS's ``medium`` preset whatever the temporal stage uses (:data:`REPAIR_FLOW_PRESET`);
* it warps both neighbours onto ``t`` and hands them to the parts (:mod:`.spots`,
  :mod:`.scratches`, :mod:`.grain`, :mod:`.flicker`, :mod:`.grade`, in that order), each chosen by
  :class:`~vidstyle.config.RepairConfig`;
* scene cuts (:class:`~vidstyle.temporal.scenes.SceneCutDetector`) end a shot: no neighbour is
  taken across a cut, and the parts that keep state start afresh.

The first and the last frame of a shot have one neighbour. Their specks are read against the two
frames on the side they have (t+1 and t+2, or t-1 and t-2, the flow to the further one computed
directly): a speck is on neither, a thing of the shot is on both, a step and two steps along its
path if it moves (:func:`~vidstyle.restore.spots.find_spots`'s ``side``). Near the picture's edges
they are left as they are, since a thing that has just come in (or is about to leave) is on
neither frame either; a shot of two frames keeps its specks. Scratches (found from the frame's own
columns and the frames before) and flicker are corrected there as anywhere, and the grain is
averaged with the one neighbour they have. Chosen on training material (``python -m
pipelines.repair_check spots``, the spots alone): the RMS error left at the drawn dust of
REEL_DAMAGE on bikes.mp4's training frames 0.709x -> 0.704x the damaged input's (bigbuckbunny.mp4's
frames 0-89: 0.590x -> 0.582x; the independent damage, seed 4242, 0.616x -> 0.608x); the squared
change to bikes.mp4's clean training frames 0.283 -> 0.312 (a glint on a van's corner on the last
frame of a shot; back to 0.283 since the spots keep, there, a blob the picture goes on from or around
which the motion parts: ``SpotSettings.continued`` and ``motion_edge``) and to the fast-particle
clips as before (without the edge margin 0.90 -> 1.33 over five of them: a disc coming in at the top
on a clip's last frame).

The stage runs on a thread of its own between the reader and the temporal stage, two frames of
look-ahead for the spots and more for the flicker (:attr:`RepairStage.delay`), so memory
stays bounded like the rest of the pipeline. It keeps the batches' boundaries and timestamps.

Frames of a source of more than 8 bits (RGB uint16 (H, W, 3) in 0..65535, :mod:`vidstyle.io.depth`)
are repaired by one rule: what looks (the flow, the scene cuts, the detection of specks and
scratches, the statistics of flicker and grade) reads the frame's 8-bit view
(:func:`~vidstyle.io.depth.to_8bit`), so every threshold keeps its meaning in grey levels and the
masks and the report are those of the 8-bit picture; what writes pixels (the fill of specks from
the neighbours warped at 16 bits, the fill of scratches, the flicker and grade corrections) works
at the frame's own depth, so a repaired frame keeps its precision. uint8 frames are their own
8-bit view: their path is the 8-bit path, with no copy.

On its own, frames in and frames out (RGB uint8 or uint16 (H, W, 3), in order, the dtype kept;
each with the bool (H, W) mask of the pixels the spots and scratches parts replaced)::

    stage = RepairStage(RepairConfig())
    for repaired, mask in stage.frames(frames):
        ...
    stage.report()   # per shot: spots, pixels touched, scratches, flicker
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ..config import RepairConfig, TemporalConfig
from ..io.depth import to_8bit, top_level
from ..temporal.flow import FlowEstimator, FlowPair, consistency_mask
from ..temporal.scenes import SceneCutDetector
from ..temporal.warp import warp_numpy, warp_region
from ..threads import on_thread
from .flicker import Deflicker, FlickerSettings
from .grade import Grader
from .grain import GrainNeighbour, GrainSettings, average_grain
from .scratches import ScratchTracker, repair_scratches
from .spots import SpotSettings, Swarm, find_spots, neutral_spots, repair_spots

__all__ = ["REPAIR_FLOW_PRESET", "RepairStage", "open_repair", "repair_context", "same_brightness"]

#: The DIS preset of the repair stage's flow, whatever ``--flow-preset`` the temporal stage runs with:
#: its thresholds were chosen on ``medium`` flows, and on ``fine`` ones (the temporal stage's default
#: since 2026-12-06) the spots doubled their change to clean training frames of bikes.mp4 (squared
#: change of luma 0.18 -> 0.32 per pixel) and cost REEL_DAMAGE's training frames 0.35 dB.
REPAIR_FLOW_PRESET = "medium"

#: Median filter (pixels of the shrunk grey frame) applied before the repair's flow: a speck or a
#: scratch a few pixels wide is gone from the picture the flow is computed on.
FLOW_MEDIAN = 5

#: Called for each frame with (index, decoded frame, mask of the pixels replaced), before flicker.
FrameObserver = Callable[[int, np.ndarray, np.ndarray], None]


@dataclass
class _Frame:
    """One decoded frame on its way through the stage."""

    index: int
    raw: np.ndarray  # as decoded, uint8 or uint16: what the fills read and write
    grey: np.ndarray  # luma of its 8-bit view, uint8 (H, W): what the detectors read, the neighbours warped as
    small: np.ndarray  # the grey picture the flow is computed on
    cut: bool
    back: FlowPair | None = None  # this frame -> the one before
    ahead: FlowPair | None = None  # this frame -> the one after


@dataclass
class _Mended:
    """A frame after spots and scratches, with what flicker needs of it."""

    frame: np.ndarray
    mask: np.ndarray
    prev_w: np.ndarray | None  # luma of the frame before, warped onto this one
    prev_ok: np.ndarray | None
    cut: bool


@dataclass
class _Shot:
    """What the stage did in one shot."""

    first_frame: int
    frames: int = 0
    spots: int = 0
    spot_pixels: int = 0
    scratch_frames: int = 0
    scratch_pixels: int = 0
    swarm_frames: int = 0  # frames on which small things moving alike (rain, snow, sparks) were kept as such
    grain_frames: int = 0  # frames averaged with their neighbours
    grain_sigma: float = 0.0  # the mean noise read (grey levels) over the shot's frames that had a neighbour

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Stats:
    pixels: int = 0
    seconds: float = 0.0
    shots: list[_Shot] = field(default_factory=list)


class RepairStage:
    """Dust, dirt, line scratches and flicker, mended from the neighbouring frames.

    Args:
        config: which parts run (a config whose ``active`` is False passes frames through).
        flow_preset, flow_downscale: the optical flow between neighbours (a run's stage:
            :data:`REPAIR_FLOW_PRESET` at the temporal stage's downscale).
        observer: sees every frame with the mask of the pixels replaced (``vidstyle preview
            --show-repair``).
    """

    def __init__(self, config: RepairConfig, *, flow_preset: str = REPAIR_FLOW_PRESET, flow_downscale: int = 2,
                 observer: FrameObserver | None = None) -> None:
        self.config = config
        self.estimator = FlowEstimator(flow_preset, downscale=flow_downscale)
        self.cuts = SceneCutDetector()
        self.spot_settings = SpotSettings()
        self.grain_settings = GrainSettings()
        self._sigmas: list[float] = []  # the noise read on each frame of the current shot
        self._swarm = Swarm()  # rain or sparks moving alike on the current shot's frames so far
        self.scratches = ScratchTracker() if config.scratches else None
        self.deflicker = Deflicker() if config.flicker else None
        self.grader = Grader() if config.grade else None
        self.observer = observer
        self.stats = _Stats()
        self._masks: list[PackedMask] = []  # masks of the frames flicker holds back, in order, a bit a pixel
        self._ready: list[np.ndarray] = []  # frames out of flicker, waiting for the grade
        self._cuts: list[bool] = []  # whether each frame held back starts a shot

    @property
    def delay(self) -> int:
        """Frames the stage holds back before it gives a frame out (its look-ahead): two for the
        spots (the first frame of a shot is read against the two after it), more for the flicker."""
        return 2 + (self.deflicker.delay if self.deflicker is not None else 0)

    # -- frames ---------------------------------------------------------------------------------
    def frames(self, frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Each frame of ``frames`` repaired, in order, with the bool (H, W) mask of the pixels
        the spots and scratches parts replaced (flicker and grade touch every pixel a little and
        are not in it)."""
        held: list[_Frame] = []  # frames t-2 .. t+2 around the next frame to mend, as far as they have come
        mending = 0  # index in ``held`` of the next frame to mend
        for index, frame in enumerate(frames):
            tick = time.perf_counter()
            arrived = self._arrive(index, frame)
            if held and not arrived.cut:
                self._link(held[-1], arrived)
            held.append(arrived)
            out = None
            if len(held) - mending > 2:  # the frame to mend has the two after it
                out = self._mend_held(held, mending)
                mending += 1
                if mending > 2:
                    held.pop(0)
                    mending -= 1
            self.stats.seconds += time.perf_counter() - tick
            if out is not None:
                yield from self._release(out)
        while mending < len(held):
            tick = time.perf_counter()
            out = self._mend_held(held, mending)
            mending += 1
            self.stats.seconds += time.perf_counter() - tick
            yield from self._release(out)
        yield from self._release(None, final=True)

    def _mend_held(self, held: list[_Frame], at: int) -> _Mended:
        """:meth:`_mend` of ``held[at]`` with its neighbours in its shot among ``held``."""

        def within(k: int) -> _Frame | None:  # the frame k places from ``at`` if it is in the same shot
            j = at + k
            if not 0 <= j < len(held) or any(held[m].cut for m in range(min(at, j) + 1, max(at, j) + 1)):
                return None
            return held[j]

        return self._mend(held[at], within(-1), within(1), within(-2), within(2))

    def batches(self, batches: Iterable, *, depth: int = 2) -> Iterator:
        """The batches of ``batches`` (FrameBatch-like), repaired on a thread of its own; same
        boundaries, timestamps and indices, frames replaced (a batch that has a ``decoded`` field,
        a :class:`~vidstyle.temporal.plan.PlannedBatch`, keeps the frames as decoded there)."""

        def repaired() -> Iterator:
            pending: list = []

            def frames() -> Iterator[np.ndarray]:
                for batch in batches:
                    pending.append(batch)
                    yield from batch.frames

            done: list[np.ndarray] = []
            for frame, _ in self.frames(frames()):
                done.append(frame)
                if len(done) == len(pending[0]):
                    batch = pending.pop(0)
                    kept = {"decoded": batch.frames} if hasattr(batch, "decoded") else {}
                    yield replace(batch, frames=np.stack(done), **kept)
                    done = []

        return on_thread(repaired(), _same, name="vidstyle-repair", depth=depth)

    def report(self) -> dict:
        """What the stage did: counts per shot and for the run (plain ints and floats)."""
        shots = [s.to_dict() for s in self.stats.shots]
        total = {key: sum(s[key] for s in shots) for key in ("frames", "spots", "spot_pixels", "swarm_frames",
                                                              "scratch_frames", "scratch_pixels", "grain_frames")}
        report = {
            "mode": self.config.mode,
            "parts": [p for p in ("spots", "scratches", "flicker", "grain", "grade") if getattr(self.config, p)],
            **total,
            "pixels": self.stats.pixels,
            "pixels_touched": total["spot_pixels"] + total["scratch_pixels"],
            "seconds": round(self.stats.seconds, 3),
            "shots": shots,
        }
        if self.deflicker is not None:
            report["flicker"] = self.deflicker.report()
        if self.grader is not None:
            report["grade"] = self.grader.report()
        return report

    # -- one frame ------------------------------------------------------------------------------
    def _arrive(self, index: int, frame: np.ndarray) -> _Frame:
        view = to_8bit(frame)  # the frame itself when it is uint8
        small = self.estimator.prepare(view)
        cut = self.cuts.update(small) or index == 0
        return _Frame(index, frame, cv2.cvtColor(view, cv2.COLOR_RGB2GRAY), cv2.medianBlur(small, FLOW_MEDIAN), cut)

    def _link(self, before: _Frame, after: _Frame) -> None:
        """The flows between two neighbours of one shot (:meth:`_flows`), kept on both."""
        after.back, before.ahead = self._flows(after, before)

    def _flows(self, target: _Frame, source: _Frame) -> tuple[FlowPair, FlowPair]:
        """``(target -> source, source -> target)``: the flows between two frames of one shot, each with
        its reliability, computed with ``source`` brought to ``target``'s brightness
        (:func:`same_brightness`)."""
        brought = same_brightness(source.small, target.small)
        forward = self.estimator.flow(target.small, brought)  # target -> source
        backward = self.estimator.flow(brought, target.small)  # source -> target
        scale = self.estimator.downscale
        # The forward-backward check only: the motion-boundary test fails broadly on grain, and the
        # parts guard against motion themselves (see consistency_mask).
        return (FlowPair(forward, consistency_mask(forward, backward, boundaries=False), scale),
                FlowPair(backward, consistency_mask(backward, forward, boundaries=False), scale))

    def _mend(self, frame: _Frame, before: _Frame | None, after: _Frame | None,
              before2: _Frame | None = None, after2: _Frame | None = None) -> _Mended:
        """Spots, then scratches, then grain, of one frame; returns the frame for flicker and grade.
        ``before``/``after`` are the frames either side in its shot (None at its ends), ``before2``
        and ``after2`` the ones two places away, which the spots read at a shot's ends."""
        h, w = frame.raw.shape[:2]
        prev_w, prev_ok, prev_flow = _onto(frame.back, before, h, w)
        next_w, next_ok, next_flow = _onto(frame.ahead, after, h, w)
        out, mask = frame.raw, np.zeros((h, w), bool)
        if frame.cut:  # frames are mended in order: a shot's report starts with its first frame
            self.stats.shots.append(_Shot(first_frame=frame.index))
            self._sigmas = []
            self._swarm = Swarm()
        shot = self.stats.shots[-1]
        pair = None
        if self.config.spots:
            pair = self._spot_neighbours(frame, (before, prev_w, prev_ok, prev_flow),
                                         (after, next_w, next_ok, next_flow), before2, after2)
        if pair is not None:
            side, (one, one_w, one_ok, one_flow), (two, two_w, two_ok, two_flow) = pair
            # The neighbours at the frame's brightness: flicker would otherwise add to every spike on a
            # brighter frame and take from it on a darker one.
            spots = find_spots(frame.grey, same_brightness(one_w, frame.grey), same_brightness(two_w, frame.grey),
                               one_ok, two_ok, self.spot_settings,
                               prev_raw=one.grey, next_raw=two.grey, swarm=self._swarm, side=side,
                               motion=one_flow)
            shot.swarm_frames += self._swarm.motion is not None
            if spots.any():
                out, spots = self._fill(frame.raw, spots, (one.raw, one_flow), (two.raw, two_flow))
            if spots.any():
                shot.spots += cv2.connectedComponents(spots.astype(np.uint8), connectivity=8)[0] - 1
                shot.spot_pixels += int(np.count_nonzero(spots))
                mask |= spots
        if self.scratches is not None:
            lines = self.scratches.update(out, frame.cut, prev_w, next_w)
            if lines.any():
                out = repair_scratches(out, lines)
                shot.scratch_frames += 1
                shot.scratch_pixels += int(np.count_nonzero(lines & ~mask))
                mask |= lines
        if self.config.grain:
            sides = ((before, prev_flow, prev_ok, prev_w), (after, next_flow, next_ok, next_w))
            neighbours = [GrainNeighbour(n.raw, flow, ok, luma) for n, flow, ok, luma in sides if luma is not None]
            if neighbours:
                # Judged by the luma as decoded: where a speck or a scratch was filled, the frame
                # differs from its neighbours there and keeps the fill.
                averaged, sigma = average_grain(out, neighbours, self.grain_settings, grey=frame.grey)
                shot.grain_frames += averaged is not out
                self._sigmas.append(sigma)
                shot.grain_sigma = round(float(np.mean(self._sigmas)), 2)
                out = averaged
        shot.frames += 1
        self.stats.pixels += h * w
        if self.observer is not None:
            self.observer(frame.index, frame.raw, mask)
        return _Mended(out, mask, prev_w, prev_ok, frame.cut)

    def _spot_neighbours(self, frame: _Frame, before: tuple, after: tuple, before2: _Frame | None,
                         after2: _Frame | None) -> tuple[int, tuple, tuple] | None:
        """``(side, one, two)`` for :func:`find_spots`: the frames either side, or at a shot's ends the
        two on the side it has (``side`` -1: t-1 and t-2; +1: t+1 and t+2), each as ``(frame, luma
        warped onto this one, where its flow holds, the flow)``; None with fewer than two. ``before``
        and ``after`` are such tuples (their frame None at a shot's ends)."""
        if before[0] is not None and after[0] is not None:
            return 0, before, after
        if before[0] is not None and before2 is not None:
            return -1, before, self._onto_far(frame, before2)
        if after[0] is not None and after2 is not None:
            return 1, after, self._onto_far(frame, after2)
        return None

    def _onto_far(self, frame: _Frame, other: _Frame) -> tuple:
        """``other`` (two frames away in the shot) as a neighbour of ``frame``: the flow between them
        computed directly (:meth:`_flows`), with its forward-backward check."""
        pair, _ = self._flows(frame, other)
        h, w = frame.raw.shape[:2]
        return (other, *_onto(pair, other, h, w))

    def _fill(self, frame: np.ndarray, spots: np.ndarray, before: tuple[np.ndarray, np.ndarray],
              after: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``frame`` with its spots filled from both neighbours (each a raw frame and the flow onto
        this one), warped in colour, at the frames' own depth, only over the spots' bounding box
        and its feathered rim, each brought to the frame's brightness around each spot
        (:func:`matched`); and the spots filled (less the coloured ones, :func:`neutral_spots`)."""
        rim = self.spot_settings.feather + 1
        ys, xs = np.nonzero(spots)
        h, w = spots.shape
        box = (slice(max(0, ys.min() - rim), min(h, ys.max() + rim + 1)),
               slice(max(0, xs.min() - rim), min(w, xs.max() + rim + 1)))
        prev_w, next_w = (warp_region(raw, flow, box) for raw, flow in (before, after))
        prev_w, next_w = matched((prev_w, next_w), frame[box], spots[box], self.spot_settings.feather)
        spots = spots.copy()
        spots[box] = neutral_spots(frame[box], spots[box], prev_w, next_w, self.spot_settings)
        if not spots[box].any():
            return frame, spots
        out = frame.copy()
        out[box] = repair_spots(frame[box], spots[box], prev_w, next_w, self.spot_settings)
        return out, spots

    def _release(self, mended: _Mended | None, *, final: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Hand a mended frame to flicker and grade; yield what they give back, in order."""
        if mended is not None:
            self._masks.append(PackedMask.of(mended.mask))
            if self.deflicker is None:
                self._ready.append(mended.frame)
            else:
                self.deflicker.push(mended.frame, mended.prev_w, mended.prev_ok, mended.cut)
                self._ready.extend(_drain(self.deflicker))
            self._cuts.append(mended.cut)
        if final and self.deflicker is not None:
            self._ready.extend(self.deflicker.flush())
        while self._ready:
            frame, cut = self._ready.pop(0), self._cuts.pop(0)
            if self.grader is not None:
                frame = self.grader.apply(frame, cut)
            yield frame, self._masks.pop(0).unpack()


@dataclass(frozen=True)
class PackedMask:
    """A bool (H, W) mask held a bit a pixel (``np.packbits``): the flicker's look-ahead holds two
    dozen frames' masks, which as bools were 49 MiB at 1920x1080 (tracemalloc, 2026-12-08)."""

    bits: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def of(cls, mask: np.ndarray) -> PackedMask:
        return cls(np.packbits(mask, axis=None), mask.shape)

    def unpack(self) -> np.ndarray:
        return np.unpackbits(self.bits, count=self.shape[0] * self.shape[1]).view(bool).reshape(self.shape)


def same_brightness(picture: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``picture`` (grey uint8) shifted by the median difference ``reference - picture`` (on
    every second row and column), clipped: two neighbouring frames at the same brightness.

    The repair's flow is computed on such a pair. DIS's variational refinement holds brightness
    constant, so where two frames differ in brightness it explains part of the difference as
    motion along the picture's gradients, and the frame before, warped by that flow, comes out
    already partly brightened or darkened. On bigbuckbunny.mp4's training frames [40, 80) under
    REEL_DAMAGE, the flicker part's fits measured 0.93 of the change of brightness the damage drew
    (the slope over the frame pairs); with the pair brought together, 1.00, and the flicker left by
    that part fell from 4.5x the clean frames' to 1.9-2.2x (three seeds). The median difference,
    not the difference of the means: where the content changes (a bright object comes in), the
    means differ though the light does not, and a flow computed with that shift made the spots
    part change clean bikes.mp4 2.6 times as much (``python -m pipelines.repair_check stage``);
    with the median, as much as before (0.158 against 0.153).
    """
    shift = float(np.median(reference[::2, ::2].astype(np.int16) - picture[::2, ::2]))
    if shift == 0:
        return picture
    return np.clip(np.rint(picture + np.float32(shift)), 0, 255).astype(np.uint8)


def matched(neighbours: tuple[np.ndarray, ...], frame: np.ndarray, spots: np.ndarray, feather: int = 2,
            ring: int = 4) -> tuple[np.ndarray, ...]:
    """``neighbours`` (RGB, warped onto ``frame``, its dtype and shape) brought to the frame's
    brightness at each blob of ``spots`` (bool (H, W)): over the blob and its ``feather`` rim (what
    :func:`~vidstyle.restore.spots.repair_spots` fills and blends), each shifted on each of R, G and
    B by the median of ``frame - neighbour`` (of their 8-bit views, in whole grey levels) over the
    pixels up to ``ring`` (at least ``feather``) outside the blob and on no blob. Elsewhere, and at a
    blob with fewer than 8 such pixels, as they are. The blobs and their rings are read once for all
    the neighbours.

    Flicker makes the frame brighter or darker than both its neighbours, by a gain as much as by an
    offset, so the shift is read at each blob: the neighbours' mean as it is would leave a patch of
    the neighbours' brightness where the speck was."""
    h, w = spots.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(spots.view(np.uint8), connectivity=8)
    if count <= 1:
        return neighbours
    ring = max(ring, feather)
    top = top_level(frame.dtype)
    level = top / 255.0  # one grey level of 255 at the frame's depth
    outs = [n.astype(np.float32) for n in neighbours]
    views = [to_8bit(n) for n in neighbours]
    seen_frame = to_8bit(frame)
    near, rim = (cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)) for r in (ring, feather))
    for label in range(1, count):
        x, y, bw, bh = stats[label, :4]
        rows = slice(max(0, y - ring), min(h, y + bh + ring))
        cols = slice(max(0, x - ring), min(w, x + bw + ring))
        blob = (labels[rows, cols] == label).view(np.uint8)
        around = cv2.dilate(blob, near).view(bool) & ~spots[rows, cols]
        if np.count_nonzero(around) < 8:
            continue
        filled = cv2.dilate(blob, rim).view(bool)
        here = seen_frame[rows, cols][around].astype(np.int16)
        for out, view in zip(outs, views):
            # Read on the 8-bit views, as all that looks is, and written at the frame's depth: the lower median is
            # one of the differences, a whole level.
            shift = np.quantile(here - view[rows, cols][around], 0.5, axis=0, method="lower")
            out[rows, cols][filled] += shift.astype(np.float32) * level
    return tuple(np.clip(np.rint(out), 0, top).astype(frame.dtype) for out in outs)


def _onto(pair: FlowPair | None, neighbour: _Frame | None, h: int, w: int):
    """``neighbour``'s luma warped onto the frame ``pair`` starts from (uint8 (h, w)), where that
    flow holds (bool (h, w)) and the flow itself (float32 (h, w, 2)); three Nones without a
    neighbour."""
    if pair is None or neighbour is None:
        return None, None, None
    flow, mask = pair.at(h, w)
    return warp_numpy(neighbour.grey, flow), mask > 0.5, flow


def _drain(deflicker: Deflicker) -> Iterator[np.ndarray]:
    while (frame := deflicker.pop()) is not None:
        yield frame


def _same(item):
    return item


def repair_context(config: RepairConfig) -> tuple[int, int]:
    """``(before, after)``: how many frames before and after a frame its repair reads.

    A segment of a long film (:mod:`vidstyle.batch.segments`) that decodes ``before`` frames
    ahead of its first frame and ``after`` frames past its last repairs its own frames exactly
    as one run over the whole film does. The counts follow the parts' reach: the spots read two
    frames either side (at a shot's ends), the grain one, the scratch tracker the frame after, and it
    remembers the candidates of the two frames before, read on frames the spots mended; the flicker of a frame
    is fitted over ``radius`` frames either side of each of the ``smoothing`` frames either side
    whose targets its own is averaged with, each fit reading a mended frame and the frame before
    it, and the window must not meet the segment's start, where the stage begins a shot. The
    grade's running estimate reaches back to the start of the shot, so it is not counted: a
    segment starts it afresh. (0, 0) when the stage does nothing.
    """
    if not config.active:
        return 0, 0
    spots = 2 * int(config.spots)  # a shot's last frame reads the two before it, its first the two after
    mended_before = spots + 2 if config.scratches else spots
    mended_before = max(mended_before, int(config.grain))  # the grain reads the frames either side
    mended_after = max(spots, int(config.scratches or config.grain))
    if not config.flicker:
        return mended_before, mended_after
    settings = FlickerSettings()  # the stage's Deflicker runs with the defaults
    reach = settings.radius + settings.smoothing
    return reach - 1 + max(1, mended_before), reach + mended_after


def open_repair(repair: RepairConfig, temporal: TemporalConfig, *,
                observer: FrameObserver | None = None) -> RepairStage | None:
    """The repair stage a run asks for, or None when it does nothing (``--repair off``)."""
    if not repair.active:
        return None
    return RepairStage(repair, flow_preset=REPAIR_FLOW_PRESET, flow_downscale=temporal.flow_downscale,
                       observer=observer)
