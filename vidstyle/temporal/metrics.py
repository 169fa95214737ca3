"""How steady a video is over time, and how close it is to a clean reference.

Figures, each averaged with every frame (or pair of consecutive frames) weighted equally:

* **warping error** (Lai et al., "Learning Blind Video Temporal Consistency", ECCV 2018): for each
  ``t``, output frame ``t + 1`` is warped back onto frame ``t`` by the flow ``t -> t + 1``, and the
  mean squared difference with output frame ``t`` is taken over the pixels where the flow is
  reliable (:func:`~.flow.consistency_mask`), RGB in [0, 1]. The flow is computed on a *guide*
  video (the input, or the clean reference), not on the output being judged, so an output that
  flickers cannot make its own flow fail and hide the flicker. The guide may be smaller than the
  output (the input of an x2 upscale): its flow and mask are resampled to the output size. As in
  the authors' code, a pair where no pixel is reliable is measured over the whole picture.
  Pairs across a scene cut (found on the guide by :class:`~.scenes.SceneCutDetector`) are left
  out: no flow links two shots, and one cut would outweigh the flicker of a whole shot.
  Lower is steadier; 0 for a still picture.
* **flicker**: mean over ``t`` of ``|mean luma(t + 1) - mean luma(t)|``, in 8-bit levels of
  BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` (R, G, B in 0..255), pairs across a cut left out
  too. Lower is steadier. It sees global brightness pumping, which the warping error spreads
  thinly over the picture.
* **PSNR, SSIM** against a reference of the same size: on BT.601 Y, no border cropped, per frame by
  :func:`~vidstyle.quality.frame_scores`, then averaged (so one identical frame makes the
  mean PSNR infinite).

With fewer than two frames the warping error and the flicker are not defined: they are ``nan``.

Example::

    >>> metrics = video_metrics("reel_hd.mkv", flow_from="reel.mkv")   # doctest: +SKIP
    >>> metrics.warping_error, metrics.flicker                          # doctest: +SKIP
    (0.0012, 0.41)
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io.reader import VideoReader
from ..quality import frame_scores
from .flow import FlowEstimator, to_gray
from .scenes import SceneCutDetector
from .warp import warp_numpy

__all__ = ["MetricsAccumulator", "VideoMetrics", "flicker", "video_metrics", "warping_error"]

log = logging.getLogger(__name__)

#: BT.601 luma weights of R, G, B.
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def _check_frame(frame: np.ndarray, name: str) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            f"{name} must be an RGB uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}"
        )


def _mean_luma(frame: np.ndarray) -> float:
    """Mean BT.601 luma of RGB uint8 (H, W, 3), in 8-bit levels (0..255)."""
    return float(frame.reshape(-1, 3).mean(axis=0) @ _LUMA_WEIGHTS)


class MetricsAccumulator:
    """The figures of a video fed one frame at a time, keeping only the previous frame.

    Args:
        estimator: the optical flow of the warping error; ``FlowEstimator("medium", downscale=1)``
            when None.

    Every call to :meth:`add` must give frames of the same sizes as the first, and a reference
    always or never.

    Example::

        acc = MetricsAccumulator()
        for output, source in zip(outputs, inputs):
            acc.add(output, guide=source)
        acc.warping_error, acc.flicker
    """

    def __init__(self, *, estimator: FlowEstimator | None = None) -> None:
        if estimator is None:
            estimator = FlowEstimator("medium", downscale=1)
        self.estimator = estimator
        #: Frames added so far.
        self.frames = 0
        self._output_shape: tuple[int, ...] | None = None
        self._guide_shape: tuple[int, ...] | None = None
        self._has_reference = False
        self._previous_output: np.ndarray | None = None  # float32 (H, W, 3) in [0, 1]
        self._previous_guide: np.ndarray | None = None  # as prepared by the estimator
        self._previous_luma = 0.0
        self._warp_sum = 0.0
        self._flicker_sum = 0.0
        self._cuts = SceneCutDetector()
        #: Frames (indices) found to start a new shot; the pair before each is not measured.
        self.cuts: list[int] = []
        self._psnr_sum = 0.0
        self._ssim_sum = 0.0

    def add(
        self,
        output: np.ndarray,
        guide: np.ndarray | None = None,
        reference: np.ndarray | None = None,
    ) -> None:
        """Take the next frame.

        Args:
            output: the frame judged, RGB uint8 (H, W, 3).
            guide: the frame the flow is computed on, RGB uint8 (h, w, 3) of any size; the output
                itself when None.
            reference: the clean frame for PSNR and SSIM, RGB uint8 (H, W, 3), or None.
        """
        guide = output if guide is None else guide
        self._check(output, guide, reference)

        output_float = output.astype(np.float32) * np.float32(1 / 255)
        prepared = self.estimator.prepare(guide)
        luma = _mean_luma(output)
        cut = self._cuts.update(to_gray(guide, max(1, guide.shape[1] // 320)))
        if cut:
            self.cuts.append(self.frames)
        elif self.frames > 0:
            self._warp_sum += self._pair_error(
                self._previous_guide, prepared, self._previous_output, output_float
            )
            self._flicker_sum += abs(luma - self._previous_luma)
        if reference is not None:
            scores = frame_scores(output, reference, border=0)
            self._psnr_sum += scores["psnr"]
            self._ssim_sum += scores["ssim"]
        self._previous_output, self._previous_guide = output_float, prepared
        self._previous_luma = luma
        self.frames += 1

    def _check(self, output: np.ndarray, guide: np.ndarray, reference: np.ndarray | None) -> None:
        _check_frame(output, "output")
        _check_frame(guide, "guide")
        if reference is not None:
            _check_frame(reference, "reference")
            if reference.shape != output.shape:
                raise ValueError(
                    f"reference {reference.shape} and output {output.shape} differ in size"
                )
        if self.frames == 0:
            self._output_shape, self._guide_shape = output.shape, guide.shape
            self._has_reference = reference is not None
            return
        if output.shape != self._output_shape:
            raise ValueError(
                f"output frame {self.frames} is {output.shape}, expected {self._output_shape}"
            )
        if guide.shape != self._guide_shape:
            raise ValueError(
                f"guide frame {self.frames} is {guide.shape}, expected {self._guide_shape}"
            )
        if (reference is not None) != self._has_reference:
            now, first = ("one", "none") if reference is not None else ("none", "one")
            raise ValueError(
                f"a reference must come with every frame or with none; frame {self.frames} "
                f"has {now}, frame 0 had {first}"
            )

    def _pair_error(
        self,
        previous_guide: np.ndarray,
        guide: np.ndarray,
        previous: np.ndarray,
        current: np.ndarray,
    ) -> float:
        """Masked MSE between ``previous`` and ``current`` warped onto it by the guides' flow.

        A mask resampled to the output size weighs the pixels by its value (0 to 1).
        """
        height, width = previous.shape[:2]
        flow, mask = self.estimator.pair(previous_guide, guide).at(height, width)
        squared = ((previous - warp_numpy(current, flow)) ** 2).sum(axis=2)
        weight = float(mask.sum())
        if weight == 0.0:
            return float(squared.mean()) / 3
        return float((squared * mask).sum()) / (3 * weight)

    @property
    def pairs(self) -> int:
        """Consecutive pairs measured: those within a shot."""
        return max(0, self.frames - 1 - len(self.cuts))

    @property
    def warping_error(self) -> float:
        """Mean masked MSE, RGB in [0, 1]; nan with fewer than 2 frames."""
        return self._warp_sum / self.pairs if self.pairs else math.nan

    @property
    def flicker(self) -> float:
        """Mean |change of mean luma| between frames, 8-bit levels; nan with fewer than 2 frames."""
        return self._flicker_sum / self.pairs if self.pairs else math.nan

    @property
    def psnr(self) -> float | None:
        """Mean PSNR on Y in dB (inf if a frame is identical); None without a reference."""
        return self._psnr_sum / self.frames if self._has_reference and self.frames else None

    @property
    def ssim(self) -> float | None:
        """Mean SSIM on Y, at most 1; None without a reference."""
        return self._ssim_sum / self.frames if self._has_reference and self.frames else None


def warping_error(
    outputs: Iterable[np.ndarray],
    guides: Iterable[np.ndarray] | None = None,
    *,
    estimator: FlowEstimator | None = None,
) -> float:
    """Warping error of Lai et al. (2018) of ``outputs``, the flow computed on ``guides``.

    Args:
        outputs: RGB uint8 (H, W, 3) frames, or one (T, H, W, 3) array.
        guides: as many RGB uint8 (h, w, 3) frames to compute the flow on (the input or a clean
            reference, of any size); the outputs themselves when None.
        estimator: as :class:`MetricsAccumulator`.

    Returns:
        The mean over consecutive pairs of the masked MSE, RGB in [0, 1]; nan with fewer than 2
        frames.
    """
    accumulator = MetricsAccumulator(estimator=estimator)
    if guides is None:
        for output in outputs:
            accumulator.add(output)
        return accumulator.warping_error
    outputs, guides = list(outputs), list(guides)
    if len(outputs) != len(guides):
        raise ValueError(
            f"expected as many guides as outputs, got {len(guides)} and {len(outputs)}"
        )
    for output, guide in zip(outputs, guides):
        accumulator.add(output, guide)
    return accumulator.warping_error


def flicker(outputs: Iterable[np.ndarray]) -> float:
    """Mean |change of mean BT.601 luma| between consecutive RGB uint8 frames, in 8-bit levels.

    Pairs across a scene cut are left out, as in :class:`MetricsAccumulator`; nan with fewer
    than 2 frames in a shot.
    """
    total, count, previous = 0.0, 0, None
    cuts = SceneCutDetector()
    for frame in outputs:
        _check_frame(frame, "frame")
        luma = _mean_luma(frame)
        cut = cuts.update(to_gray(frame, max(1, frame.shape[1] // 320)))
        if previous is not None and not cut:
            total += abs(luma - previous)
            count += 1
        previous = luma
    return total / count if count else math.nan


@dataclass(frozen=True)
class VideoMetrics:
    """The figures of one video (see the module docstring for their definitions)."""

    output: Path
    frames: int
    width: int
    height: int
    warping_error: float
    """MSE, RGB in [0, 1]; nan with fewer than 2 frames."""
    flicker: float
    """8-bit luma levels per frame; nan with fewer than 2 frames."""
    flow_source: Path
    """The video the flow was computed on."""
    ref: Path | None = None
    psnr: float | None = None
    """dB on Y, inf when identical; None without ``ref``."""
    ssim: float | None = None
    """On Y, at most 1; None without ``ref``."""
    cuts: tuple[int, ...] = ()
    """Frames found to start a new shot (on the flow's video); the pairs across them are left out."""

    def to_dict(self) -> dict[str, Any]:
        """Plain values for strict JSON: nan becomes None, an infinite PSNR the string ``"inf"``."""

        def figure(value: float | None) -> float | str | None:
            if value is None or math.isnan(value):
                return None
            return "inf" if math.isinf(value) else value

        return {
            "output": str(self.output),
            "frames": self.frames,
            "width": self.width,
            "height": self.height,
            "warping_error": figure(self.warping_error),
            "flicker": figure(self.flicker),
            "flow_source": str(self.flow_source),
            "ref": str(self.ref) if self.ref is not None else None,
            "psnr": figure(self.psnr),
            "ssim": figure(self.ssim),
            "scene_cuts": list(self.cuts),
        }

    def describe(self) -> str:
        """One figure a line; ``n/a`` for a figure that needs two frames or more."""
        lines = [f"frames         {self.frames}, {self.width}x{self.height}"]
        if math.isnan(self.warping_error):
            lines.append("warping error  n/a (needs 2 frames or more in a shot)")
            lines.append("flicker        n/a (needs 2 frames or more in a shot)")
        else:
            lines.append(
                f"warping error  {self.warping_error:.2e} "
                f"(MSE, RGB in [0,1], flow on {self.flow_source.name})"
            )
            lines.append(f"flicker        {self.flicker:.3f} (8-bit luma levels per frame)")
        if self.cuts:
            lines.append(f"scene cuts     {len(self.cuts)} (pairs across them left out): "
                         + ", ".join(str(c) for c in self.cuts))
        if self.psnr is not None and self.ssim is not None:
            psnr = "inf dB (identical)" if math.isinf(self.psnr) else f"{self.psnr:.2f} dB"
            lines.append(f"PSNR-Y         {psnr} (against {self.ref.name if self.ref else 'ref'})")
            lines.append(f"SSIM-Y         {self.ssim:.4f}")
        return "\n".join(lines)


def _check_frame_counts(readers: Sequence[VideoReader]) -> None:
    """Fail before decoding when the containers list different exact frame counts."""
    first = readers[0]
    for other in readers[1:]:
        if first.info.frame_count_exact and other.info.frame_count_exact \
                and first.info.frame_count != other.info.frame_count:
            raise ConfigError(
                f"the videos must have as many frames: {first.path} has {first.info.frame_count}, "
                f"{other.path} has {other.info.frame_count}"
            )


def _lockstep(readers: Sequence[VideoReader]) -> Iterator[list[np.ndarray]]:
    """The frames of ``readers`` side by side; fails when one video ends before the others."""
    streams = [reader.frames() for reader in readers]
    count = 0
    while True:
        items = [next(stream, None) for stream in streams]
        ended = [reader for reader, item in zip(readers, items) if item is None]
        if len(ended) == len(readers):
            return
        if ended:
            going = next(reader for reader, item in zip(readers, items) if item is not None)
            raise ConfigError(
                f"the videos must have as many frames: {ended[0].path} ends after {count}, "
                f"{going.path} has more"
            )
        yield [frame for frame, _ in items]
        count += 1


def video_metrics(
    output_path: str | os.PathLike[str],
    *,
    ref: str | os.PathLike[str] | None = None,
    flow_from: str | os.PathLike[str] | None = None,
    estimator: FlowEstimator | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> VideoMetrics:
    """Measure a video, decoding it (and the others) frame by frame in lockstep.

    Args:
        output_path: the video judged.
        ref: the clean reference, same size and frame count: adds PSNR and SSIM.
        flow_from: the video the flow is computed on (typically the input), same frame count,
            any size. When None: ``ref`` if given, else the output itself.
        estimator: as :class:`MetricsAccumulator`.
        progress: called as ``progress(frames_done, frames_expected_or_None)``.

    Raises:
        InputError, VideoOpenError, DecodeError: a video cannot be read.
        ConfigError: ``ref`` differs from the output in size, or a video has another frame count.
    """
    output_path = Path(output_path)
    ref = Path(ref) if ref is not None else None
    flow_from = Path(flow_from) if flow_from is not None else None
    with ExitStack() as stack:  # measured in 8-bit levels, whatever the videos' depth
        readers = [stack.enter_context(VideoReader(output_path, batch_size=2, queue_depth=2, eight_bit=True))]
        width, height = readers[0].info.width, readers[0].info.height
        if ref is not None:
            readers.append(stack.enter_context(VideoReader(ref, batch_size=2, queue_depth=2, eight_bit=True)))
            ref_size = (readers[-1].info.width, readers[-1].info.height)
            if ref_size != (width, height):
                raise ConfigError(
                    f"the reference {ref} is {ref_size[0]}x{ref_size[1]} but the output "
                    f"{output_path} is {width}x{height}; they must have the same size"
                )
        if flow_from is not None:
            readers.append(stack.enter_context(VideoReader(flow_from, batch_size=2, queue_depth=2, eight_bit=True)))
        _check_frame_counts(readers)

        total = readers[0].expected_frames
        accumulator = MetricsAccumulator(estimator=estimator)
        for frames in _lockstep(readers):
            output = frames[0]
            reference = frames[1] if ref is not None else None
            guide = frames[-1] if flow_from is not None else reference
            accumulator.add(output, guide, reference)
            if progress is not None:
                progress(accumulator.frames, total)

    flow_source = flow_from or ref or output_path
    log.debug("%s: %d frames measured, flow on %s", output_path, accumulator.frames, flow_source)
    return VideoMetrics(
        output=output_path,
        frames=accumulator.frames,
        width=width,
        height=height,
        warping_error=accumulator.warping_error,
        flicker=accumulator.flicker,
        flow_source=flow_source,
        ref=ref,
        psnr=accumulator.psnr,
        ssim=accumulator.ssim,
        cuts=tuple(accumulator.cuts),
    )
