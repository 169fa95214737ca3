"""The docs' tile picture: a crop at a corner where four tiles meet, tiled against whole frames.

    python -m pipelines.tile_figure [--tile 256] [--out docs/images/tiles.png]

remaster-x2 (fp32) on the benchmark's tiles frame (a held-out frame of bigbuckbunny.mp4, cut to
an odd size no tile divides), whole and through ``--tile``; beside them, tiles butted together
without overlap, the seams ``--tile`` avoids. Panels, each the same output crop centred on the
corner where the butted tiles differ most, shown at 2x nearest: whole frame | ``--tile`` |
10x |difference| | no overlap | 10x |difference|. Small red ticks at the panel edges mark the
seams. Prints the figures it draws.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

PIPELINES = Path(__file__).resolve().parent
sys.path.insert(0, str(PIPELINES.parent))

from pipelines.benchmark.picture import labelled  # noqa: E402
from pipelines.benchmark.tiles import SEAM_SIZE, SEAM_TILE, held_out_frame  # noqa: E402
from vidstyle.models import load_model  # noqa: E402
from vidstyle.models.descriptor import run_frames  # noqa: E402
from vidstyle.models.tiles import plan_tiling  # noqa: E402

#: Input pixels around the corner that the crop shows (each way), and the display zoom.
HALF_CROP, ZOOM = 40, 2
GAIN = 10


def butted(model, frame: np.ndarray, row_cuts: list[int], col_cuts: list[int]) -> np.ndarray:
    """``model`` on the blocks between the cuts, each on its own (no overlap), pasted together."""
    h, w = frame.shape[:2]
    s = model.scale
    out = np.empty((h * s, w * s, 3), np.uint8)
    rows, cols = [0, *row_cuts, h], [0, *col_cuts, w]
    for top, bottom in zip(rows, rows[1:]):
        for left, right in zip(cols, cols[1:]):
            block = np.ascontiguousarray(frame[top:bottom, left:right])
            out[top * s : bottom * s, left * s : right * s] = run_frames(model, block[None])[0]
    return out


def amplified(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| x :data:`GAIN`, as a grey picture (the largest channel), saturating at 255."""
    diff = np.abs(a.astype(np.int32) - b).max(axis=-1) * GAIN
    return np.repeat(np.clip(diff, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def corner_error(picture: np.ndarray, whole: np.ndarray, corner: tuple[int, int], scale: int) -> float:
    """Mean |picture - whole| over the output crop around the input point ``corner``."""
    y, x = (scale * max(c - HALF_CROP, 0) for c in corner)
    size = scale * 2 * HALF_CROP
    return float(np.abs(picture[y : y + size, x : x + size].astype(int) - whole[y : y + size, x : x + size]).mean())


def ticks(panel: np.ndarray, at: tuple[int, int]) -> np.ndarray:
    """``panel`` with short red ticks on its edges at the seam row and column ``at`` (panel pixels)."""
    out = panel.copy()
    y, x = at
    out[y - 1 : y + 1, :6] = out[y - 1 : y + 1, -6:] = (255, 40, 40)
    out[:6, x - 1 : x + 1] = out[-6:, x - 1 : x + 1] = (255, 40, 40)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tile", type=int, default=SEAM_TILE, help="tile side in input pixels")
    parser.add_argument("--out", type=Path, default=PIPELINES.parent / "docs" / "images" / "tiles.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    width, height = SEAM_SIZE
    frame = np.ascontiguousarray(held_out_frame()[:height, :width])
    model = load_model("remaster-x2", scale=2)
    s = model.scale
    whole = run_frames(model, frame[None])[0]
    model.tiling = plan_tiling(args.tile, model, width=width, height=height)
    tiled = run_frames(model, frame[None])[0]
    rows, cols = model.tiling.spans(height), model.tiling.spans(width)
    model.tiling = None
    # The seams: the middle of each cross-fade.
    row_cuts = [(a.keep_stop + b.keep_start) // 2 for a, b in zip(rows, rows[1:])]
    col_cuts = [(a.keep_stop + b.keep_start) // 2 for a, b in zip(cols, cols[1:])]
    naive = butted(model, frame, row_cuts, col_cuts)
    # The corner where butting tiles shows most: where a seam would be easiest to see.
    cy, cx = max(((y, x) for y in row_cuts for x in col_cuts),
                 key=lambda c: corner_error(naive, whole, c, s))
    top, left = s * (cy - HALF_CROP), s * (cx - HALF_CROP)
    size = s * 2 * HALF_CROP

    def crop(picture: np.ndarray) -> np.ndarray:
        part = picture[top : top + size, left : left + size]
        return cv2.resize(part, (size * ZOOM, size * ZOOM), interpolation=cv2.INTER_NEAREST)

    seam = (ZOOM * s * HALF_CROP, ZOOM * s * HALF_CROP)
    rms = lambda a: float(np.sqrt(np.mean((a.astype(float) - whole) ** 2)))  # noqa: E731
    panels = [
        ("whole frame", "remaster-x2, fp32", crop(whole)),
        (f"--tile {args.tile}", f"frame RMS {rms(tiled):.4f}, max {int(np.abs(tiled.astype(int) - whole).max())}",
         crop(tiled)),
        (f"{GAIN}x |--tile - whole|", "black: no difference", ticks(crop(amplified(tiled, whole)), seam)),
        ("tiles, no overlap", f"frame RMS {rms(naive):.2f}, max {int(np.abs(naive.astype(int) - whole).max())}",
         crop(naive)),
        (f"{GAIN}x |no overlap - whole|", "the seams --tile avoids", ticks(crop(amplified(naive, whole)), seam)),
    ]
    gap = np.full((size * ZOOM + 44, 6, 3), 255, np.uint8)
    row = []
    for title, line, panel in panels:
        row += [labelled(panel, [title, line]), gap]
    picture = np.concatenate(row[:-1], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"error: cannot write {args.out}")
    print(f"wrote {args.out}: frame {width}x{height}, tiles of {args.tile} ({len(rows)}x{len(cols)}), corner at "
          f"input ({cx}, {cy}); whole frame against --tile RMS {rms(tiled):.4f}, no overlap RMS {rms(naive):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
