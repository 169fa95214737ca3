"""Does the generator gain from training on repaired inputs? (issue 16; an experiment, nothing shipped)

The repair stage runs before the network, so with ``--repair auto`` the network sees frames whose
specks were filled and whose grain was averaged. This script fine-tunes the shipped remaster-x2
frame network two ways from the same start, seed and steps, and measures both behind the stage:

* a bank of training sequences (bikes.mp4's and bigbuckbunny.mp4's training frames in runs of
  ``SEQUENCE`` frames, and ``PANNED`` training stills moved a few pixels a frame), each run damaged
  by one FilmDegrader (:func:`vidstyle.train.data.film_settings`, the global tone effects off so the
  target is the clean frame) and repaired by the stage (``--repair auto``, every part); the frames
  with both neighbours become pairs, kept both repaired and as damaged;
* ``train``: the deep recipe's data mix (``pipelines/recipes/remaster-x2-deep.toml``), a share of
  each batch's patches replaced by patches of the bank, ``repaired`` or ``damaged`` (the control:
  the same material and the same share of clean pairs; only the repair differs);
* ``evaluate``: the held-out clips of the benchmark's repair section (film damage, the independent
  damage, clean), each through the stage and then the network frame by frame; PSNR-Y against the
  clean frames, ``BORDER`` pixels cropped, with the stage off and on.

    python -m pipelines.repaired_training bank /tmp/bank.npz
    python -m pipelines.repaired_training train /tmp/bank.npz repaired /tmp/repaired.pt
    python -m pipelines.repaired_training train /tmp/bank.npz damaged /tmp/damaged.pt
    python -m pipelines.repaired_training evaluate /tmp/repaired.pt    # or: evaluate shipped
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from pipelines.benchmark.repair import clean_inputs, film_inputs, independent_inputs
from vidstyle.config import RepairConfig
from vidstyle.damage.degrade import FilmDegrader
from vidstyle.models.generator import RemasterGenerator
from vidstyle.models.weights import load_weights
from vidstyle.restore.stage import RepairStage
from vidstyle.train import data
from vidstyle.train.evaluate import frame_runner
from vidstyle.train.recipe import Recipe
from vidstyle.train.remaster import Trainer, initial_weights, training_sources

SHIPPED = Path("weights/remaster-x2.safetensors")
RECIPE = Path("pipelines/recipes/remaster-x2-deep.toml")  # the shipped network's shape and data mix
SEQUENCE = 10  # frames in a damaged run; its first and last have one neighbour and are not pairs
PANNED = 8  # training stills moved across SEQUENCE frames
SHARE = 0.375  # of each batch's 16 patches: 6 from the bank
STEPS = 3000
BORDER = 2  # output pixels left out of PSNR-Y at each edge


def sequences(rng: np.random.Generator) -> Iterator[list[np.ndarray]]:
    """Clean training runs: the clips' training frames, then panned training stills; even sizes."""
    for name in data.HELD_OUT_CLIP_FRAMES:
        frames = data.clip_frames(name)[: data.HELD_OUT_CLIP_FRAMES[name][0]]
        for first in range(0, len(frames) - SEQUENCE + 1, SEQUENCE):
            yield [np.ascontiguousarray(f) for f in frames[first : first + SEQUENCE]]
    for name in data.TRAINING_IMAGES[:PANNED]:
        image = data.load_image(name)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        h, w = image.shape[:2]
        dx, dy = rng.uniform(-3.0, 3.0, 2)
        shifts = [np.float32([[1, 0, -dx * k], [0, 1, -dy * k]]) for k in range(SEQUENCE)]
        yield [cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)[:384, :512].copy() for m in shifts]


def repaired_pairs(frames: list[np.ndarray], rng: np.random.Generator) -> Iterator[tuple[np.ndarray, ...]]:
    """(repaired low, damaged low, target) of each frame of ``frames`` that has both neighbours: the run
    damaged x2 by one FilmDegrader without global tone, then repaired by the stage."""
    h, w = frames[0].shape[0] // 2 * 2, frames[0].shape[1] // 2 * 2
    settings = dataclasses.replace(data.film_settings(rng, scale=2), fade=0.0, tint=0.0, vignette=0.0,
                                   flicker_amplitude=0.0, weave_amplitude=0.0)
    degrader = FilmDegrader(settings, seed=int(rng.integers(2**31)), height=h, width=w)
    clean = [f[:h, :w] for f in frames]
    low = [degrader.degrade(f) for f in clean]
    mended = [f for f, _ in RepairStage(RepairConfig("auto")).frames(low)]
    for t in range(1, len(frames) - 1):
        yield mended[t], low[t], data.restoration_target(clean[t], settings)


def bank(out: Path) -> None:
    rng = np.random.default_rng(777)
    arrays: dict[str, np.ndarray] = {}
    for frames in sequences(rng):
        for repaired, damaged, target in repaired_pairs(frames, rng):
            i = len(arrays) // 3
            arrays.update({f"repaired{i}": repaired, f"damaged{i}": damaged, f"target{i}": target})
    np.savez_compressed(out, **arrays)
    print(f"wrote {out}: {len(arrays) // 3} pairs")


def train(bank_path: Path, kind: str, out: Path) -> None:
    torch.set_num_threads(1)
    recipe = dataclasses.replace(Recipe.load(RECIPE), phase1_steps=STEPS, seed=424242)
    trainer = Trainer(recipe, torch.device("cpu"))
    initial_weights(trainer, SHIPPED)
    sampler = data.PatchSampler(training_sources(recipe), scale=2, patch_size=recipe.patch_size,
                                batch_size=recipe.batch_size, seed=recipe.seed,
                                h264_probability=recipe.h264_probability, crf_range=recipe.crf_range, mix=recipe.mix)
    stored = np.load(bank_path)
    count = len(stored.files) // 3
    lows, targets = [stored[f"{kind}{i}"] for i in range(count)], [stored[f"target{i}"] for i in range(count)]
    rng, p = np.random.default_rng(99), recipe.patch_size
    start = time.process_time()
    for step in range(STEPS):
        lr, hr = sampler.batch(step)
        for j in range(round(SHARE * recipe.batch_size)):
            i = int(rng.integers(count))
            y, x = (int(rng.integers(0, side - p + 1)) for side in lows[i].shape[:2])
            low, high = lows[i][y : y + p, x : x + p], targets[i][2 * y : 2 * y + 2 * p, 2 * x : 2 * x + 2 * p]
            if rng.random() < 0.5:
                low, high = low[:, ::-1], high[:, ::-1]
            lr[j] = torch.from_numpy(np.ascontiguousarray(low)).permute(2, 0, 1).float() / 255
            hr[j] = torch.from_numpy(np.ascontiguousarray(high)).permute(2, 0, 1).float() / 255
        loss = trainer.train_step(lr, hr)["total"]
        if step % 500 == 0:
            print(f"step {step}: loss {loss:.5f}, {(time.process_time() - start) / 60:.1f} CPU minutes", flush=True)
    torch.save(trainer.export_model.state_dict(), out)
    print(f"wrote {out}: {STEPS} steps, {(time.process_time() - start) / 60:.1f} CPU minutes")


def psnr_y(output: np.ndarray, clean: np.ndarray) -> float:
    luma = [cv2.cvtColor(v, cv2.COLOR_RGB2YCrCb)[BORDER:-BORDER, BORDER:-BORDER, 0].astype(np.float64)
            for v in (output, clean)]
    return float(10 * np.log10(255**2 / max(float(np.mean((luma[0] - luma[1]) ** 2)), 1e-10)))


def evaluate(weights: str) -> None:
    torch.set_num_threads(1)
    if weights == "shipped":
        model, _ = load_weights(SHIPPED)
    else:
        hparams = Recipe.load(RECIPE).generator
        model = RemasterGenerator(scale=2, **hparams)
        model.load_state_dict(torch.load(weights))
    upscale = frame_runner(model.eval(), "cpu")
    for inp in (*film_inputs(None), *independent_inputs(None), *clean_inputs(None, 48)):
        mended = [f for f, _ in RepairStage(RepairConfig("auto")).frames(inp.low)]
        off = np.mean([psnr_y(upscale(low), clean) for low, clean in zip(inp.low, inp.clean)])
        auto = np.mean([psnr_y(upscale(low), clean) for low, clean in zip(mended, inp.clean)])
        print(f"{weights} {inp.kind}: {inp.name}: PSNR-Y off {off:.3f} dB, repair auto {auto:.3f} dB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("bank").add_argument("out", type=Path)
    t = sub.add_parser("train")
    t.add_argument("bank", type=Path)
    t.add_argument("kind", choices=("repaired", "damaged"))
    t.add_argument("out", type=Path)
    sub.add_parser("evaluate").add_argument("weights", help="a file train wrote, or 'shipped'")
    args = parser.parse_args()
    if args.command == "bank":
        bank(args.out)
    elif args.command == "train":
        train(args.bank, args.kind, args.out)
    else:
        evaluate(args.weights)


if __name__ == "__main__":
    main()
