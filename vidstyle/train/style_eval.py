"""How a style model is looked at and measured: previews, style distances, what a person sees
and its blend tolerance.

Used while a style trains (:func:`write_preview`, refreshed as it goes) and at its end for the
card (:func:`evaluate`, :func:`measure_picture`, :func:`measure_precision`,
:func:`calibrate_blend_tolerance`);
``pipelines/train_style.py --evaluate`` measures a trained style again with the same functions.
Frames are RGB uint8 (H, W, 3), sides multiples of 4.
"""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..config import DEFAULT_BLEND_TOLERANCE
from ..damage.degrade import WORN_PRINT, FilmDegrader
from ..io.atomic import partial_path
from ..models.generator import RemasterGenerator
from ..models.registry import HALF_PRECISION_FLOOR_DB
from ..quality import psnr
from ..style.features import RandomMultiscaleFeatures, style_distance, to_tensor
from ..style.measures import fine_bands, middle_chroma, picture_measures
from ..temporal.blend import disagreement
from .evaluate import EVAL_SEED, held_out_pairs

__all__ = [
    "BLEND_QUANTILE",
    "CALIBRATION_CLIP",
    "calibrate_blend_tolerance",
    "centre_window",
    "evaluate",
    "exemplar_chroma",
    "held_out_frames",
    "measure_picture",
    "measure_precision",
    "stylize",
    "write_preview",
]

#: A style's blend tolerance (its card's ``temporal.blend_tolerance``) is this quantile of its
#: own frame-to-frame differences (:func:`vidstyle.temporal.blend.disagreement`), measured on
#: these training frames damaged as a worn print (:data:`vidstyle.damage.degrade.WORN_PRINT`);
#: never below the remaster models' 24. A stylized picture differs more from frame to frame
#: than a restored one (a stroke drawn a little differently), so the earlier output is mixed
#: in over larger differences.
BLEND_QUANTILE = 0.95
CALIBRATION_CLIP = ("bikes.mp4", 60, 108)
#: The card's picture measures (:func:`measure_picture`) read every this-many-th held-out
#: damaged pair of each clip (:func:`vidstyle.train.evaluate.held_out_pairs`), and the stills.
PICTURE_STRIDE = 20


def centre_window(height: int, width: int, crop: int | None, multiple: int = 1) -> tuple[slice, slice]:
    """Rows and columns of the centre of a picture ``height`` x ``width``: sides at most ``crop``
    (the whole picture when None), both multiples of ``multiple``."""
    def side(length: int) -> slice:
        keep = length if crop is None else min(length, crop)
        keep -= keep % multiple
        start = (length - keep) // 2
        return slice(start, start + keep)

    return side(height), side(width)


def held_out_frames(scale: int, per_clip: int = 4, *, crop: int | None = None) -> list[np.ndarray]:
    """Low-resolution frames of the held-out clips (never trained on), sides multiples of 4;
    with ``crop``, their centres, sides at most ``crop`` (a quick trial's final evaluation)."""
    from . import data  # noqa: PLC0415

    frames = []
    for _, clip in sorted(data.held_out_clips().items()):
        picked = [clip[i] for i in range(0, len(clip), max(1, len(clip) // per_clip))][:per_clip]
        for frame in picked:
            h, w = frame.shape[:2]
            small = cv2.resize(frame, (w // scale // 4 * 4, h // scale // 4 * 4), interpolation=cv2.INTER_AREA)
            rows, cols = centre_window(*small.shape[:2], crop, 4)
            frames.append(np.ascontiguousarray(small[rows, cols]))
    return frames


@torch.no_grad()
def stylize(generator: RemasterGenerator, frame: np.ndarray) -> np.ndarray:
    """One RGB uint8 frame (sides multiples of 4) through ``generator``, frame by frame, in the
    generator's own dtype."""
    was_training = generator.training
    generator.eval()
    dtype = next(generator.parameters()).dtype
    y = generator(to_tensor(frame).to(dtype)).float().clamp(0, 1)[0].permute(1, 2, 0).mul(255).round().byte().numpy()
    generator.train(was_training)
    return y


def measure_precision(generator: RemasterGenerator, frames: list[np.ndarray]) -> dict[str, Any]:
    """The card's ``precision``: PSNR (dB) of the output in fp16 and in bf16 against fp32's, the
    lowest over ``frames``. :func:`vidstyle.models.registry.generator_traits` refuses a half
    precision whose figure is under 50 dB (a style's sharp strokes can flip in half precision:
    the halftone style measured 44.9 dB in fp16)."""
    reference = [stylize(generator, frame) for frame in frames]
    figures: dict[str, Any] = {}
    for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        half = copy.deepcopy(generator).to(dtype)
        figures[f"{name}_psnr_db"] = round(min(psnr(stylize(half, frame), ref)
                                               for frame, ref in zip(frames, reference)), 2)
    figures["how"] = (f"PSNR against fp32, the lowest over {len(frames)} held-out frames "
                      "(vidstyle.train.style_eval.held_out_frames), measured by train-style on the machine that "
                      f"trained it; below {HALF_PRECISION_FLOOR_DB:g} dB the precision is not allowed "
                      "(vidstyle.models.registry.generator_traits)")
    return figures


def write_preview(generator: RemasterGenerator, frames: list[np.ndarray], exemplar: np.ndarray, path: Path) -> None:
    """A PNG: the exemplar, then each frame (bicubic) beside its stylized output, one row each."""
    rows = []
    for frame in frames:
        out = stylize(generator, frame)
        before = cv2.resize(frame, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_CUBIC)
        rows.append(np.concatenate([before, out], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    h = min(256, exemplar.shape[0])
    thumb = cv2.resize(exemplar, (round(exemplar.shape[1] * h / exemplar.shape[0]), h), interpolation=cv2.INTER_AREA)
    thumb = np.pad(thumb[:, :width], ((0, 0), (0, max(0, width - thumb.shape[1])), (0, 0)), constant_values=255)
    sheet = np.concatenate([thumb] + rows, axis=0)
    tmp = partial_path(path)
    cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    os.replace(tmp, path)


def evaluate(generator: RemasterGenerator, exemplar: np.ndarray, frames: list[np.ndarray],
             sigma: float) -> dict[str, Any]:
    """Style distance (the fixed extractor of :func:`style_distance`) of outputs against the
    inputs' (bicubic), at the scale the style is learnt at (``sigma``, :class:`GaussianHalf`),
    and at full resolution for context."""
    extractor = RandomMultiscaleFeatures()
    figures: dict[str, list[list[float]]] = {"learnt": [[], []], "full": [[], []]}
    for frame in frames:
        out = stylize(generator, frame)
        before = cv2.resize(frame, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_CUBIC)
        for key, view in (("learnt", sigma), ("full", None)):
            figures[key][0].append(style_distance(before, exemplar, extractor, sigma=view))
            figures[key][1].append(style_distance(out, exemplar, extractor, sigma=view))
    (d_in, d_out), (f_in, f_out) = ([float(np.mean(v)) for v in figures[k]] for k in ("learnt", "full"))
    return {"style_distance_input": round(d_in, 4), "style_distance_output": round(d_out, 4),
            "style_distance_ratio": round(d_out / d_in, 4), "style_distance_sigma": sigma,
            "full_resolution": {"style_distance_input": round(f_in, 4), "style_distance_output": round(f_out, 4),
                                "style_distance_ratio": round(f_out / f_in, 4)},
            "eval_frames": len(frames)}


def measure_picture(generator: RemasterGenerator, scale: int, per_source: int, *,
                    crop: int | None = None) -> dict[str, Any]:
    """What a person sees of the style (:func:`vidstyle.style.measures.picture_measures`):
    structure, edge agreement and grid energy of its output against the clean target, on held-out
    frames damaged as the remaster models' evaluation damages them (:data:`EVAL_SEED`), at most
    ``per_source`` of each clip or still; bicubic x2's on the same frames as context. Means.
    With ``crop``, on the centre of each damaged frame, sides at most ``crop``, and of its target."""
    chosen: dict[str, list] = {}
    for pair in held_out_pairs(scale, frame_stride=PICTURE_STRIDE):
        chosen.setdefault(pair.source, [])
        if len(chosen[pair.source]) < per_source:
            chosen[pair.source].append(pair)
    rows: dict[str, list[dict[str, float]]] = {"style": [], "bicubic": []}
    for pair in (p for pairs in chosen.values() for p in pairs):
        h, w = (s // 4 * 4 for s in pair.degraded.shape[:2])
        ys, xs = centre_window(h, w, crop, 4)
        frame = np.ascontiguousarray(pair.degraded[ys, xs])
        target = pair.target[ys.start * scale : ys.stop * scale, xs.start * scale : xs.stop * scale]
        bicubic = cv2.resize(frame, (frame.shape[1] * scale, frame.shape[0] * scale), interpolation=cv2.INTER_CUBIC)
        rows["style"].append(picture_measures(stylize(generator, frame), target))
        rows["bicubic"].append(picture_measures(bicubic, target))

    def means(figures: list[dict[str, float]]) -> dict[str, float]:
        return {k: round(float(np.mean([f[k] for f in figures])), 5) for k in figures[0]}

    return {**means(rows["style"]), "bicubic": means(rows["bicubic"]),
            "frames": [f"{p.source}:{p.index}" for pairs in chosen.values() for p in pairs],
            "rule": "vidstyle.style.measures.picture_measures of each output against the clean target, "
                    f"on vidstyle.train.evaluate.held_out_pairs(scale, frame_stride={PICTURE_STRIDE}) "
                    f"(seed {EVAL_SEED}){'' if crop is None else f', centre crops of at most {crop} px'}; "
                    "the benchmark's targets: structure >= 0.75, edge_f >= 0.6, "
                    "grid_energy <= 0.001; fine_chroma and middle_chroma (levels) have none: well above "
                    "the exemplar's (exemplar_fine_chroma, exemplar_middle_chroma) is coloured speckle "
                    "and colour blotches"}


def exemplar_chroma(exemplar: np.ndarray) -> dict[str, float]:
    """The exemplar's own fine and middle chroma (levels), which a card's ``picture`` shows beside
    the output's: ``exemplar_fine_chroma`` and ``exemplar_middle_chroma``."""
    return {"exemplar_fine_chroma": round(fine_bands(exemplar)[1], 3),
            "exemplar_middle_chroma": round(middle_chroma(exemplar), 3)}


def calibrate_blend_tolerance(generator: RemasterGenerator, scale: int, *, crop: int | None = None) -> dict[str, Any]:
    """The card's ``temporal`` entry: the blend tolerance of ``generator`` (see
    :data:`BLEND_QUANTILE`) and how it was found. A few seconds. With ``crop``, on the centre of
    the frames, input sides at most ``crop``."""
    from . import data  # noqa: PLC0415

    name, first, end = CALIBRATION_CLIP
    clean = data.clip_frames(name)[first:end]
    h, w = clean[0].shape[:2]
    h, w = h // (4 * scale) * 4 * scale, w // (4 * scale) * 4 * scale  # inputs: sides multiples of 4
    rows, cols = centre_window(h, w, None if crop is None else crop * scale, 4 * scale)
    clean = [f[rows, cols] for f in clean]
    h, w = rows.stop - rows.start, cols.stop - cols.start
    settings = replace(WORN_PRINT, scale=scale)
    degrader = FilmDegrader(settings, seed=20261129, height=h, width=w)
    inputs = np.stack([degrader.degrade(np.ascontiguousarray(f)) for f in clean])
    outputs = np.stack([stylize(generator, frame) for frame in inputs])
    spread = disagreement(outputs, inputs, quantile=BLEND_QUANTILE)
    return {"blend_tolerance": round(max(DEFAULT_BLEND_TOLERANCE, spread), 1),
            "disagreement": round(spread, 2),
            "rule": f"quantile {BLEND_QUANTILE:g} of the model's frame-to-frame differences "
                    f"(vidstyle.temporal.blend.disagreement) on {name} frames [{first}, {end}), "
                    f"damaged by vidstyle.damage.degrade.WORN_PRINT"
                    f"{'' if crop is None else f', centre crops of at most {crop} px'}; at least "
                    f"{DEFAULT_BLEND_TOLERANCE:g}"}
