"""The two fixed resamplers every learned model is measured against.

Both take (B, 3, H, W) float in [0, 1] and return (B, 3, H*s, W*s). ``bicubic``
is torch's (Keys' kernel, a = -0.75, the same as OpenCV's INTER_CUBIC);
``lanczos`` is a separable Lanczos kernel of 4 lobes (OpenCV's INTER_LANCZOS4)
applied as a polyphase filter: for an integer factor s each output phase is a
fixed 9-tap filter of the input, so the whole resampling is two small convolutions.

On the CPU the pipeline runs both through OpenCV on uint8 frames instead
(:func:`opencv_resampler`): the same kernels, several times cheaper than float
tensors, so a baseline costs little next to decoding and encoding.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Bicubic", "Lanczos", "lanczos_phases", "opencv_resampler"]


class Bicubic(nn.Module):
    """Bicubic upscaling by an integer ``scale`` (identity for 1)."""

    def __init__(self, *, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1:
            return x
        # torch's bicubic kernel runs about 3x faster on NCHW than on channels_last here.
        x = x.contiguous()
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)


def lanczos_phases(scale: int, lobes: int = 4) -> torch.Tensor:
    """Polyphase Lanczos weights, (scale, 2 * lobes + 1) float32, each row summing to 1.

    Output sample ``s*i + p`` sits at input coordinate ``i + (p + 0.5)/s - 0.5``
    (pixel centres aligned, as in ``align_corners=False``); row ``p`` holds the
    weights of inputs ``i - lobes ... i + lobes`` for that position.
    """
    taps = torch.arange(-lobes, lobes + 1, dtype=torch.float64)
    rows = []
    for p in range(scale):
        offset = (p + 0.5) / scale - 0.5
        d = taps - offset
        w = torch.where(
            d.abs() < 1e-12,
            torch.ones_like(d),
            lobes * torch.sin(math.pi * d) * torch.sin(math.pi * d / lobes) / (math.pi**2 * d**2),
        )
        w = torch.where(d.abs() < lobes, w, torch.zeros_like(w))
        rows.append(w / w.sum())
    return torch.stack(rows).float()


class Lanczos(nn.Module):
    """Lanczos upscaling by an integer ``scale`` (identity for 1), edges replicated."""

    def __init__(self, *, scale: int, lobes: int = 4) -> None:
        super().__init__()
        self.scale = scale
        self.lobes = lobes
        self.register_buffer("phases", lanczos_phases(scale, lobes), persistent=False)

    def _along_width(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s, taps = self.scale, self.phases.shape[1]
        x = F.pad(x.reshape(b * c, 1, h, w), (self.lobes, self.lobes, 0, 0), mode="replicate")
        weight = self.phases.to(x.dtype).view(s, 1, 1, taps)
        y = F.conv2d(x, weight)  # (b*c, s, h, w): phase p of output column s*i + p
        return y.permute(0, 2, 3, 1).reshape(b, c, h, w * s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1:
            return x
        y = self._along_width(x.contiguous())
        return self._along_width(y.transpose(-1, -2)).transpose(-1, -2).contiguous()


def opencv_resampler(scale: int, interpolation: int) -> Callable[[np.ndarray], np.ndarray]:
    """(B, H, W, 3) -> (B, H*scale, W*scale, 3) with ``cv2.resize``, uint8 or uint16 (the same out)."""

    def resample(frames: np.ndarray) -> np.ndarray:
        if scale == 1:
            return frames
        b, h, w, c = frames.shape
        out = np.empty((b, h * scale, w * scale, c), frames.dtype)
        for i in range(b):
            cv2.resize(frames[i], (w * scale, h * scale), dst=out[i], interpolation=interpolation)
        return out

    return resample
