"""Training the remaster generator: reconstruction first, then a GAN phase.

This is the library behind ``pipelines/train_remaster.py`` (the script parses the options and
calls :func:`train`). A :class:`~vidstyle.train.recipe.Recipe` fixes everything a run depends
on. The data are made on the fly from the stills and clips on this machine and procedural dead
leaves pictures (:mod:`vidstyle.train.data`), damaged by :class:`vidstyle.train.pairs.PairDamage`,
never from the held-out part, which is used to evaluate the model against bicubic every
``eval_every`` steps.

* Phase 1, reconstruction: Charbonnier + a small perceptual term.
* Phase 2, GAN: adds the hinge loss of a multi-scale PatchGAN and feature matching on its
  features, both with small weights, so the picture gains texture without losing fidelity.

Everything lands in the run's folder (:class:`~vidstyle.train.loop.RunFolder`):

* ``checkpoint.pt``: generator, its moving average, discriminator, optimisers, step, RNG state
  and time spent; written every ``checkpoint_every`` steps and when the run stops. A resumed run
  continues from it with the batches an uninterrupted run would have seen (a batch depends only
  on the seed and the step).
* ``losses.csv`` (mean losses over every ``log_every`` steps, :data:`LOSS_COLUMNS`), ``eval.csv``
  (held-out PSNR/SSIM of the model and of bicubic, :data:`EVAL_COLUMNS`) and ``losses.png``, a
  plot of both (:func:`vidstyle.train.plot.plot_losses`).
* ``NAME.safetensors`` + ``NAME.json``: the exported generator (its moving average) and its card,
  written with :func:`vidstyle.models.weights.save_weights` when the run stops, with the final
  held-out metrics on every held-out frame.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tomllib
import torch
from torch import nn
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ..models.discriminator import MultiScaleDiscriminator
from ..models.generator import RemasterGenerator
from ..models.weights import file_sha256, load_weights, save_weights
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
from .losses import (
    PerceptualLoss,
    charbonnier_loss,
    discriminator_hinge_loss,
    feature_matching_loss,
    generator_hinge_loss,
)
from .plot import plot_losses
from .recipe import Recipe, RecipeError

__all__ = [
    "EVAL_COLUMNS",
    "LOSS_COLUMNS",
    "Trainer",
    "export",
    "initial_weights",
    "learning_rates",
    "train",
    "training_sources",
]

log = logging.getLogger("train_remaster")

#: The columns of ``losses.csv``.
LOSS_COLUMNS = (
    "step", "phase", "lr", "total", "charbonnier", "perceptual", "adversarial",
    "feature_matching", "discriminator", "d_real", "d_fake", "seconds_per_step",
)
#: The columns of ``eval.csv``.
EVAL_COLUMNS = (
    "step", "model_psnr", "model_ssim", "bicubic_psnr", "bicubic_ssim", "model_psnr_rgb",
    "bicubic_psnr_rgb", "frames",
)
LOGS = {"losses.csv": LOSS_COLUMNS, "eval.csv": EVAL_COLUMNS}


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


# -- the trainer ------------------------------------------------------------------------------------


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
        """Continue from a checkpoint written by :meth:`save` with the same recipe."""
        state = load_checkpoint(path, self.device)
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
        restore_torch_rng(state)
        self.step = int(state["step"])
        self.cpu_seconds = float(state["cpu_seconds"])
        self.wall_seconds = float(state["wall_seconds"])
        self.commands = list(state["commands"])
        self.last_eval = state["last_eval"]
        self.init = state.get("init")


# -- run --------------------------------------------------------------------------------------


def training_sources(recipe: Recipe) -> tuple[data.SourceFrame, ...]:
    """The clean pictures of a run: the training stills and clip frames, and the recipe's dead leaves."""
    frames = data.training_frames()
    stills = [f for f in frames if f.group == "images"]
    return frames + data.dead_leaves_frames(recipe.dead_leaves, seed=recipe.seed, sources=stills)


#: Parameters of the damage conditioning (``RemasterGenerator(condition=True)``): a recipe may add it
#: to weights that lack it, since it starts as the identity.
CONDITIONING = ("condition_head.", "condition_tail.")


#: The residual stacks a recipe may lengthen over its ``--init`` weights (``body_blocks``,
#: ``low_blocks``, ``decoder_blocks``): the new blocks start as the identity.
GROWABLE = ("body", "low", "decoder")


def _added_blocks(generator: RemasterGenerator, missing: list[str]) -> list[str]:
    """The residual blocks (``"body.3"``) of ``generator`` wholly absent from an ``--init`` state
    dict: every tensor of theirs is ``missing``, in a stack that may grow."""
    absent = set(missing)
    blocks = {".".join(k.split(".")[:2]) for k in absent if k.split(".")[0] in GROWABLE}
    return sorted(name for name in blocks
                  if {f"{name}.{k}" for k in generator.get_submodule(name).state_dict()} <= absent)


def initial_weights(trainer: Trainer, path: Path) -> dict[str, Any]:
    """Start the generator (and its moving average) from a weights file or a checkpoint's moving
    average: a fine-tuning run. The reuse fusion of a temporal model is left out (this script
    trains the network frame by frame), a recipe that adds the damage conditioning starts it as
    the identity, and so do residual blocks a recipe adds to a stack (:data:`GROWABLE`: a deeper
    network that begins as the trained one); returns what the card says of the start."""
    if not path.is_file():
        raise FileNotFoundError(f"--init: no file {path}")
    if path.suffix == ".safetensors":
        module, _ = load_weights(path)
        state = module.state_dict()
    else:
        checkpoint = load_checkpoint(path)
        state = checkpoint["ema"] or checkpoint["generator"]
    state = {k: v for k, v in state.items() if not k.startswith("reuse.")}
    own = trainer.generator.state_dict()
    resized = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if resized:
        raise RecipeError(f"--init {path.name} does not fit the recipe's generator (other shapes: "
                          f"{', '.join(f'{k} {tuple(state[k].shape)} -> {tuple(own[k].shape)}' for k in resized[:2])})")
    missing, unexpected = trainer.generator.load_state_dict(state, strict=False)
    added = _added_blocks(trainer.generator, missing)
    for name in added:  # a residual block whose second convolution is zero is the identity
        block = trainer.generator.get_submodule(name)
        nn.init.zeros_(block.conv2.weight)
        nn.init.zeros_(block.conv2.bias)
    missing = [k for k in missing if not k.startswith(CONDITIONING) and k.rsplit(".", 2)[0] not in added]
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
    continues it later. ``workers`` processes make the batches ahead (the same batches);
    ``init`` starts a fresh run from trained weights (:func:`initial_weights`).

    Raises:
        FileNotFoundError: ``resume`` without a checkpoint in ``out``, or a missing ``init``.
        FileExistsError: a fresh run into an ``out`` that holds one.
        RecipeError: the checkpoint was made with another recipe, or ``init`` does not fit.
    """
    folder = RunFolder(out, LOGS)
    trainer = Trainer(recipe, device)
    if init is not None and not resume:  # before the folder is made: a bad --init leaves nothing behind
        trainer.init = initial_weights(trainer, init)
    folder.begin(resume=resume)
    if resume:
        trainer.load(folder.checkpoint)
        log.info("resumed at step %d of %d", trainer.step, recipe.total_steps)
        folder.rewind(trainer.step)
    trainer.commands.append(command)
    trainer.workers = workers
    log.info("perceptual loss: %s", trainer.perceptual.kind)
    final = _Run(trainer, folder, minutes=minutes, stop_at=stop_at, workers=workers).run(progress)
    log.info("final held-out PSNR-Y %.2f dB (bicubic %.2f), SSIM-Y %.4f (bicubic %.4f) on %d frames",
             final.model_psnr, final.bicubic_psnr, final.model_ssim, final.bicubic_ssim, final.frames)
    return export(trainer, folder.path, final, completed=trainer.step >= recipe.total_steps)


@dataclass(frozen=True)
class _Cycled:
    """``make(index % period)``: the same few batches over and over (``overfit_batches``); picklable, for the
    workers of :func:`~vidstyle.train.loader.prefetched`."""

    make: Callable[[int], tuple[torch.Tensor, torch.Tensor]]
    period: int

    def __call__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.make(index % self.period)


class _Run:
    """The training loop of one invocation of :func:`train`, with its logs and checkpoints."""

    def __init__(self, trainer: Trainer, folder: RunFolder, *, minutes: float | None,
                 stop_at: int | None, workers: int) -> None:
        recipe = trainer.recipe
        self.trainer, self.folder, self.recipe = trainer, folder, recipe
        self.minutes, self.stop_at = minutes, stop_at
        sampler = data.PatchSampler(
            training_sources(recipe), scale=recipe.scale, patch_size=recipe.patch_size,
            batch_size=recipe.batch_size, seed=recipe.seed, h264_probability=recipe.h264_probability,
            crf_range=recipe.crf_range, mix=recipe.mix,
        )
        make_batch = sampler.batch
        if recipe.overfit_batches:
            make_batch = _Cycled(sampler.batch, recipe.overfit_batches)
        self.stream = prefetched(make_batch, trainer.step, recipe.total_steps, workers=workers)
        self.eval_pairs = held_out_pairs(recipe.scale, frame_stride=recipe.eval_frame_stride)
        self.clock = Stopwatch()
        self.deadline = deadline(minutes)
        self.window = LossWindow()

    def account(self) -> None:
        """Add the time since the last call to the trainer's totals."""
        wall, cpu = self.clock.lap()
        self.trainer.wall_seconds += wall
        self.trainer.cpu_seconds += cpu

    def save(self) -> None:
        self.account()
        self.trainer.save(self.folder.checkpoint)

    def run_eval(self) -> None:
        trainer, recipe = self.trainer, self.recipe
        result = evaluate(trainer.export_model, scale=recipe.scale, pairs=self.eval_pairs,
                          device=trainer.device)
        trainer.last_eval = eval_row(trainer.step, result, EVAL_COLUMNS)
        self.folder.append("eval.csv", trainer.last_eval)
        log.info("step %d held-out PSNR-Y %.2f dB (bicubic %.2f), SSIM-Y %.4f (bicubic %.4f)",
                 trainer.step, result.model_psnr, result.bicubic_psnr, result.model_ssim,
                 result.bicubic_ssim)

    def log_window(self) -> dict[str, Any]:
        row: dict[str, Any] = self.window.means()
        row.update(step=self.trainer.step, phase=learning_rates(self.recipe, self.trainer.step - 1)[0],
                   seconds_per_step=self.window.seconds_per_step())
        self.folder.append("losses.csv", row)
        self.window.clear()
        return row

    def run(self, progress: bool) -> EvalResult:
        """Train until the recipe's end, ``minutes`` or ``stop_at``; checkpoint and evaluate on
        every held-out frame of the final stride. Returns that final evaluation."""
        trainer, recipe = self.trainer, self.recipe
        bar = tqdm(total=recipe.total_steps, initial=trainer.step, unit="step", dynamic_ncols=True,
                   disable=not progress, desc=recipe.name)
        with logging_redirect_tqdm():
            if trainer.step == 0:
                self.run_eval()  # the starting point of the curve: the untrained generator upscales bilinearly
                self.window.restart()
            while trainer.step < recipe.total_steps and not self.stopping():
                self.step(bar)
            bar.close()
            if self.window:  # stopped by --minutes between two log lines
                self.log_window()
            self.save()
            return self.final_eval()

    def stopping(self) -> bool:
        if time.perf_counter() >= self.deadline:
            log.info("--minutes %.3g reached at step %d: stopping", self.minutes, self.trainer.step)
            return True
        if self.stop_at is not None and self.trainer.step >= self.stop_at:
            log.info("--stop-at %d reached: stopping", self.stop_at)
            return True
        return False

    def step(self, bar: tqdm) -> None:
        """One training step, and the log line, evaluation and checkpoint that fall on it."""
        trainer, recipe = self.trainer, self.recipe
        self.window.add(trainer.train_step(*next(self.stream)))
        step = trainer.step
        bar.update(1)
        if step % recipe.log_every == 0 or step == recipe.total_steps:
            row = self.log_window()
            bar.set_postfix(loss=f"{row['total']:.4f}", s_per_step=f"{row['seconds_per_step']:.2f}")
        if step % recipe.eval_every == 0 and step < recipe.total_steps:
            self.run_eval()
            plot_losses(self.folder.path)
        if step % recipe.checkpoint_every == 0:
            self.save()
        if not self.window:  # keep evaluations and checkpoints out of the measured step time
            self.window.restart()

    def final_eval(self) -> EvalResult:
        trainer, recipe = self.trainer, self.recipe
        final_pairs = held_out_pairs(recipe.scale, frame_stride=recipe.final_eval_frame_stride)
        final = evaluate(trainer.export_model, scale=recipe.scale, device=trainer.device, pairs=final_pairs)
        trainer.last_eval = eval_row(trainer.step, final, EVAL_COLUMNS)
        self.folder.truncate("eval.csv", trainer.step - 1)
        self.folder.append("eval.csv", trainer.last_eval)
        plot_losses(self.folder.path)
        self.save()
        return final


def export(trainer: Trainer, out: Path, final: EvalResult, *, completed: bool) -> dict[str, Any]:
    """Write ``out/NAME.safetensors`` and its card with :func:`vidstyle.models.weights.save_weights`."""
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
        "data": data.data_card(),
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
