"""Train a style model from one exemplar: what ``vidstyle train-style`` runs, with every setting exposed.

The recipe and its losses are described in :mod:`vidstyle.train.style`. Run from the repository
root; the bundled styles were made with, for instance::

    python pipelines/train_style.py --exemplar pencil -o weights/style-pencil-x2.safetensors

``--exemplar`` is a bundled exemplar's name (drawn by :mod:`vidstyle.style.exemplars`) or an
image file. The weights, their card (recipe, command, minutes, style distances, sha256) and
``NAME.preview.png`` are written beside ``-o``; while it runs, the checkpoint and ``losses.csv``
live in ``NAME.train/`` (``--resume`` carries on from there), and the preview is refreshed.
With ``--thumbnail`` a 128-pixel copy of the exemplar is also written, as the bundled styles have.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import logging
import shlex
import sys
from pathlib import Path

import cv2
from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("vidstyle") is None:  # a plain checkout, not installed
    sys.path.insert(0, str(REPO_ROOT))

from vidstyle.models.registry import shipped_weights  # noqa: E402
from vidstyle.style.exemplars import EXEMPLARS, draw_exemplar  # noqa: E402
from vidstyle.train.style import (  # noqa: E402
    MIN_EVAL_CROP,
    StyleRecipe,
    exemplar_source,
    held_out_frames,
    read_style_image,
    train_style,
)


def remeasure(weights: Path, exemplar, command: str) -> dict:
    """The held-out style distances, picture measures and the blend tolerance of a trained style
    again, written into its card (the weights are not touched)."""
    from vidstyle.models.weights import load_weights  # noqa: PLC0415
    from vidstyle.train.style import (  # noqa: PLC0415
        calibrate_blend_tolerance,
        evaluate,
        exemplar_chroma,
        measure_picture,
    )

    model, card = load_weights(weights)  # checks the sha256
    recipe = card["recipe"]
    metrics = evaluate(model, exemplar, held_out_frames(card["scale"], recipe["eval_per_clip"]),
                       recipe["blur_sigma"])
    metrics["picture"] = measure_picture(model, card["scale"], recipe["eval_per_clip"])
    metrics["picture"].update(exemplar_chroma(exemplar))
    card["metrics"] = metrics
    card["temporal"] = calibrate_blend_tolerance(model, card["scale"])
    card["metrics_command"] = command
    weights.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return {**metrics, "temporal": card["temporal"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exemplar", required=True,
                        help=f"a bundled exemplar ({', '.join(EXEMPLARS)}) or an image file")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the weights file (.safetensors)")
    parser.add_argument("--name", default=None, help="the style's name [default: the output's stem]")
    parser.add_argument("--description", default=None, help="one line for `vidstyle styles`")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch threads [default: torch's]")
    parser.add_argument("--thumbnail", action="store_true", help="also write NAME.png, the exemplar at 128 px")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--eval-crop", type=int, default=None, metavar="PIXELS",
                        help="a quick trial: the preview and the card's figures read the centres of their "
                             "frames, sides at most PIXELS (low resolution), not whole frames [default: whole]")
    parser.add_argument("--evaluate", action="store_true",
                        help="measure the style distances (held-out frames, the card's recipe) and the "
                             "blend tolerance of the existing -o again and rewrite them in its card; "
                             "the weights are not touched")
    defaults = StyleRecipe()
    for f in dataclasses.fields(StyleRecipe):
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(getattr(defaults, f.name)),
                            default=getattr(defaults, f.name))
    args = parser.parse_args(argv)
    if args.eval_crop is not None and args.eval_crop < MIN_EVAL_CROP:
        parser.error(f"--eval-crop must be at least {MIN_EVAL_CROP} pixels, got {args.eval_crop}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    recipe = StyleRecipe(**{f.name: getattr(args, f.name) for f in dataclasses.fields(StyleRecipe)})
    if args.exemplar in EXEMPLARS:
        exemplar = draw_exemplar(args.exemplar, size=recipe.exemplar_size)
        source = exemplar_source(bundled=args.exemplar)
        description = args.description or EXEMPLARS[args.exemplar].description
    else:
        exemplar, note = read_style_image(Path(args.exemplar), recipe.exemplar_size)
        if note:
            logging.info(note)
        source = exemplar_source(path=Path(args.exemplar))
        description = args.description or f"the style of {Path(args.exemplar).name}"
    output = args.output
    if args.evaluate:
        print(json.dumps(remeasure(output, exemplar, " ".join(["python pipelines/train_style.py", *sys.argv[1:]])),
                         indent=2))
        return 0
    name = args.name or output.stem
    bar = tqdm(total=100, unit="%", disable=args.quiet, desc=name,
               bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}]")

    def progress(fraction: float, stats: dict) -> None:
        bar.update(100 * fraction - bar.n)
        bar.set_postfix(style=f"{stats['style']:.3f}", temporal=f"{stats['temporal']:.3f}", refresh=False)

    command = "python pipelines/train_style.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    result = train_style(exemplar, output, recipe=recipe, init=shipped_weights(f"remaster-x{recipe.scale}"),
                         name=name, description=description, source=source, resume=args.resume,
                         threads=args.threads, command=command, progress=progress, eval_crop=args.eval_crop)
    bar.close()
    if args.thumbnail:
        thumb = cv2.resize(exemplar, (128, round(128 * exemplar.shape[0] / exemplar.shape[1])),
                           interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(output.with_suffix(".png")), cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR))
    print(json.dumps({"weights": str(result.weights), "preview": str(result.preview), **result.card["metrics"],
                      "minutes": result.card["minutes"], "steps": result.card["steps"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
