"""Give a remaster model's ReuseFusion a low-rank output, so frames between keyframes skip the
generator's output convolution.

Models trained before the fusion worked on the residual corrected their warped features with
``mix2`` (1x1) and then ran the generator's 3x3 output convolution ``to_pixels``::

    residual = to_pixels(warped + mix2(hidden))
             = to_pixels(warped) + (to_pixels o mix2)(hidden)

The first term is the keyframe's own residual, warped (a convolution and a warp commute where
the flow is locally a translation, which is what the fusion is trained on). The second is a 3x3
convolution from ``hidden`` to the residual's 3 (2s)^2 channels; stacked as a matrix
(outputs x inputs . 9) it has low rank: 16 singular values keep 99.8% of its energy at x2 and
99.5% at x4 for the shipped models. Its truncated SVD gives the new fusion's ``down`` (3x3, to
``rank`` channels) and ``up`` (1x1) exactly; ``mix2``'s bias, summed over the 3x3 taps, becomes
``up``'s bias. Nothing is trained here: the script only rewrites the weights, and records what
it did in the card.

    python pipelines/lowrank_fusion.py weights/remaster-x2.safetensors --rank 16 --out weights/remaster-x2.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from vidstyle.models.generator import RemasterGenerator  # noqa: E402
from vidstyle.models.weights import file_sha256, save_weights  # noqa: E402


def lowrank(state: dict[str, torch.Tensor], rank: int) -> tuple[dict[str, torch.Tensor], float]:
    """``state`` with ``reuse.mix2`` replaced by ``reuse.down`` and ``reuse.up``; and the share of
    the composite convolution's energy (sum of squared singular values) that the rank keeps."""
    tp_w, tp_b = state["to_pixels.weight"], state["to_pixels.bias"]  # (O, C, 3, 3), (O,)
    m2_w, m2_b = state["reuse.mix2.weight"][:, :, 0, 0], state["reuse.mix2.bias"]  # (C, H), (C,)
    composite = torch.einsum("ockl,ch->ohkl", tp_w.double(), m2_w.double())  # (O, H, 3, 3)
    out_channels, hidden = composite.shape[:2]
    u, sv, vh = torch.linalg.svd(composite.reshape(out_channels, -1), full_matrices=False)
    kept = float((sv[:rank] ** 2).sum() / (sv ** 2).sum())
    new = {k: v for k, v in state.items() if not k.startswith("reuse.mix2.")}
    new["reuse.down.weight"] = vh[:rank].reshape(rank, hidden, 3, 3).float().contiguous()
    new["reuse.up.weight"] = (u[:, :rank] * sv[:rank]).reshape(out_channels, rank, 1, 1).float().contiguous()
    new["reuse.up.bias"] = torch.einsum("ockl,c->o", tp_w.double(), m2_b.double()).float()
    del tp_b  # the keyframe's residual carries to_pixels' bias already
    return new, kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, help="a .safetensors with its card, its fusion with mix2")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    card = json.loads(args.weights.with_suffix(".json").read_text())
    state = load_file(str(args.weights))
    if "reuse.mix2.weight" not in state:
        raise SystemExit(f"{args.weights} has no reuse.mix2: nothing to convert")
    new_state, kept = lowrank(state, args.rank)
    hparams = {**card["hparams"], "reuse_rank": args.rank}
    model = RemasterGenerator(**hparams)
    model.load_state_dict(new_state, strict=True)
    source = {"sha256": file_sha256(args.weights), "rank": args.rank, "energy_kept": round(kept, 6),
              "command": "python pipelines/lowrank_fusion.py " + " ".join(
                  [str(args.weights.relative_to(REPO_ROOT)) if args.weights.is_absolute() else str(args.weights),
                   "--rank", str(args.rank), "--out", str(args.out)]),
              "note": "the fusion's mix2 and the generator's output convolution, composed and factored "
                      "by a truncated SVD into down (3x3) and up (1x1); no training"}
    extra = {k: v for k, v in card.items() if k not in ("architecture", "hparams", "parameters", "sha256")}
    extra["lowrank_fusion"] = source
    save_weights(model, args.out, extra)
    print(f"{args.out}: rank {args.rank} keeps {kept:.4%} of the composite convolution's energy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
