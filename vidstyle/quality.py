"""Picture quality: PSNR and SSIM on luma, as most super-resolution papers report them.

PSNR and SSIM on the luma channel Y of BT.601 YCbCr (``16 + 65.481 R + 128.553 G + 24.966 B``
with R, G, B in [0, 1], peak 255), with a border cropped; SSIM with the Gaussian window of Wang et
al. (2004): sigma 1.5, K1 0.01, K2 0.03. PSNR on RGB too, since colour casts do not all show in Y.
Used by the held-out evaluation (:mod:`vidstyle.train.evaluate`), the temporal metrics and the
benchmark, so it sits on the ground floor and imports nothing of vidstyle.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["frame_scores", "luma", "psnr", "ssim"]


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 Y in [16, 235] (float64) of RGB uint8 (H, W, 3)."""
    rgb = image.astype(np.float64) / 255.0
    return 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def frame_scores(output: np.ndarray, target: np.ndarray, *, border: int) -> dict[str, float]:
    """PSNR and SSIM on Y, and PSNR on RGB, of one output frame against its target.

    Args:
        output, target: RGB uint8 (H, W, 3) of the same shape.
        border: pixels ignored at each edge.
    """
    if output.shape != target.shape:
        raise ValueError(f"output shape {output.shape} differs from target shape {target.shape}")
    if border:
        output = output[border:-border, border:-border]
        target = target[border:-border, border:-border]
    y_out, y_target = luma(output), luma(target)
    return {"psnr": psnr(y_out, y_target), "ssim": ssim(y_out, y_target), "psnr_rgb": psnr(output, target)}


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Mean SSIM (Wang et al. 2004) of two grey images (float64), with OpenCV.

    The usual settings, as ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False)`` computes them (the same figure to about 1e-9;
    scikit-image is only a test and training dependency): an 11x11 Gaussian window of sigma
    1.5, K1 = 0.01, K2 = 0.03, edges reflected, the mean taken 5 pixels in from the border.
    """
    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s[5:-5, 5:-5].mean())
