"""Section ``picture``: ``docs/images/compare.png``, crops of one held-out frame.

Damaged input, bicubic, remaster-x2 and the clean target, side by side.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipelines.benchmark.harness import SCALE, Context, Section
from pipelines.benchmark.learned import Learned
from pipelines.benchmark.library import HeldOutPair, frame_scores, held_out_pairs, run_frames
from pipelines.benchmark.markdown import table

log = logging.getLogger("benchmark")


#: The held-out frame of the README picture, and the side of its crops in output pixels.
PICTURE_FRAME = ("bikes.mp4", 215)
PICTURE_CROP = 256


def detail_crop(image: np.ndarray, size: int, step: int = 16) -> tuple[int, int]:
    """Top-left (y, x) of the ``size`` square with the most fine detail (mean |Laplacian|)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
    integral = cv2.integral(detail)
    h, w = grey.shape
    best, where = -1.0, (0, 0)
    for y in range(0, h - size + 1, step):
        for x in range(0, w - size + 1, step):
            total = (integral[y + size, x + size] - integral[y, x + size]
                     - integral[y + size, x] + integral[y, x])
            if total > best:
                best, where = total, (y, x)
    return where


def labelled(tile: np.ndarray, lines: list[str], bar: int = 44) -> np.ndarray:
    """``tile`` (RGB uint8) under a dark bar carrying one or two lines of text."""
    out = np.full((tile.shape[0] + bar, tile.shape[1], 3), 24, np.uint8)
    out[bar:] = tile
    for i, (text, size) in enumerate(zip(lines, (0.5, 0.42))):
        cv2.putText(out, text, (6, 18 + 19 * i), cv2.FONT_HERSHEY_SIMPLEX, size,
                    (255, 255, 255) if i == 0 else (190, 190, 190), 1, cv2.LINE_AA)
    return out


def bench_picture(entry: Learned, pairs_x2: list[HeldOutPair], dst: Path) -> dict[str, Any]:
    """Damaged input / bicubic / remaster-x2 / clean target, cropped from one held-out frame."""
    source, index = PICTURE_FRAME
    pair = next((p for p in pairs_x2 if (p.source, p.index) == PICTURE_FRAME), None)
    if pair is None:  # the quality section did not run, or with a stride that skipped it
        first = 175  # HELD_OUT_CLIP_FRAMES["bikes.mp4"][0]; a pair does not depend on the stride
        pairs = held_out_pairs(SCALE, frame_stride=index - first)
        pair = next(p for p in pairs if (p.source, p.index) == PICTURE_FRAME)
    target = pair.target
    height, width = target.shape[:2]
    size = min(PICTURE_CROP, height, width)
    outputs = {
        "damaged input (nearest x2)": cv2.resize(pair.degraded, (width, height),
                                                 interpolation=cv2.INTER_NEAREST),
        "bicubic x2": cv2.resize(pair.degraded, (width, height), interpolation=cv2.INTER_CUBIC),
        entry.label: run_frames(entry.model, pair.degraded[None])[0],
        "clean target": target,
    }
    y, x = detail_crop(target, size)
    tiles, figures = [], {}
    gap = np.full((size + 44, 4, 3), 255, np.uint8)
    for label, image in outputs.items():
        crop = np.ascontiguousarray(image[y:y + size, x:x + size])
        s = frame_scores(crop, target[y:y + size, x:x + size], border=0)
        figures[label] = {"psnr": s["psnr"], "ssim": s["ssim"], "psnr_rgb": s["psnr_rgb"],
                          "frame_psnr": frame_scores(image, target, border=SCALE)["psnr"]}
        second = "reference" if label == "clean target" else f"crop PSNR-Y {s['psnr']:.1f} dB"
        tiles += [labelled(crop, [label, second]), gap]
    canvas = np.concatenate(tiles[:-1], axis=1)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(dst), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR)):
        raise RuntimeError(f"could not write {dst}")
    return {
        "path": str(dst),
        "source": source,
        "index": index,
        "h264_crf": pair.h264_crf,
        "settings": str(pair.settings),
        "frame_size": f"{width}x{height}",
        "crop": {"x": int(x), "y": int(y), "size": size},
        "image_size": f"{canvas.shape[1]}x{canvas.shape[0]}",
        "tiles": figures,
        "model": entry.label,
    }


def render_picture(report: dict[str, Any]) -> list[str]:
    pic = report["picture"]
    if "skipped" in pic:
        return ["## Picture", "", f"Not made: {pic['skipped']}.", ""]
    link = pic.get("link", pic["path"])
    md = ["## Picture", "",
          f"{pic['source']} frame {pic['index']} (held out), damaged as in `held_out_pairs(2)`"
          + (f" (with an H.264 round trip at CRF {pic['h264_crf']})" if pic["h264_crf"] else "")
          + f"; a {pic['crop']['size']}x{pic['crop']['size']} crop of the {pic['frame_size']} "
          f"output at x={pic['crop']['x']}, y={pic['crop']['y']}, the square with the most fine "
          "detail (mean |Laplacian|) in the clean frame. Left to right: the damaged input "
          f"(nearest-neighbour x2), bicubic x2, {pic['model']}, the clean target.", "",
          f"![damaged input, bicubic, {pic['model']}, clean target]({link})", ""]
    md += table(["tile", "crop PSNR-Y dB", "crop SSIM-Y", "whole frame PSNR-Y dB"], [
        [k, f"{v['psnr']:.2f}", f"{v['ssim']:.4f}", f"{v['frame_psnr']:.2f}"]
        for k, v in pic["tiles"].items() if k != "clean target"
    ])
    return md


def measure(ctx: Context) -> dict[str, Any]:
    """The picture, from the quality section's pairs when it ran; skipped without remaster-x2."""
    entry = ctx.learned[2]
    pairs_x2 = ctx.shared.pop("pairs_x2", [])
    if entry is None:
        log.info("picture: skipped, remaster-x2 is not shipped")
        return {"picture": {"skipped": "remaster-x2 is not shipped"}}
    log.info("picture: %s", ctx.picture)
    return {"picture": bench_picture(entry, pairs_x2, ctx.picture)}


SECTION = Section("picture", measure, render_picture, uses_learned=True)
