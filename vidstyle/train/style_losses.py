"""The picture statistics a style is trained on: palette, tone layout, structure, cells, total variation.

These are the style training's own loss terms (:mod:`vidstyle.train.style`), besides the Gram
matrices of :mod:`vidstyle.style.features`: the palette a stylized picture should have
(:func:`palette_target`, in YUV), the linear colour transfer its colour skip starts from
(:func:`linear_colour_transfer`), where the picture is light and dark (:func:`tone_layout`), the
film's shapes and contours (:func:`coarse_structure`, :func:`coarse_gradients`), and penalties
on patterns the networks would otherwise draw (:func:`cell_pattern`, :func:`grid_share`,
:func:`border_lines`, :func:`total_variation`). Pictures are (B, 3, H, W) float tensors in [0, 1], RGB.

:func:`coarse_structure`, :func:`grid_share` and :func:`border_lines` are the training's forms of
three of the measures of :mod:`vidstyle.style.measures` (structure, grid energy, border line), in
torch and differentiable: a style is trained on what a person is measured to see of it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..style.features import gaussian_blur
from ..style.measures import FINE_SIGMA, MIDDLE_SIGMA

__all__ = [
    "RGB_TO_YUV",
    "blurred_ssim",
    "border_lines",
    "cell_pattern",
    "coarse_gradients",
    "coarse_structure",
    "colour_stats",
    "fine_chroma",
    "grid_share",
    "interior",
    "linear_colour_transfer",
    "luma",
    "middle_chroma",
    "palette_target",
    "stroke_gram",
    "stroke_filters",
    "tone_layout",
    "total_variation",
    "yuv_stats",
]


#: RGB -> YUV (BT.601): luma, and two colour-difference axes.
RGB_TO_YUV = torch.tensor([[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]])


def interior(x: torch.Tensor, margin: int) -> torch.Tensor:
    """``x`` (B, C, H, W) without ``margin`` pixels on every side: what the style's own terms
    look at (why: :meth:`vidstyle.train.style.StyleTrainer.style_terms`)."""
    if margin <= 0:
        return x
    return x[..., margin:-margin, margin:-margin]


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


def luma(x: torch.Tensor) -> torch.Tensor:
    """BT.601 Y of ``x`` (B, 3, H, W), (B, 1, H, W) in [16/255, 235/255], as
    :func:`vidstyle.quality.luma` computes it in levels."""
    weights = torch.tensor([65.481, 128.553, 24.966], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (16.0 + (x * weights).sum(dim=1, keepdim=True)) / 255.0


#: SSIM's window (a Gaussian of sigma 1.5, 11 taps) and constants for values in [0, 1], as
#: :func:`vidstyle.quality.ssim` has them.
SSIM_SIGMA, SSIM_RADIUS, SSIM_C1, SSIM_C2 = 1.5, 5, 0.01**2, 0.03**2


def blurred_ssim(a: torch.Tensor, b: torch.Tensor, sigma: float) -> torch.Tensor:
    """SSIM of the lumas of ``a`` and ``b`` (B, 3, H, W), both blurred with a Gaussian of ``sigma``
    pixels: (B,), each picture's mean over all but 5 pixels at the border. At ``sigma`` 2 this
    is :func:`vidstyle.style.measures.structure`, up to the handling of the border."""
    ya, yb = gaussian_blur(luma(a), sigma), gaussian_blur(luma(b), sigma)

    def window(x: torch.Tensor) -> torch.Tensor:
        return gaussian_blur(x, SSIM_SIGMA, radius=SSIM_RADIUS)

    mu_a, mu_b = window(ya), window(yb)
    var_a = window(ya * ya) - mu_a * mu_a
    var_b = window(yb * yb) - mu_b * mu_b
    cov = window(ya * yb) - mu_a * mu_b
    similar = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    similar = similar / ((mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2))
    return similar[..., SSIM_RADIUS:-SSIM_RADIUS, SSIM_RADIUS:-SSIM_RADIUS].mean(dim=(1, 2, 3))


def coarse_structure(output: torch.Tensor, clean: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """How far the film's shapes moved: 1 - SSIM of the blurred lumas (:func:`blurred_ssim`) at
    ``sigma`` and ``2 sigma`` pixels, averaged over both and over the batch; 0 for equal pictures.

    The content term that binds a style (issue 18). The blur takes the fine bands away, where
    the strokes, grain and paper of a style live, so they stay free; what is left, where the
    picture is light and dark and where its edges run at the scale a viewer reads shapes, must
    stay the film's. SSIM rather than a difference, so that a style may change the local
    brightness and contrast a little (its palette) more cheaply than the structure. Sides must
    exceed ``5 sigma`` and 10 pixels.
    """
    return torch.stack([1.0 - blurred_ssim(output, clean, s).mean() for s in (sigma, 2 * sigma)]).mean()


def coarse_gradients(output: torch.Tensor, clean: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """How far the contours moved, or were invented: the mean absolute difference of the luma
    gradients (central differences, luma in [0, 1] per pixel, across and down) of the two
    pictures blurred with ``sigma`` pixels; 0 for equal pictures.

    :func:`coarse_structure` forgives a few levels of slope that strokes leave after the blur,
    and so does a viewer, but the edge measure (:func:`vidstyle.style.measures.edge_agreement`,
    Canny on the luma blurred by 2 pixels) counts each as an invented contour where the film is
    flat. This term costs every such slope, and a contour that moved or faded.
    """
    difference = gaussian_blur(luma(output) - luma(clean), sigma)
    across = difference[..., :, 2:] - difference[..., :, :-2]
    down = difference[..., 2:, :] - difference[..., :-2, :]
    return 0.25 * (across.abs().mean() + down.abs().mean())


def border_lines(output: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Lines that run along the frame's edge, at any depth and in any colour, that the style's
    palette does not explain: the variance of the batch's mean row (column) profile of the
    output less the clean patches mapped to the output's palette, each of R, G and B in [0, 1],
    the mean over channels; 0 when every row (column) of the batch, averaged, differs alike.

    A patch is the network's whole picture, so its border is where the frame's edge is learnt,
    and the only lines that keep their place from patch to patch are the network's own: a
    stroke or a picture's content falls anywhere and averages out over the batch (as
    :func:`grid_share` pools the cells). The palette does not average out (it moves every row
    by what that row holds), so the clean patches are first mapped to the output by the affine
    colour transform that fits the batch best (least squares, held fixed): a style may recolour
    the film at no cost here. The style's own terms do not see the patch's border
    (:func:`interior`); the ink, engraving, halftone and pencil models of 2026-12-05 and -06 drew
    a line 8 to 20 pixels in, just inside what they see. Measured on 2026-12-06
    (:func:`vidstyle.style.measures.border_line`): a term on the outer 3 rows of the luma moved the
    ink's line further in, one on the luma's whole profile left the pencil a yellow line, and one
    on the colour profiles without the fit kept the ink in the film's colours.
    """
    with torch.no_grad():
        flat_clean = clean.permute(0, 2, 3, 1).reshape(-1, clean.shape[1])
        design = torch.cat([flat_clean, torch.ones_like(flat_clean[:, :1])], dim=1)  # (N, C + 1)
        fit = torch.linalg.lstsq(design, output.permute(0, 2, 3, 1).reshape(-1, output.shape[1])).solution
        mapped = (design @ fit).reshape(clean.shape[0], clean.shape[2], clean.shape[3], -1).permute(0, 3, 1, 2)
    d = output - mapped
    rows, columns = d.mean(dim=(0, 3)), d.mean(dim=(0, 2))  # (C, H), (C, W)
    return 0.5 * (rows.var(dim=1, unbiased=False).mean() + columns.var(dim=1, unbiased=False).mean())


#: RGB -> the two colour differences of OpenCV's YCrCb (BT.601, Cr then Cb, offsets left out), as
#: :func:`vidstyle.style.measures.fine_bands` reads them.
RGB_TO_CRCB = torch.tensor([[0.5, -0.418688, -0.081312], [-0.168736, -0.331264, 0.5]])


def crcb(x: torch.Tensor) -> torch.Tensor:
    """The two colour-difference planes (BT.601 Cr, Cb; OpenCV's YCrCb less its offset) of ``x``
    (B, 3, H, W): (B, 2, H, W), in [0, 1] units."""
    return torch.einsum("ck,bkhw->bchw", RGB_TO_CRCB.to(x), x)


def fine_chroma(x: torch.Tensor, sigma: float = FINE_SIGMA) -> torch.Tensor:
    """RMS of the fine band of the chroma of each picture of ``x`` (B, 3, H, W): the Cr and Cb
    planes less their Gaussian blur of ``sigma`` pixels, both planes together, in [0, 1] units
    (levels / 255): (B,). The chroma half of :func:`vidstyle.style.measures.fine_bands`, in torch.

    The style's view (blurred with sigma 1.5, then halved) does not see this band, so nothing
    but this term says what colour a style may draw there; left free, the styles of 2026-12-07
    put their finest detail into coloured speckle (engraving 13.5 levels of fine chroma where its
    green-on-cream exemplar has 2.8; ``pipelines/style_bands.py``).
    """
    chroma = crcb(x)
    fine = chroma - gaussian_blur(chroma, sigma, radius=math.ceil(3 * sigma))
    return fine.square().mean(dim=(1, 2, 3)).clamp_min(1e-12).sqrt()


def middle_chroma(x: torch.Tensor, inner: float = FINE_SIGMA, outer: float = MIDDLE_SIGMA) -> torch.Tensor:
    """RMS of the middle band of the chroma of each picture of ``x`` (B, 3, H, W): the Cr and Cb
    planes blurred with ``inner`` less the same blurred with ``outer`` (a difference of
    Gaussians), in [0, 1] units: (B,). The band of :func:`vidstyle.style.measures.middle_chroma`, in torch
    (above :func:`fine_chroma`'s).

    Colour blotches a few pixels across live here: on training frames the shipped styles of
    2026-12-08 put 3.5 to 7.6 levels into this band where their exemplars have 0.3 to 2.0
    (ink, pencil, engraving; ``pipelines/style_bands.py``). The style's view sees the band
    only faintly, through its blur, and its random filters do not single out colour.
    """
    chroma = crcb(x)
    band = (gaussian_blur(chroma, inner, radius=math.ceil(3 * inner))
            - gaussian_blur(chroma, outer, radius=math.ceil(3 * outer)))
    return band.square().mean(dim=(1, 2, 3)).clamp_min(1e-12).sqrt()


def stroke_filters(sigmas: tuple[float, ...] = (1.0, 2.0), orientations: int = 4) -> torch.Tensor:
    """A fixed bank of oriented second derivatives of Gaussians (line detectors), ``orientations``
    directions at each of ``sigmas`` pixels: (len(sigmas) * orientations, 1, K, K), each filter
    summing to zero and of unit L2 norm. A dark line across a filter's direction answers one sign,
    a light one the other."""
    radius = math.ceil(3 * max(sigmas))
    grid = torch.arange(-radius, radius + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    bank = []
    for sigma in sigmas:
        for k in range(orientations):
            angle = math.pi * k / orientations
            u = xx * math.cos(angle) + yy * math.sin(angle)  # across the line
            g = torch.exp(-(xx**2 + yy**2) / (2 * sigma**2))
            f = (u**2 / sigma**2 - 1) * g
            f = f - f.mean()
            bank.append(f / f.norm())
    return torch.stack(bank).unsqueeze(1).float()


def stroke_gram(x: torch.Tensor, filters: torch.Tensor, window: int | None = None) -> torch.Tensor:
    """The stroke statistics of each picture of ``x`` (B, 3, H, W) at full resolution: the Gram
    matrix (B, 2F, 2F) of the luma's responses to ``filters`` (:func:`stroke_filters`), each
    response split into its positive and negative halves (dark lines and light ones); with
    ``window``, one for each ``window``-pixel square of the picture, (B, N, 2F, 2F), the
    squares that do not fit whole left out.

    The style's own view is blurred and halved, so it cannot see hatching two or three pixels
    apart, and the engraving of 2026-12-08 drew almost none (fine luma 5.8 levels against its
    exemplar's 39.8, ``pipelines/style_bands.py``). These statistics are the luma's only: a
    pattern they ask for cannot come out as coloured moire, and the grid terms keep it from
    being the pixel shuffle's cells. Asked of the whole patch, a model met them with a few
    patches of black and white stripes at the film's edges and plain tone between; asked of
    every window, the strokes must be everywhere, as an engraver's are.
    """
    y = luma(x)
    pad = filters.shape[-1] // 2
    response = F.conv2d(F.pad(y, (pad,) * 4, mode="reflect"), filters.to(x))
    maps = torch.cat([F.relu(response), F.relu(-response)], dim=1)
    b, c, h, w = maps.shape
    if window is None:
        flat = maps.reshape(b, c, h * w)
        return flat @ flat.transpose(1, 2) / (h * w)
    rows, cols = h // window, w // window
    if rows == 0 or cols == 0:
        raise ValueError(f"pictures of {w}x{h} hold no whole {window}-pixel window")
    tiles = maps[..., : rows * window, : cols * window].reshape(b, c, rows, window, cols, window)
    flat = tiles.permute(0, 2, 4, 1, 3, 5).reshape(b, rows * cols, c, window * window)
    return flat @ flat.transpose(2, 3) / (window * window)


def grid_share(x: torch.Tensor, cell: int, sigma: float = 3.0) -> torch.Tensor:
    """The share of the high-pass luma of ``x`` (B, 3, H, W) that is one pattern repeating every
    ``cell`` pixels: :func:`vidstyle.style.measures.grid_energy`, pooled over the batch.

    The high pass is the luma less its Gaussian blur of ``sigma``; its mean over every cell of
    every picture is the pattern, whose power (its mean taken out) over the high pass's variance
    is the share. Pooled, because a network's pattern is the same in every picture, while a
    picture's own texture lines up with the cells by chance (as 1 / cells of its power: a floor
    of about 1e-4 for eight 128-pixel squares). The variance is taken as a constant, so the
    share falls only by taking the pattern away, never by adding texture around it.
    """
    y = luma(x)
    high = y - gaussian_blur(y, sigma, radius=math.ceil(3 * sigma))
    h, w = high.shape[-2] // cell * cell, high.shape[-1] // cell * cell
    if h == 0 or w == 0:
        raise ValueError(f"pictures of {x.shape[-1]}x{x.shape[-2]} hold no whole {cell}x{cell} cell")
    high = high[..., :h, :w]
    pattern = high.reshape(-1, h // cell, cell, w // cell, cell).mean(dim=(0, 1, 3))
    return (pattern - pattern.mean()).square().mean() / high.var().detach().clamp_min(1e-10)
