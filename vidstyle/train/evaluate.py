"""Held-out evaluation: how much better than bicubic a model restores damaged frames.

Each held-out clean picture (:func:`~vidstyle.train.data.held_out_clips`,
:func:`~vidstyle.train.data.held_out_images`) is damaged the same way every time: its damage
(:class:`~vidstyle.train.pairs.PairDamage` with
:data:`~vidstyle.train.pairs.EVALUATION_MIX`, the training mix less its clean pairs) and, one time
in four, an H.264 round trip at a drawn CRF all come from a random generator seeded with ``(seed,
source, frame index)``. So the pairs are identical from run to run, whichever frames a caller
selects. The reference is the pair's target: the clean frame (grey for black-and-white film) with
the same global tone as the input, since a restorer is to keep the tone it is given.

Metrics, as in most super-resolution papers: PSNR and SSIM on the luma channel Y of BT.601
YCbCr (``16 + 65.481 R + 128.553 G + 24.966 B`` with R, G, B in [0, 1], peak 255), ``scale``
pixels cropped at each border, outputs rounded to uint8 first as a real output would be; SSIM with
the Gaussian window of Wang et al. (2004): sigma 1.5, K1 0.01, K2 0.03. PSNR on RGB is reported
too, since colour casts (fading, tint) do not all show in Y. Frame scores are averaged over all
frames.

The baseline is bicubic upscaling of the damaged frame with OpenCV on uint8, the same kernel the
``bicubic`` model of the pipeline runs on the CPU.

Example::

    >>> pairs = held_out_pairs(2, frame_stride=10)           # a quick subset
    >>> result = evaluate(generator, scale=2, pairs=pairs)   # doctest: +SKIP
    >>> result.model_psnr - result.bicubic_psnr              # doctest: +SKIP
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..damage.degrade import DegradeSettings
from ..models.descriptor import ModelDescriptor
from ..quality import frame_scores
from .data import HELD_OUT_CLIP_FRAMES, h264_round_trip, held_out_clips, held_out_images
from .pairs import EVALUATION_MIX, PairDamage

__all__ = ["EVAL_SEED", "EvalResult", "HeldOutPair", "evaluate", "frame_runner", "frame_scores", "held_out_pair",
           "held_out_pairs"]

#: Seed of the held-out damage. Change it and every published metric changes.
EVAL_SEED = 20221
#: Share of held-out frames that also get an H.264 round trip, and its CRF range (inclusive).
H264_PROBABILITY = 0.25
H264_CRF_RANGE = (18, 38)


@dataclass(frozen=True)
class HeldOutPair:
    """One held-out evaluation pair.

    Attributes:
        source: clip file name or still name.
        index: frame index in the clip (0 for stills).
        degraded: damaged low-resolution frame, RGB uint8 (H / scale, W / scale, 3).
        target: what a perfect restorer outputs, RGB uint8 (H, W, 3).
        settings: the film damage applied (its tone effects off: the tone is in the target too).
        h264_crf: CRF of the H.264 round trip, or None when there was none.
    """

    source: str
    index: int
    degraded: np.ndarray
    target: np.ndarray
    settings: DegradeSettings | None
    h264_crf: int | None


def held_out_pair(source: str, index: int, clean: np.ndarray, scale: int, *,
                  seed: int = EVAL_SEED) -> HeldOutPair:
    """One picture damaged as :func:`held_out_pairs` damages the held-out ones.

    The damage depends only on ``(seed, source, index)`` and the picture's size, so a picture
    reserved for evaluation from outside the split (a sample image of another package) is damaged
    here exactly as the held-out frames are, and a held-out frame gives the pair
    :func:`held_out_pairs` gives.

    Args:
        source: the clip file or still name, part of the seed.
        index: the frame index in the clip (0 for a still), part of the seed.
        clean: RGB uint8 (H, W, 3); cropped to sides divisible by ``scale``.
        scale: 1, 2 or 4.
        seed: the damage seed; :data:`EVAL_SEED` for every published figure.
    """
    rng = np.random.default_rng([seed, zlib.crc32(source.encode()), index])
    height, width = clean.shape[:2]
    if height % scale or width % scale:  # never for the shipped split; keeps the function general
        height, width = height - height % scale, width - width % scale
        clean = clean[:height, :width]
    damage = PairDamage(rng, scale=scale, height=height, width=width, mix=EVALUATION_MIX)
    degraded, target = damage.pair(np.ascontiguousarray(clean))
    settings = damage.settings
    crf = None
    if rng.random() < H264_PROBABILITY:
        crf = int(rng.integers(H264_CRF_RANGE[0], H264_CRF_RANGE[1] + 1))
        if degraded.shape[0] % 2 == 0 and degraded.shape[1] % 2 == 0:
            degraded = h264_round_trip([degraded], crf=crf)[0]
        else:
            crf = None
    return HeldOutPair(source, index, degraded, target, settings, crf)


def held_out_pairs(scale: int, *, frame_stride: int = 1, seed: int = EVAL_SEED) -> list[HeldOutPair]:
    """Damaged held-out frames and their targets, deterministic for ``seed``.

    Args:
        scale: 1, 2 or 4.
        frame_stride: keep every ``frame_stride``-th held-out frame of each clip (both stills are
            always kept); a pair does not depend on the stride.
        seed: the damage seed; :data:`EVAL_SEED` for every published figure.
    """
    if scale not in (1, 2, 4):
        raise ValueError(f"scale must be 1, 2 or 4, got {scale}")
    if frame_stride < 1:
        raise ValueError(f"frame_stride must be 1 or more, got {frame_stride}")
    pairs = []
    for clip, frames in held_out_clips().items():
        first = HELD_OUT_CLIP_FRAMES[clip][0]
        for offset in range(0, len(frames), frame_stride):
            pairs.append(held_out_pair(clip, first + offset, frames[offset], scale, seed=seed))
    for name, image in held_out_images().items():
        pairs.append(held_out_pair(name, 0, image, scale, seed=seed))
    return pairs


Upscaler = Callable[[torch.Tensor], torch.Tensor]


def frame_runner(
    model: nn.Module | ModelDescriptor | Upscaler, device: torch.device | str
) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 (h, w, 3) -> uint8 (sh, sw, 3) through ``model``, padded to its size multiple."""
    multiple = int(getattr(model, "size_multiple", 1))

    @torch.no_grad()
    def run(frame: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(frame).to(device).permute(2, 0, 1)[None].float().div_(255.0)
        h, w = x.shape[-2:]
        if isinstance(model, ModelDescriptor):
            y = model(x)  # pads, runs and crops itself
        else:
            pad_h, pad_w = (-h) % multiple, (-w) % multiple
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
            y = model(x.contiguous(memory_format=torch.channels_last))
            scale = y.shape[-1] // x.shape[-1]
            y = y[..., : h * scale, : w * scale]
        y = y.clamp(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
        return y[0].permute(1, 2, 0).cpu().numpy()

    return run


@dataclass(frozen=True)
class EvalResult:
    """Mean held-out scores of a model and of bicubic upscaling on the same pairs.

    PSNR in dB and SSIM on BT.601 Y; ``*_psnr_rgb`` on RGB. ``per_source`` maps each clip or still
    name to the same figures over its frames.
    """

    frames: int
    model_psnr: float
    model_ssim: float
    model_psnr_rgb: float
    bicubic_psnr: float
    bicubic_ssim: float
    bicubic_psnr_rgb: float
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)
    channel: str = "Y (BT.601), border of scale pixels cropped"

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate(
    model: nn.Module | ModelDescriptor | Upscaler,
    *,
    scale: int,
    pairs: Sequence[HeldOutPair] | None = None,
    frame_stride: int = 1,
    seed: int = EVAL_SEED,
    device: torch.device | str = "cpu",
) -> EvalResult:
    """Score ``model`` and bicubic upscaling on the held-out damaged frames.

    Args:
        model: our generator (an ``nn.Module``; put in eval mode for the call and restored after),
            a :class:`ModelDescriptor`, or any callable from (1, 3, h, w) float in [0, 1] to
            (1, 3, h*scale, w*scale). Inputs are padded to ``model.size_multiple`` if it has one.
        scale: the model's scale, 1, 2 or 4.
        pairs: pairs from :func:`held_out_pairs` for this ``scale``, to reuse across calls;
            made from ``frame_stride`` and ``seed`` when None.
        device: where the model runs.
    """
    if pairs is None:
        pairs = held_out_pairs(scale, frame_stride=frame_stride, seed=seed)
    if not pairs:
        raise ValueError("no held-out pair to evaluate on")
    run = frame_runner(model, device)
    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    scores: dict[str, list[dict[str, float]]] = defaultdict(list)
    try:
        for pair in pairs:
            height, width = pair.target.shape[:2]
            if pair.degraded.shape[0] * scale != height or pair.degraded.shape[1] * scale != width:
                raise ValueError(
                    f"pair {pair.source}#{pair.index} is not a x{scale} pair: "
                    f"{pair.degraded.shape[:2]} -> {pair.target.shape[:2]}"
                )
            bicubic = cv2.resize(pair.degraded, (width, height), interpolation=cv2.INTER_CUBIC)
            output = run(pair.degraded)
            if output.shape != pair.target.shape:
                raise ValueError(
                    f"the model should output {pair.target.shape}, instead got {output.shape}"
                )
            model_scores = frame_scores(output, pair.target, border=scale)
            bicubic_scores = frame_scores(bicubic, pair.target, border=scale)
            scores[pair.source].append(
                {**{f"model_{k}": v for k, v in model_scores.items()},
                 **{f"bicubic_{k}": v for k, v in bicubic_scores.items()}}
            )
    finally:
        if was_training:
            model.train()
    every = [s for frames in scores.values() for s in frames]

    def mean(rows: list[dict[str, float]], key: str) -> float:
        return float(np.mean([row[key] for row in rows]))

    keys = every[0].keys()
    per_source = {
        source: {"frames": len(rows), **{k: mean(rows, k) for k in keys}}
        for source, rows in scores.items()
    }
    return EvalResult(len(every), **{k: mean(every, k) for k in keys}, per_source=per_source)
