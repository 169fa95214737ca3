"""Optical flow between frames: OpenCV DIS at reduced resolution, and where to trust it.

Conventions used across :mod:`vidstyle.temporal`:

* A flow field is float32 ``(H, W, 2)`` in pixels, ``(dx, dy)``.
* ``flow(target, source)`` says, for every pixel ``p`` of ``target``, where the same point is in
  ``source``: ``target[p] ~ source[p + flow[p]]``. That is the field :func:`~.warp.warp` needs to
  bring ``source`` (or anything aligned with it: features, outputs) onto ``target``.
* A reliability mask is float32 ``(H, W)``, 1 where the flow can be trusted and 0 where the
  point is occluded, left the picture, or sits on a motion boundary.

DIS (Kroeger et al., "Fast Optical Flow using Dense Inverse Search", ECCV 2016) is the fastest
dense flow OpenCV ships; on a 320x136 grey frame its ``fast`` preset takes well under a
millisecond here. The flow is computed on a frame downscaled by ``downscale`` and scaled back up,
which costs little accuracy on the motion of film (smooth, mostly large regions) and makes the
flow a small fraction of a frame's time.

The occlusion test is the forward-backward check of Sundaram et al. ("Dense point trajectories
by GPU-accelerated large displacement optical flow", ECCV 2010), with the thresholds Ruder et al.
used for video style transfer (GCPR 2016): a point is occluded when following the flow forward and
then backward does not bring it back within ``0.01 (|w|^2 + |w^|^2) + 0.5`` squared pixels, and on
a motion boundary when ``|grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .warp import pixel_grid, warp_numpy

__all__ = [
    "FINE",
    "FLOW_PRESETS",
    "FlowEstimator",
    "FlowPair",
    "consistency_mask",
    "create_dis",
    "resize_flow",
    "to_gray",
]

#: OpenCV's DIS needs a picture with one side at least this long.
_DIS_MIN_SIDE = 12

#: ``--flow-preset`` names and the OpenCV DIS presets they start from (``fine``: see :data:`FINE`).
FLOW_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    "fine": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}

#: The ``fine`` preset: OpenCV's MEDIUM, but with its patches searched (and its variational refinement
#: run) down to the prepared picture's own resolution, where MEDIUM stops one pyramid level above it
#: (finest scale 1: on a 640x272 frame shrunk by 2, a flow of 160x68 vectors, one per 4x4 pixels), with a wider patch
#: stride (6 pixels, MEDIUM 3) and fewer descent iterations (12, MEDIUM 25) to pay for the larger
#: level. On the fine detail a restored frame keeps (brick, gravel, a shaded relief), a flow that
#: coarse misplaces the keyframe's residual by a fraction of a pixel, and ``--temporal reuse`` shows
#: it. Chosen on training material (issue 14; the scratch measurements are in the session note of
#: 2026-12-06): it costs 1.9x MEDIUM's time per pair at the same ``downscale`` (MEDIUM at
#: ``downscale`` 1, which gains about as much, 3.8x); without the variational refinement it was
#: cheaper than MEDIUM but broke on heavy damage (the warping error of REEL_DAMAGE's frames doubled).
#: Its forward-backward check passes on less of the picture (bikes.mp4 at gaps of 3 frames: 56% of
#: it on the mean, 62% with MEDIUM), so ``--temporal reuse`` makes a few more keyframes (74 of 250
#: frames against 68); end to end it ran at 0.89x MEDIUM's fps (bikes.mp4, first 120 frames).
FINE = {"finest_scale": 0, "patch_stride": 6, "gradient_descent_iterations": 12}


def create_dis(preset: str) -> cv2.DISOpticalFlow:
    """A DIS instance for a ``--flow-preset`` name (:data:`FLOW_PRESETS`)."""
    dis = cv2.DISOpticalFlow_create(FLOW_PRESETS[preset])
    if preset == "fine":
        dis.setFinestScale(FINE["finest_scale"])
        dis.setPatchStride(FINE["patch_stride"])
        dis.setGradientDescentIterations(FINE["gradient_descent_iterations"])
    return dis


def to_gray(frame: np.ndarray, downscale: int = 1) -> np.ndarray:
    """RGB (H, W, 3) uint8 or uint16 -> grey uint8, shrunk by ``downscale`` (INTER_AREA, sides
    rounded up). The flow and the scene cuts need no more than 8 bits."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected an RGB uint8 or uint16 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if gray.dtype == np.uint16:
        gray = cv2.convertScaleAbs(gray, alpha=1 / 257)  # rounded to 0..255
    if downscale > 1:
        h, w = gray.shape
        size = (max(1, -(-w // downscale)), max(1, -(-h // downscale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return gray


def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """A flow field resampled to ``height x width``, its vectors rescaled to the new pixel size."""
    h, w = flow.shape[:2]
    if (h, w) == (height, width):
        return flow
    out = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= width / w
    out[..., 1] *= height / h
    return out


def consistency_mask(forward: np.ndarray, backward: np.ndarray, *, boundaries: bool = True) -> np.ndarray:
    """Reliability of ``forward`` (target -> source) given ``backward`` (source -> target).

    Returns float32 (H, W): 0 where the forward-backward check fails, on motion boundaries (where
    the flow's gradient is steep; ``boundaries=False`` leaves this test out), and where
    ``p + forward[p]`` falls outside the picture; 1 elsewhere.

    The boundary test suits clean video, where the flow is smooth inside objects. On grainy film
    DIS's flow is rough everywhere at this scale: on bikes.mp4's training frames damaged by
    REEL_DAMAGE, 20% of the pixels failed the check with the test once the repair stage had closed
    the small holes, 12.5% without it. The repair stage, whose parts guard against motion
    themselves, leaves it out.
    """
    h, w = forward.shape[:2]
    back = warp_numpy(backward, forward)
    forward_sq = _squared_norm(forward)
    ok = _squared_norm(forward + back) <= 0.01 * (forward_sq + _squared_norm(back)) + 0.5
    if boundaries:
        du = cv2.Sobel(forward[..., 0], cv2.CV_32F, 1, 0, ksize=1) ** 2 + cv2.Sobel(
            forward[..., 0], cv2.CV_32F, 0, 1, ksize=1) ** 2
        dv = cv2.Sobel(forward[..., 1], cv2.CV_32F, 1, 0, ksize=1) ** 2 + cv2.Sobel(
            forward[..., 1], cv2.CV_32F, 0, 1, ksize=1) ** 2
        # Sobel with ksize=1 is a central difference [-1, 0, 1]: half of it is the gradient.
        ok &= 0.25 * (du + dv) <= 0.01 * forward_sq + 0.002
    target = pixel_grid(h, w) + forward
    x, y = target[..., 0], target[..., 1]
    ok &= (x >= -0.5) & (x <= w - 0.5) & (y >= -0.5) & (y <= h - 0.5)
    return ok.astype(np.float32)


def _squared_norm(flow: np.ndarray) -> np.ndarray:
    """|v|^2 of each vector of an (H, W, 2) field (numpy's sum over a last axis of 2 is slow)."""
    return flow[..., 0] ** 2 + flow[..., 1] ** 2


@dataclass
class FlowPair:
    """The flow from a target frame to a source frame, with its reliability, at flow resolution."""

    flow: np.ndarray
    """float32 (h, w, 2), target -> source, in pixels of the flow resolution."""
    mask: np.ndarray
    """float32 (h, w), 1 where the flow is reliable."""
    downscale: int
    """Frame size / flow size."""

    @property
    def reliable(self) -> float:
        """Share of the picture where the flow is reliable, in [0, 1]."""
        return float(self.mask.mean())

    def at(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Flow (rescaled) and mask resampled to ``height x width``."""
        flow = resize_flow(self.flow, height, width)
        mask = self.mask
        if mask.shape != (height, width):
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
        return flow, mask


class FlowEstimator:
    """DIS optical flow on grey frames shrunk by ``downscale``.

    Args:
        preset: ``ultrafast``, ``fast``, ``medium`` or ``fine`` (:data:`FLOW_PRESETS`).
        downscale: compute the flow at 1/downscale of the frame size (1 to 8).

    Example::

        est = FlowEstimator("fast", downscale=2)
        pair = est.pair(est.prepare(frame_t), est.prepare(frame_t_minus_1))
        flow, mask = pair.at(h, w)     # bring frame t-1 onto frame t with warp(..., flow)
    """

    def __init__(self, preset: str = "fast", downscale: int = 2) -> None:
        if preset not in FLOW_PRESETS:
            raise ValueError(f"flow preset must be one of {', '.join(FLOW_PRESETS)}, got {preset!r}")
        if not isinstance(downscale, int) or not 1 <= downscale <= 8:
            raise ValueError(f"flow downscale must be an integer from 1 to 8, got {downscale!r}")
        self.preset = preset
        self.downscale = downscale
        # DIS keeps buffers between calls; one instance per estimator and thread.
        self._dis = create_dis(preset)

    def __getstate__(self) -> dict:
        # OpenCV's DIS does not pickle: a copy (a training data worker's) makes its own.
        return {"preset": self.preset, "downscale": self.downscale}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["preset"], state["downscale"])

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """An RGB frame (uint8 or uint16) as the small grey uint8 picture the flow is computed on."""
        return to_gray(frame, self.downscale)

    def flow(self, target: np.ndarray, source: np.ndarray) -> np.ndarray:
        """Flow target -> source between two prepared frames, float32 (h, w, 2)."""
        if target.shape != source.shape:
            raise ValueError(f"frames differ in size: {target.shape} and {source.shape}")
        h, w = target.shape
        if max(h, w) < _DIS_MIN_SIDE:  # DIS refuses pictures this small: pad, then crop the flow
            pad = ((0, _DIS_MIN_SIDE - h), (0, _DIS_MIN_SIDE - w))
            flow = self._dis.calc(np.pad(target, pad, mode="edge"), np.pad(source, pad, mode="edge"), None)
            return np.ascontiguousarray(flow[:h, :w])
        return self._dis.calc(target, source, None)

    def pair(self, target: np.ndarray, source: np.ndarray) -> FlowPair:
        """Flow target -> source and its forward-backward reliability mask."""
        forward = self.flow(target, source)
        backward = self.flow(source, target)
        return FlowPair(forward, consistency_mask(forward, backward), self.downscale)
