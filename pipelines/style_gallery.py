"""Draw the README's style gallery: for each bundled style, its exemplar and one frame before and after.

Each row is ``docs/images/styles/NAME.jpg``: the exemplar, the damaged low-resolution input
(bicubic x2), ``remaster-x2`` and the style, all on the same held-out frames (never trained on,
damaged as the evaluation damages them, :func:`vidstyle.train.evaluate.held_out_pairs`), through
the models frame by frame. Run from the repository root after the styles are trained::

    python pipelines/style_gallery.py
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("vidstyle") is None:  # a plain checkout, not installed
    sys.path.insert(0, str(REPO_ROOT))

from vidstyle.models.descriptor import run_frames  # noqa: E402
from vidstyle.models.registry import load_model  # noqa: E402
from vidstyle.models.styles import bundled_styles, load_style  # noqa: E402
from vidstyle.train.evaluate import held_out_pairs  # noqa: E402

#: The held-out frames shown: (clip, frame index).
FRAMES = (("bigbuckbunny.mp4", 110), ("bikes.mp4", 215))
TILE_HEIGHT = 240


def label(tile: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((28, tile.shape[1], 3), 32, np.uint8)
    cv2.putText(bar, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (235, 235, 235), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile], axis=0)


def fit(image: np.ndarray, height: int = TILE_HEIGHT) -> np.ndarray:
    width = round(image.shape[1] * height / image.shape[0])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def gallery_row(style, pairs, plain) -> np.ndarray:
    """Exemplar | then per frame: input (bicubic x2), remaster-x2, the style."""
    model = load_style(style.name, scale=2)
    exemplar = cv2.cvtColor(cv2.imread(str(style.thumbnail)), cv2.COLOR_BGR2RGB)
    tiles = [label(fit(exemplar), f"exemplar: {style.name}")]
    for pair in pairs:
        hr_h, hr_w = pair.target.shape[:2]
        bicubic = cv2.resize(pair.degraded, (hr_w, hr_h), interpolation=cv2.INTER_CUBIC)
        tiles += [label(fit(bicubic), "input (bicubic x2)"),
                  label(fit(run_frames(plain, pair.degraded[None])[0]), "remaster-x2"),
                  label(fit(run_frames(model, pair.degraded[None])[0]), f"--style {style.name}")]
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    row = [t for tile in tiles for t in (tile, gap)][:-1]
    return np.concatenate(row, axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "images" / "styles")
    parser.add_argument("--frames", type=int, default=1, help="held-out frames per row (1 or 2)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = FRAMES[: args.frames]
    by_frame = {(p.source, p.index): p for p in held_out_pairs(2) if (p.source, p.index) in wanted}
    pairs = [by_frame[f] for f in wanted]
    plain = load_model("remaster-x2", scale=2)
    for style in bundled_styles():
        row = gallery_row(style, pairs, plain)
        path = args.out / f"{style.name}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(row, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
