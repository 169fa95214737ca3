"""Which step of the independent damage takes a model's gain over bicubic (issue 14, diagnosis).

The generalization test (``pipelines/generalization.py``) scores the whole independent damage at
once. This script damages the same clips with steps of it left out
(:func:`pipelines.independent_damage.damage_clip_with_masks`; the blur and the scan are always
there, every step left in is drawn as in the whole damage) and prints, per clip and as the mean,
PSNR-Y of bicubic and the gain of the model and of the Real-ESRGAN peer over it, against the clean
frames. The global tone is left out of every variant but the last, so that what a restorer can
mend is not hidden under what nobody can know from the picture.

It reads evaluation material only and trains nothing: use it to see where a model loses, not to
choose one (choose on training data: ``pipelines/clean_check.py``).

    python pipelines/generalization_steps.py [--weights FILE] [--frames 8] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository, not pipelines/

import torch  # noqa: E402

from pipelines import independent_damage  # noqa: E402
from pipelines.benchmark.footage import held_out_material, outside_material  # noqa: E402
from pipelines.benchmark.generalization import (  # noqa: E402
    baseline_methods,
    clip_scores,
    descriptor_method,
    load_learned,
    load_peer,
    module_method,
)

SCALE = 2
#: The variants: a name and the steps left in (the blur and the scan are always done).
VARIANTS = (
    ("scan only", ()),
    ("+ grain", ("grain",)),
    ("+ dirt", ("dirt",)),
    ("+ codec", ("codec",)),
    ("+ grain + codec", ("grain", "codec")),
    ("all but tone", ("grain", "dirt", "codec")),
    ("all (the test)", independent_damage.STEPS),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, help="an x2 weights file (default: the shipped remaster-x2)")
    parser.add_argument("--frames", type=int, default=8, help="frames a clip (default 8)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--no-peer", action="store_true",
                        help="leave the Real-ESRGAN peer out (on the CPU it takes most of the time)")
    args = parser.parse_args(argv)
    learned = load_learned(SCALE, args.weights)
    if learned is None:
        print("error: no x2 model to measure", file=sys.stderr)
        return 1
    methods = [baseline_methods(SCALE)[0], descriptor_method("model", learned.label, learned.model)]
    peer = None if args.no_peer else load_peer(SCALE)[0]
    if peer is not None:
        methods.append(module_method("peer", "Real-ESRGAN peer", peer))
    clips = held_out_material(args.frames) + outside_material(args.frames)[0]
    figures: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'clip':18s} {'variant':16s} {'bicubic':>8s} " + " ".join(f"{m.label[:16]:>16s}" for m in methods[1:]))
    for name, steps in VARIANTS:
        for clip in clips:
            low, _ = independent_damage.damage_clip_with_masks(clip.frames, scale=SCALE, seed=clip.seed, steps=steps)
            psnr = {m.key: clip_scores(m.run(low), clip.frames, SCALE)["psnr"] for m in methods}
            row = {"bicubic": psnr["bicubic"], **{k: v - psnr["bicubic"] for k, v in psnr.items() if k != "bicubic"}}
            figures.setdefault(name, {})[clip.name] = row
            print(f"{clip.name:18s} {name:16s} {row['bicubic']:8.2f} "
                  + " ".join(f"{row[m.key]:+16.2f}" for m in methods[1:]), flush=True)
    print("\nmean over the clips, gain over bicubic in dB:")
    for name, rows in figures.items():
        means = {m.key: statistics.fmean(r[m.key] for r in rows.values()) for m in methods[1:]}
        print(f"{'mean':18s} {name:16s} {'':8s} " + " ".join(f"{means[m.key]:+16.2f}" for m in methods[1:]))
    if args.json is not None:
        args.json.write_text(json.dumps({"model": learned.describe(), "frames": args.frames, "variants": figures},
                                        indent=1, default=float))
    return 0


if __name__ == "__main__":
    torch.set_num_threads(2)
    raise SystemExit(main())
