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

The training itself is :func:`vidstyle.train.remaster.train`; this script parses the options.
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
import importlib.util
import logging
import shlex
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("vidstyle") is None:  # a plain checkout, not installed
    sys.path.insert(0, str(REPO_ROOT))

from vidstyle.train.recipe import Recipe, RecipeError  # noqa: E402
from vidstyle.train.remaster import train  # noqa: E402

log = logging.getLogger("train_remaster")


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
