"""The picture statistics a style is trained on: palette, tone layout, cells, total variation.

These are the style training's own loss terms (:mod:`vidstyle.train.style`), besides the Gram
matrices of :mod:`vidstyle.style.features`: the palette a stylized picture should have
(:func:`palette_target`, in YUV), the linear colour transfer its colour skip starts from
(:func:`linear_colour_transfer`), where the picture is light and dark (:func:`tone_layout`), and
two penalties on patterns the networks would otherwise draw (:func:`cell_pattern`,
:func:`total_variation`). Pictures are (B, 3, H, W) float tensors in [0, 1], RGB.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "RGB_TO_YUV",
    "cell_pattern",
    "colour_stats",
    "linear_colour_transfer",
    "palette_target",
    "tone_layout",
    "total_variation",
    "yuv_stats",
]


#: RGB -> YUV (BT.601): luma, and two colour-difference axes.
RGB_TO_YUV = torch.tensor([[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]])


def colour_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean colour (B, 3) and colour covariance (B, 3, 3) of each picture: the palette."""
    flat = x.flatten(2)
    mean = flat.mean(dim=2)
    centred = flat - mean[..., None]
    return mean, centred @ centred.transpose(1, 2) / flat.shape[2]


def palette_target(content_mean: torch.Tensor, content_cov: torch.Tensor, style_mean: torch.Tensor,
                   style_cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The palette a stylized picture should have, in YUV: the style's colours, the content's light.

    Chroma (U, V: their means and covariance) comes from the exemplar; luma's mean and spread
    from the content, the exemplar's correlations between luma and chroma kept. A pencil drawing
    of a dark street stays dark where the street is, however white the drawing's paper; a
    stained-glass window lends its saturated hues, not its brightness.

    Args:
        content_mean, content_cov: :func:`colour_stats` of the content (B, 3), (B, 3, 3), RGB.
        style_mean, style_cov: the exemplar's, (1, 3), (1, 3, 3), RGB.
    Returns:
        YUV mean (B, 3) and covariance (B, 3, 3).
    """
    m = RGB_TO_YUV.to(content_mean)
    c_mean, c_cov = content_mean @ m.T, m @ content_cov @ m.T
    s_mean, s_cov = style_mean @ m.T, m @ style_cov @ m.T
    mean = torch.cat([c_mean[:, :1], s_mean[:, 1:].expand(len(c_mean), 2)], dim=1)
    ratio = (c_cov[:, 0, 0] / s_cov[:, 0, 0].clamp_min(1e-6)).sqrt()
    scale = torch.ones_like(mean)
    scale[:, 0] = ratio
    cov = s_cov * scale[:, :, None] * scale[:, None, :]
    return mean, cov


def yuv_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`colour_stats` of ``x`` in YUV."""
    mean, cov = colour_stats(x)
    m = RGB_TO_YUV.to(x)
    return mean @ m.T, m @ cov @ m.T


def linear_colour_transfer(src_mean: np.ndarray, src_cov: np.ndarray, dst_mean: np.ndarray,
                           dst_cov: np.ndarray, eps: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """The affine map ``y = A x + b`` taking colours of mean/covariance ``src`` to ``dst``.

    The Monge-Kantorovich solution of Pitie and Kokaram (2007): of all linear maps that match the
    two Gaussians, the one that moves colours least. ``A`` is symmetric positive semi-definite.
    """

    def sqrt_sym(m: np.ndarray) -> np.ndarray:
        values, vectors = np.linalg.eigh((m + m.T) / 2)
        return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T

    src = src_cov + eps * np.eye(3)
    src_half = sqrt_sym(src)
    src_half_inv = np.linalg.inv(src_half)
    a = src_half_inv @ sqrt_sym(src_half @ dst_cov @ src_half) @ src_half_inv
    return a, dst_mean - a @ src_mean


def tone_layout(x: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """Luma averaged over ``factor`` x ``factor`` blocks, standardised per picture: where the picture
    is light and dark, whatever its palette; what keeps a stylized picture legible."""
    luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
    small = F.avg_pool2d(luma, factor)
    mean = small.mean(dim=(2, 3), keepdim=True)
    std = small.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
    return (small - mean) / std


def cell_pattern(residual: torch.Tensor) -> torch.Tensor:
    """How much the output carries a fixed pattern of the pixel shuffle's cells.

    Each feature pixel becomes a (2s) x (2s) cell of output pixels, one channel of the residual
    per position. Averaged over the picture, the positions should add the same: a difference is
    a grid printed over the whole film. Gram losses on a fixed random extractor reward one (it
    adds the fine-scale energy an exemplar has, at no cost to anything else), and a model
    trained without this term drew one of 30 levels within five minutes.

    Args:
        residual: (B, 3 (2s)^2, h, w), the generator's :meth:`~RemasterGenerator.residual`.
    """
    b, c = residual.shape[:2]
    per_position = residual.mean(dim=(2, 3)).view(b, 3, c // 3)
    return (per_position - per_position.mean(dim=2, keepdim=True)).square().mean()


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels, down and across."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
