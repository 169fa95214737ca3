"""Fine-tune a shipped remaster model for temporal consistency and teach it feature reuse.

Run from the repository root::

    python pipelines/train_temporal.py --recipe pipelines/recipes/temporal-x2.toml --out /tmp/tx2
    python pipelines/train_temporal.py --recipe pipelines/recipes/temporal-x2.toml --out /tmp/tx2 \
        --resume --minutes 30

Starting from the weights the recipe names (``init``), each step takes a batch of pairs from
:class:`vidstyle.train.temporal_data.TemporalPairSampler` (a keyframe and a frame up to
``max_gap`` frames away, real or synthetic motion) and trains, together:

* the generator, frame by frame: Charbonnier + perceptual (as in ``train_remaster.py``) on both
  frames, plus the **temporal loss**: the L1 distance between G(frame) and G(key) warped by the
  clean flow, where that flow is reliable (DESIGN.md, "Temporal consistency");
* **feature reuse**: the key's features and residual (its output before the pixel shuffle)
  warped by the flow the pipeline would estimate (on the damaged low-resolution frames), and the
  residual corrected by :class:`~vidstyle.models.generator.ReuseFusion` with the new frame. Its
  output gets the same reconstruction and temporal losses, and its residual is pulled towards
  the one the full generator computes on the frame.

``--out`` receives ``checkpoint.pt``, ``losses.csv``, ``eval.csv`` and the exported
``NAME.safetensors`` + card, as with ``train_remaster.py``; ``--minutes`` stops the loop cleanly
and ``--resume`` continues.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import logging
import math
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import tomllib
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("vidstyle") is None:  # a plain checkout, not installed
    sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_remaster import _append_csv, _data_card, _truncate_csv, save_checkpoint  # noqa: E402

from vidstyle.models.generator import RemasterGenerator  # noqa: E402
from vidstyle.models.registry import shipped_weights  # noqa: E402
from vidstyle.models.weights import load_weights, save_weights  # noqa: E402
from vidstyle.temporal.warp import warp  # noqa: E402
from vidstyle.train import data  # noqa: E402
from vidstyle.train.evaluate import EVAL_SEED, evaluate, held_out_pairs  # noqa: E402
from vidstyle.train.loader import prefetched  # noqa: E402
from vidstyle.train.losses import PerceptualLoss, charbonnier_loss, masked_l1  # noqa: E402
from vidstyle.train.temporal_data import TemporalPairSampler  # noqa: E402

log = logging.getLogger("train_temporal")

CHECKPOINT = "checkpoint.pt"
LOSS_COLUMNS = ("step", "lr", "total", "frame", "temporal", "anchor", "reuse", "reuse_temporal",
                "distill", "seconds_per_step")
EVAL_COLUMNS = ("step", "model_psnr", "model_ssim", "bicubic_psnr", "bicubic_ssim", "frames")


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
        return recipe

    def as_card(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "text"}


def learning_rate(recipe: TemporalRecipe, step: int) -> float:
    """Fraction of the base rates at ``step``: linear warm-up, then a cosine to ``final_lr_fraction``."""
    if step < recipe.warmup_steps:
        return (step + 1) / recipe.warmup_steps
    position = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    low = recipe.final_lr_fraction
    return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * min(1.0, position)))


class TemporalTrainer:
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
        # A starting model that already has a fusion of this width keeps it; another width
        # (or none) starts the fusion afresh.
        state = start.state_dict()
        if card["hparams"].get("reuse_channels") != recipe.reuse_channels:
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
        to = lambda t: t.to(self.device, memory_format=cl) if t.ndim == 4 and t.shape[1] in (1, 3) else t.to(self.device)  # noqa: E731
        lr_key, lr_frame = to(batch.lr_key), to(batch.lr_frame)
        hr_key, hr_frame = to(batch.hr_key), to(batch.hr_frame)
        hr_flow, hr_mask = batch.hr_flow.to(self.device), to(batch.hr_mask)
        g = self.generator
        both = g.encode(torch.cat([lr_key, lr_frame]))
        feat_key, feat_frame = both.chunk(2)
        out = g.decode(both, torch.cat([lr_key, lr_frame]))
        out_key, out_frame = out.chunk(2)
        frame_loss = (charbonnier_loss(out, torch.cat([hr_key, hr_frame]))
                      + r.perceptual_weight * self.perceptual(out, torch.cat([hr_key, hr_frame])))
        with torch.no_grad():
            anchor_out = self.anchor(torch.cat([lr_key, lr_frame]))
        anchor = (out - anchor_out).abs().mean()
        key_on_frame = warp(out_key, hr_flow)
        temporal = masked_l1(out_frame, key_on_frame, hr_mask)

        source = feat_key if r.reuse_trains_encoder else feat_key.detach()
        feature_flow = batch.feature_flow.to(self.device)
        reused = g.propagate(warp(source, feature_flow), warp(g.residual(source), feature_flow), lr_frame,
                             to(batch.feature_mask))
        out_reuse = g.finish(reused, lr_frame)
        reuse_loss = (charbonnier_loss(out_reuse, hr_frame)
                      + r.perceptual_weight * self.perceptual(out_reuse, hr_frame))
        reuse_temporal = masked_l1(out_reuse, key_on_frame, hr_mask)
        distill = (reused - g.residual(feat_frame).detach()).abs().mean()
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
        state = torch.load(path, map_location=self.device, weights_only=True)
        if tomllib.loads(state["recipe_text"]) != tomllib.loads(self.recipe.text):
            raise ValueError(f"{path} was made with another recipe; resume with the same one")
        self.generator.load_state_dict(state["generator"])
        self.opt.load_state_dict(state["opt"])
        torch.set_rng_state(state["torch_rng"].cpu())  # loaded onto the device by map_location
        self.step = int(state["step"])
        self.cpu_seconds = float(state["cpu_seconds"])
        self.wall_seconds = float(state["wall_seconds"])
        self.commands = list(state["commands"])


def train(recipe: TemporalRecipe, out: Path, *, resume: bool, minutes: float | None,
          device: torch.device, command: str, progress: bool = True,
          stop_at: int | None = None, init: str | None = None, workers: int = 0) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / CHECKPOINT
    trainer = TemporalTrainer(recipe, device, init)
    if resume:
        if not checkpoint.is_file():
            raise FileNotFoundError(f"--resume: no {CHECKPOINT} in {out}")
        trainer.load(checkpoint)
        _truncate_csv(out / "losses.csv", LOSS_COLUMNS, trainer.step)
        _truncate_csv(out / "eval.csv", EVAL_COLUMNS, trainer.step)
    elif checkpoint.exists():
        raise FileExistsError(f"{out} already holds a {CHECKPOINT}: pass --resume or another --out")
    else:
        for name in ("losses.csv", "eval.csv"):
            (out / name).unlink(missing_ok=True)
    trainer.commands.append(command)
    sampler = TemporalPairSampler(
        data.training_frames(), scale=recipe.scale, patch_size=recipe.patch_size,
        batch_size=recipe.batch_size, seed=recipe.seed, max_gap=recipe.max_gap,
        synthetic_probability=recipe.synthetic_probability, h264_probability=recipe.h264_probability)
    eval_pairs = held_out_pairs(recipe.scale, frame_stride=recipe.eval_frame_stride)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = wall0 + minutes * 60 if minutes else math.inf

    def account() -> None:
        nonlocal wall0, cpu0
        now_wall, now_cpu = time.perf_counter(), time.process_time()
        trainer.wall_seconds += now_wall - wall0
        trainer.cpu_seconds += now_cpu - cpu0
        wall0, cpu0 = now_wall, now_cpu

    def run_eval(pairs) -> dict[str, Any]:
        result = evaluate(trainer.generator, scale=recipe.scale, pairs=pairs, device=device)
        row = {"step": trainer.step, **{k: v for k, v in result.as_dict().items() if k in EVAL_COLUMNS}}
        _append_csv(out / "eval.csv", EVAL_COLUMNS, row)
        log.info("step %d held-out PSNR-Y %.2f dB (bicubic %.2f)", trainer.step, result.model_psnr,
                 result.bicubic_psnr)
        return result

    window: dict[str, list[float]] = {}
    window_start = time.perf_counter()
    bar = tqdm(total=recipe.steps, initial=trainer.step, unit="step", disable=not progress, desc=recipe.name)
    with logging_redirect_tqdm():
        if trainer.step == 0:
            run_eval(eval_pairs)
            window_start = time.perf_counter()
        last = min(recipe.steps, stop_at) if stop_at is not None else recipe.steps
        stream = prefetched(sampler.batch, trainer.step, last, workers=workers)
        while trainer.step < last and time.perf_counter() < deadline:
            stats = trainer.train_step(next(stream))
            for k, v in stats.items():
                window.setdefault(k, []).append(v)
            bar.update(1)
            if trainer.step % recipe.log_every == 0:
                row = {k: float(np.mean(v)) for k, v in window.items()}
                row.update(step=trainer.step, seconds_per_step=(time.perf_counter() - window_start) / len(window["total"]))
                _append_csv(out / "losses.csv", LOSS_COLUMNS, row)
                bar.set_postfix(loss=f"{row['total']:.4f}", temporal=f"{row['temporal']:.4f}")
                log.info("step %d %s", trainer.step, " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "step"))
                window, window_start = {}, time.perf_counter()
            if trainer.step % recipe.eval_every == 0 and trainer.step < recipe.steps:
                run_eval(eval_pairs)
            if trainer.step % recipe.checkpoint_every == 0:
                account()
                trainer.save(checkpoint)
        bar.close()
        account()
        trainer.save(checkpoint)
        final = run_eval(held_out_pairs(recipe.scale, frame_stride=recipe.final_eval_frame_stride))
        account()
        trainer.save(checkpoint)
    return export(trainer, out, final)


def export(trainer: TemporalTrainer, out: Path, final) -> dict[str, Any]:
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
        "command": trainer.commands[0],
        "resumed_with": trainer.commands[1:],
        "steps": {"done": trainer.step, "planned": recipe.steps, "completed": trainer.step >= recipe.steps},
        "data": _data_card(),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="checkpoints, logs, export (outside the repo)")
    parser.add_argument("--init", default=None, metavar="NAME|PATH",
                        help="weights to start from instead of the recipe's init (e.g. the output "
                             "of train_remaster.py)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--minutes", type=float, default=None, help="stop the loop cleanly after this wall time")
    parser.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                        help="stop cleanly once training reaches this step (continue with --resume)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0,
                        help="processes that make batches ahead (default 0: in the training process)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = shlex.join(["python", "pipelines/train_temporal.py", *(argv if argv is not None else sys.argv[1:])])
    torch.set_num_threads(args.threads)
    try:
        recipe = TemporalRecipe.load(args.recipe)
        card = train(recipe, args.out.resolve(), resume=args.resume, minutes=args.minutes,
                     device=torch.device(args.device), command=command, progress=not args.no_progress,
                     stop_at=args.stop_at, init=args.init, workers=args.workers)
    except (ValueError, OSError) as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    print(f"wrote {args.out / (recipe.name + '.safetensors')} ({card['cpu_minutes']} CPU minutes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
