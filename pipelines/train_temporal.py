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

The training itself is :func:`vidstyle.train.temporal.train`; this script parses the options.
``--out`` receives ``checkpoint.pt``, ``losses.csv``, ``eval.csv`` and the exported
``NAME.safetensors`` + card, as with ``train_remaster.py``; ``--minutes`` stops the loop cleanly
and ``--resume`` continues.

With ``lr_generator = 0`` (``temporal-x2-fusion.toml``, ``temporal-x4-fusion.toml``, what the
shipped models use since 2026-12-05) the generator comes out bit for bit as it went in and only
the fusion learns: moving the generator toward steadier frame-by-frame output cost the clean
held-out stills 0.03-0.07 dB at each step (weights/README.md), while the steadiness of
``--temporal reuse`` comes from the fusion.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import shlex
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("vidstyle") is None:  # a plain checkout, not installed
    sys.path.insert(0, str(REPO_ROOT))

from vidstyle.train.temporal import TemporalRecipe, train  # noqa: E402


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
