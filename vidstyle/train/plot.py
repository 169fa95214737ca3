"""``losses.png``: the loss and held-out curves of a remaster training run, drawn with OpenCV.

matplotlib is not a dependency; these charts are plain lines on a white panel, one panel per
group of curves, read from the run's ``losses.csv`` and ``eval.csv``
(:mod:`vidstyle.train.loop`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .loop import read_rows

__all__ = ["plot_losses"]

_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75)]  # RGB


def _panel(series: dict[str, tuple[list[float], list[float]]], title: str, *, log_y: bool,
           size: tuple[int, int] = (760, 300)) -> np.ndarray:
    """One line chart, RGB uint8 (h, w, 3): series name -> (x, y)."""
    width, height = size
    image = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 70, 20, 30, 30
    series = {k: (np.asarray(x, float), np.asarray(y, float)) for k, (x, y) in series.items()}
    kept = {k: np.isfinite(y) & ((y > 0) if log_y else True) for k, (_, y) in series.items()}
    series = {k: (x[kept[k]], y[kept[k]]) for k, (x, y) in series.items()}
    series = {k: v for k, v in series.items() if len(v[0])}
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, title, (left, 20), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(image, (left, top), (width - right, height - bottom), (0, 0, 0), 1)
    if not series:
        cv2.putText(image, "no data yet", (width // 2 - 50, height // 2), font, 0.5, (128, 128, 128),
                    1, cv2.LINE_AA)
        return image
    xs = np.concatenate([x for x, _ in series.values()])
    ys = np.concatenate([y for _, y in series.values()])
    if log_y:
        ys = np.log10(ys)
    x0, x1 = float(xs.min()), float(max(xs.max(), xs.min() + 1))
    y0, y1 = float(ys.min()), float(ys.max())
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def to_pixel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        px = left + (x - x0) / (x1 - x0) * (width - left - right)
        py = height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)
        return np.stack([px, py], axis=1).round().astype(np.int32)

    for value in np.linspace(y0, y1, 5):  # y ticks
        label = f"{10 ** value:.3g}" if log_y else f"{value:.3g}"
        py = int(to_pixel(np.array([x0]), np.array([value]))[0, 1])
        cv2.line(image, (left - 4, py), (left, py), (0, 0, 0), 1)
        cv2.putText(image, label, (4, py + 4), font, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    for value in np.linspace(x0, x1, 5):  # x ticks
        px = int(to_pixel(np.array([value]), np.array([y0]))[0, 0])
        cv2.putText(image, f"{value:.0f}", (px - 12, height - bottom + 16), font, 0.38, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for i, (name, (x, y)) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        points = to_pixel(x, np.log10(y) if log_y else y)
        if len(points) > 1:
            cv2.polylines(image, [points], False, colour, 1, cv2.LINE_AA)
        else:
            cv2.circle(image, tuple(int(v) for v in points[0]), 3, colour, -1)
        cv2.putText(image, name, (width - right - 200, top + 16 + 16 * i), font, 0.42, colour, 1,
                    cv2.LINE_AA)
    return image


def plot_losses(out: Path) -> Path:
    """Draw ``losses.png`` from ``losses.csv`` and ``eval.csv`` in ``out``; returns its path."""
    losses = read_rows(out / "losses.csv")
    evals = read_rows(out / "eval.csv")

    def column(rows: list[dict[str, str]], key: str) -> tuple[list[float], list[float]]:
        picked = [(float(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
        return [p[0] for p in picked], [p[1] for p in picked]

    panels = [
        _panel({k: column(losses, k) for k in ("total", "charbonnier", "perceptual")},
               "generator losses (log scale)", log_y=True),
        _panel({k: column(losses, k) for k in ("discriminator", "adversarial", "feature_matching")},
               "GAN phase", log_y=False),
        _panel({"model PSNR-Y": column(evals, "model_psnr"),
                "bicubic PSNR-Y": column(evals, "bicubic_psnr")},
               "held-out PSNR on Y (dB) against training step", log_y=False),
    ]
    path = out / "losses.png"
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(panels, axis=0), cv2.COLOR_RGB2BGR))
    return path
