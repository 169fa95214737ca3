"""Fine-tuning a remaster model for temporal consistency, and teaching it feature reuse.

This is the library behind ``pipelines/train_temporal.py`` (the script parses the options and
calls :func:`train`). Starting from the weights the recipe names (``init``), each step takes a
batch of pairs from :class:`vidstyle.train.temporal_data.TemporalPairSampler` (a keyframe and a
frame up to ``max_gap`` frames away, real or synthetic motion) and trains, together:

* the generator, frame by frame: Charbonnier + perceptual (as in :mod:`vidstyle.train.remaster`)
  on both frames, plus the **temporal loss**: the L1 distance between G(frame) and G(key) warped
  by the clean flow, where that flow is reliable (DESIGN.md, "Temporal consistency");
* **feature reuse**: the key's features and residual (its output before the pixel shuffle)
  warped by the flow the pipeline would estimate (on the damaged low-resolution frames), and the
  residual corrected by :class:`~vidstyle.models.generator.ReuseFusion` with the new frame. Its
  output gets the same reconstruction and temporal losses, and its residual is pulled towards
  the one the full generator computes on the frame.

The run's folder (:class:`~vidstyle.train.loop.RunFolder`) receives ``checkpoint.pt``,
``losses.csv`` (:data:`LOSS_COLUMNS`), ``eval.csv`` (:data:`EVAL_COLUMNS`) and the exported
``NAME.safetensors`` + card, as with :mod:`vidstyle.train.remaster`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import platform
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ..models.descriptor import RESIDUAL_WARPS
from ..models.generator import RemasterGenerator
from ..models.registry import shipped_weights
from ..models.weights import load_weights, save_weights
from ..temporal.warp import warp, warp_shuffled
from . import data
from .evaluate import EVAL_SEED, EvalResult, evaluate, held_out_pairs
from .loader import prefetched
from .loop import (
    LossWindow,
    RunFolder,
    Stopwatch,
    deadline,
    eval_row,
    load_checkpoint,
    restore_torch_rng,
    save_checkpoint,
)
from .losses import PerceptualLoss, charbonnier_loss, masked_l1
from .pairs import DamageMix
from .temporal_data import TEMPORAL_MIX, TemporalPairSampler

__all__ = [
    "EVAL_COLUMNS",
    "LOSS_COLUMNS",
    "TemporalRecipe",
    "TemporalTrainer",
    "export",
    "learning_rate",
    "train",
]

log = logging.getLogger("train_temporal")

#: The columns of ``losses.csv``.
LOSS_COLUMNS = ("step", "lr", "total", "frame", "temporal", "anchor", "reuse", "reuse_temporal",
                "distill", "seconds_per_step")
#: The columns of ``eval.csv``.
EVAL_COLUMNS = ("step", "model_psnr", "model_ssim", "bicubic_psnr", "bicubic_ssim", "frames")
LOGS = {"losses.csv": LOSS_COLUMNS, "eval.csv": EVAL_COLUMNS}


@dataclass(frozen=True)
class TemporalRecipe:
    """A fine-tuning recipe (TOML, flat keys); every field has a default but ``name``, ``scale``, ``init``."""

    name: str
    scale: int
    init: str
    """Shipped model name (``remaster-x2``) or a .safetensors path to start from."""
    seed: int = 0
    reuse_channels: int = 24
    patch_size: int = 64
    batch_size: int = 8
    max_gap: int = 3
    synthetic_probability: float = 0.35
    h264_probability: float = 0.25
    clean_probability: float = TEMPORAL_MIX.clean_probability
    """Pairs with no damage (:class:`~vidstyle.train.pairs.DamageMix`); the generator's recipes use more."""
    coded_clean_probability: float = TEMPORAL_MIX.coded_clean_probability
    """Of the clean pairs, those whose inputs alone go through JPEG."""
    lowest_jpeg_quality: int = TEMPORAL_MIX.lowest_jpeg_quality
    steps: int = 4000
    lr_generator: float = 5e-5
    lr_reuse: float = 1e-3
    warmup_steps: int = 200
    final_lr_fraction: float = 0.05
    perceptual_weight: float = 0.1
    temporal_weight: float = 0.3
    """Temporal loss of the frame-by-frame output."""
    anchor_weight: float = 1.0
    """L1 to the starting model's output: keeps the restoration it learned (GAN phase included)."""
    reuse_weight: float = 1.0
    reuse_temporal_weight: float = 1.0
    distill_weight: float = 0.1
    reuse_trains_encoder: bool = False
    """Let the reuse losses reach the encoder through the warped keyframe features."""
    fresh_fusion: bool = False
    """Start the fusion afresh (its output at zero: the warped residual passed through) even when the
    starting model has one of this width."""
    residual_warp: str = "cells"
    """How the keyframe's residual is warped onto the frame: ``cells`` (before the pixel shuffle,
    bilinear over whole cells) or ``picture`` (after it, :func:`~vidstyle.temporal.warp.warp_shuffled`).
    The exported card names it, and inference warps the same way."""
    log_every: int = 50
    eval_every: int = 1000
    checkpoint_every: int = 250
    eval_frame_stride: int = 10
    final_eval_frame_stride: int = 1
    text: str = field(default="", repr=False)

    @classmethod
    def load(cls, path: Path) -> TemporalRecipe:
        text = path.read_text()
        raw = tomllib.loads(text)
        known = {f.name: f for f in fields(cls) if f.name != "text"}
        unknown = set(raw) - set(known)
        if unknown:
            raise ValueError(f"{path.name}: unknown key(s) {', '.join(sorted(unknown))}")
        for key in ("name", "scale", "init"):
            if key not in raw:
                raise ValueError(f"{path.name}: missing {key}")
        values = {}
        for key, value in raw.items():
            kind = type(known[key].default) if key not in ("name", "scale", "init") else None
            if kind is float and isinstance(value, int):
                value = float(value)
            if kind is not None and not isinstance(value, kind):
                raise ValueError(f"{path.name}: {key} must be {kind.__name__}, got {value!r}")
            values[key] = value
        recipe = cls(**values, text=text)
        if recipe.scale not in (1, 2, 4) or recipe.reuse_channels < 1 or recipe.steps < 1:
            raise ValueError(f"{path.name}: scale must be 1, 2 or 4, reuse_channels and steps >= 1")
        recipe.mix()  # DamageMix checks its probabilities and the JPEG quality
        if recipe.residual_warp not in RESIDUAL_WARPS:
            raise ValueError(f"{path.name}: residual_warp must be one of {', '.join(RESIDUAL_WARPS)}, "
                             f"got {recipe.residual_warp!r}")
        return recipe

    def as_card(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "text"}

    def mix(self) -> DamageMix:
        """The damage of the training pairs: :data:`~vidstyle.train.temporal_data.TEMPORAL_MIX` with
        this recipe's clean pairs and JPEG range."""
        return dataclasses.replace(TEMPORAL_MIX, clean_probability=self.clean_probability,
                                   coded_clean_probability=self.coded_clean_probability,
                                   lowest_jpeg_quality=self.lowest_jpeg_quality)


def learning_rate(recipe: TemporalRecipe, step: int) -> float:
    """Fraction of the base rates at ``step``: linear warm-up, then a cosine to ``final_lr_fraction``."""
    if step < recipe.warmup_steps:
        return (step + 1) / recipe.warmup_steps
    position = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    low = recipe.final_lr_fraction
    return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * min(1.0, position)))


class TemporalTrainer:
    """The generator (with its reuse fusion), the frozen starting model it is anchored to, the
    optimiser and one training step; ``init`` (a shipped name or a .safetensors path) overrides
    the recipe's starting weights."""

    def __init__(self, recipe: TemporalRecipe, device: torch.device, init: str | None = None) -> None:
        self.recipe = recipe
        self.device = device
        torch.manual_seed(recipe.seed)
        source = init or recipe.init
        init_path = Path(source) if source.endswith(".safetensors") else shipped_weights(source)
        start, card = load_weights(init_path)
        hparams = {k: v for k, v in card["hparams"].items() if k != "reuse_channels"}
        self.init_card = {"name": card.get("name"), "sha256": card.get("sha256"),
                          "cpu_minutes": card.get("cpu_minutes"), "command": card.get("command")}
        self.generator = RemasterGenerator(**hparams, reuse_channels=recipe.reuse_channels)
        # A starting model that already has a fusion of this width keeps it, unless the recipe
        # asks for a fresh one; another width (or none) starts the fusion afresh.
        state = start.state_dict()
        if recipe.fresh_fusion or card["hparams"].get("reuse_channels") != recipe.reuse_channels:
            state = {k: v for k, v in state.items() if not k.startswith("reuse.")}
        missing, unexpected = self.generator.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("reuse.") for k in missing):
            raise ValueError(f"{init_path.name} does not fit: missing {missing}, unexpected {unexpected}")
        self.generator.to(device, memory_format=torch.channels_last)
        self.anchor = start.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)
        self.perceptual = PerceptualLoss("auto").to(device)
        reuse = list(self.generator.reuse.parameters())
        ids = {id(p) for p in reuse}
        base = [p for p in self.generator.parameters() if id(p) not in ids]
        self.opt = torch.optim.Adam([{"params": base, "lr": recipe.lr_generator},
                                     {"params": reuse, "lr": recipe.lr_reuse}], betas=(0.9, 0.99))
        self.step = 0
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        self.commands: list[str] = []

    def train_step(self, batch) -> dict[str, float]:
        r = self.recipe
        factor = learning_rate(r, self.step)
        self.opt.param_groups[0]["lr"] = r.lr_generator * factor
        self.opt.param_groups[1]["lr"] = r.lr_reuse * factor
        cl = torch.channels_last

        def to(t: torch.Tensor) -> torch.Tensor:  # pictures and masks channels-last, flows as they are
            return t.to(self.device, memory_format=cl) if t.ndim == 4 and t.shape[1] in (1, 3) else t.to(self.device)

        lr_key, lr_frame = to(batch.lr_key), to(batch.lr_frame)
        hr_key, hr_frame = to(batch.hr_key), to(batch.hr_frame)
        hr_flow, hr_mask = batch.hr_flow.to(self.device), to(batch.hr_mask)
        g = self.generator
        # With the generator held still (lr_generator 0) its losses are only reported: it runs
        # without gradients, and only the fusion's part of the step is differentiated.
        frozen = r.lr_generator == 0
        with torch.set_grad_enabled(not frozen):
            both = g.encode(torch.cat([lr_key, lr_frame]))
            feat_key, feat_frame = both.chunk(2)
            out = g.decode(both, torch.cat([lr_key, lr_frame]))
            out_key, out_frame = out.chunk(2)
            frame_loss = (charbonnier_loss(out, torch.cat([hr_key, hr_frame]))
                          + r.perceptual_weight * self.perceptual(out, torch.cat([hr_key, hr_frame])))
            if frozen:  # the generator is its starting model
                anchor = torch.zeros((), device=self.device)
            else:
                with torch.no_grad():
                    anchor_out = self.anchor(torch.cat([lr_key, lr_frame]))
                anchor = (out - anchor_out).abs().mean()
            key_on_frame = warp(out_key, hr_flow)
            temporal = masked_l1(out_frame, key_on_frame, hr_mask)

        source = feat_key if r.reuse_trains_encoder else feat_key.detach()
        feature_flow = batch.feature_flow.to(self.device)
        with torch.set_grad_enabled(not frozen):
            key_residual = g.residual(source)
        with torch.no_grad():  # the distillation's target
            frame_residual = g.residual(feat_frame)
        if r.residual_warp == "picture":
            warped_residual = warp_shuffled(key_residual, feature_flow, 2 * r.scale)
        else:
            warped_residual = warp(key_residual, feature_flow)
        reused = g.propagate(warp(source, feature_flow), warped_residual, lr_frame, to(batch.feature_mask))
        out_reuse = g.finish(reused, lr_frame)
        reuse_loss = (charbonnier_loss(out_reuse, hr_frame)
                      + r.perceptual_weight * self.perceptual(out_reuse, hr_frame))
        reuse_temporal = masked_l1(out_reuse, key_on_frame, hr_mask)
        distill = (reused - frame_residual).abs().mean()
        total = (frame_loss + r.temporal_weight * temporal + r.anchor_weight * anchor
                 + r.reuse_weight * (reuse_loss + r.reuse_temporal_weight * reuse_temporal)
                 + r.distill_weight * distill)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        self.step += 1
        return {"lr": self.opt.param_groups[0]["lr"], "total": total.item(), "frame": frame_loss.item(),
                "temporal": temporal.item(), "anchor": anchor.item(), "reuse": reuse_loss.item(),
                "reuse_temporal": reuse_temporal.item(), "distill": distill.item()}

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "generator": self.generator.state_dict(), "opt": self.opt.state_dict(),
                "torch_rng": torch.get_rng_state(), "cpu_seconds": self.cpu_seconds,
                "wall_seconds": self.wall_seconds, "commands": list(self.commands),
                "recipe_text": self.recipe.text}

    def save(self, path: Path) -> None:
        save_checkpoint(self.state_dict(), path)

    def load(self, path: Path) -> None:
        """Continue from a checkpoint written by :meth:`save` with the same recipe."""
        state = load_checkpoint(path, self.device)
        if tomllib.loads(state["recipe_text"]) != tomllib.loads(self.recipe.text):
            raise ValueError(f"{path} was made with another recipe; resume with the same one")
        self.generator.load_state_dict(state["generator"])
        self.opt.load_state_dict(state["opt"])
        restore_torch_rng(state)
        self.step = int(state["step"])
        self.cpu_seconds = float(state["cpu_seconds"])
        self.wall_seconds = float(state["wall_seconds"])
        self.commands = list(state["commands"])


def train(recipe: TemporalRecipe, out: Path, *, resume: bool, minutes: float | None,
          device: torch.device, command: str, progress: bool = True,
          stop_at: int | None = None, init: str | None = None, workers: int = 0) -> dict[str, Any]:
    """Run (or continue) the fine-tune into ``out``; returns the card of the exported weights.

    ``minutes`` (0 or None: no cap) caps the wall time of the loop and ``stop_at`` the step it
    reaches; either way the run checkpoints, evaluates and exports, and ``resume=True`` continues.

    Raises:
        FileNotFoundError: ``resume`` without a checkpoint in ``out``.
        FileExistsError: a fresh run into an ``out`` that holds one.
        ValueError: the checkpoint was made with another recipe, or the weights do not fit.
    """
    folder = RunFolder(out, LOGS)
    folder.begin(resume=resume)
    trainer = TemporalTrainer(recipe, device, init)
    if resume:
        trainer.load(folder.checkpoint)
        folder.rewind(trainer.step)
    trainer.commands.append(command)
    sampler = TemporalPairSampler(
        data.training_frames(), scale=recipe.scale, patch_size=recipe.patch_size,
        batch_size=recipe.batch_size, seed=recipe.seed, max_gap=recipe.max_gap,
        synthetic_probability=recipe.synthetic_probability, h264_probability=recipe.h264_probability,
        mix=recipe.mix())
    eval_pairs = held_out_pairs(recipe.scale, frame_stride=recipe.eval_frame_stride)
    clock = Stopwatch()
    stop_time = deadline(minutes or None)

    def save() -> None:
        wall, cpu = clock.lap()
        trainer.wall_seconds += wall
        trainer.cpu_seconds += cpu
        trainer.save(folder.checkpoint)

    def run_eval(pairs) -> EvalResult:
        result = evaluate(trainer.generator, scale=recipe.scale, pairs=pairs, device=device)
        folder.append("eval.csv", eval_row(trainer.step, result, EVAL_COLUMNS))
        log.info("step %d held-out PSNR-Y %.2f dB (bicubic %.2f)", trainer.step, result.model_psnr,
                 result.bicubic_psnr)
        return result

    window = LossWindow()
    bar = tqdm(total=recipe.steps, initial=trainer.step, unit="step", disable=not progress, desc=recipe.name)
    with logging_redirect_tqdm():
        if trainer.step == 0:
            run_eval(eval_pairs)
            window.restart()
        last = min(recipe.steps, stop_at) if stop_at is not None else recipe.steps
        stream = prefetched(sampler.batch, trainer.step, last, workers=workers)
        while trainer.step < last and time.perf_counter() < stop_time:
            window.add(trainer.train_step(next(stream)))
            bar.update(1)
            if trainer.step % recipe.log_every == 0:
                row = {**window.means(), "step": trainer.step, "seconds_per_step": window.seconds_per_step()}
                folder.append("losses.csv", row)
                bar.set_postfix(loss=f"{row['total']:.4f}", temporal=f"{row['temporal']:.4f}")
                log.info("step %d %s", trainer.step, " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "step"))
                window.clear()
            if trainer.step % recipe.eval_every == 0 and trainer.step < recipe.steps:
                run_eval(eval_pairs)
            if trainer.step % recipe.checkpoint_every == 0:
                save()
        bar.close()
        save()
        final = run_eval(held_out_pairs(recipe.scale, frame_stride=recipe.final_eval_frame_stride))
        save()
    return export(trainer, folder.path, final)


def export(trainer: TemporalTrainer, out: Path, final: EvalResult) -> dict[str, Any]:
    """Write ``out/NAME.safetensors`` (the generator with its fusion) and its card."""
    recipe = trainer.recipe
    model = RemasterGenerator(**trainer.generator.hparams)
    model.load_state_dict({k: v.detach().cpu() for k, v in trainer.generator.state_dict().items()})
    card = {
        "name": recipe.name,
        "scale": recipe.scale,
        "summary": f"restores film damage and upscales x{recipe.scale} in one pass; steady over "
                   f"time, with feature reuse between keyframes",
        "fine_tuned_from": trainer.init_card,
        "recipe": recipe.as_card(),
        "recipe_toml": recipe.text,
        # How the frames between keyframes warp the keyframe's residual (the registry reads it).
        "temporal": {"residual_warp": recipe.residual_warp},
        "command": trainer.commands[0],
        "resumed_with": trainer.commands[1:],
        "steps": {"done": trainer.step, "planned": recipe.steps, "completed": trainer.step >= recipe.steps},
        "data": data.data_card(),
        "perceptual_loss": trainer.perceptual.kind,
        "cpu_minutes": round(trainer.cpu_seconds / 60.0, 2),
        "wall_minutes": round(trainer.wall_seconds / 60.0, 2),
        "machine": {"cpu_threads": torch.get_num_threads(),
                    "processor": platform.processor() or platform.machine(), "torch": torch.__version__},
        "metrics": {
            "held_out": final.as_dict(),
            "damage_seed": EVAL_SEED,
            "frame_stride": recipe.final_eval_frame_stride,
            "method": "vidstyle.train.evaluate.evaluate, every frame on its own (--temporal off)",
        },
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return save_weights(model, out / f"{recipe.name}.safetensors", card)
