"""Train a style: one exemplar image in, a remaster generator that restores, upscales and
stylizes in one pass out (work in progress for issue 5: the losses and the loop).

Johnson et al. (ECCV 2016) train a feed-forward network per style with a content loss (features
of the output against features of the content image) and a style loss (Gram matrices of the
output's features against the exemplar's, Gatys et al. 2016), plus total variation. The
extractor here ignores flat areas, so two terms carry what it cannot see: the tone layout (block
luma, standardised) of the clean patch, and the exemplar's palette (colour mean and covariance). Here the
network is the shipped remaster generator (so it starts out restoring and upscaling), its input
a damaged low-resolution patch and its content target the clean high-resolution patch, both from
the same sampler as ``train_remaster.py``.

Features for both losses come from a fixed random multi-scale extractor
(:class:`vidstyle.style.features.RandomMultiscaleFeatures`) with a *different seed* from the one
the benchmark's style distance uses, so a model is not measured by the very filters it was
trained against. VGG19 would take its place when its weights are in the torch cache (not here).

    python pipelines/train_style.py --exemplar pencil --out /tmp/style-pencil --minutes 10
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from vidstyle.models.registry import shipped_weights  # noqa: E402
from vidstyle.models.weights import load_weights, save_weights  # noqa: E402
from vidstyle.style.features import RandomMultiscaleFeatures, gram, style_distance, to_tensor  # noqa: E402
from vidstyle.train import data  # noqa: E402
from vidstyle.train.losses import charbonnier_loss  # noqa: E402

log = logging.getLogger("train_style")

#: Seed of the training extractor's filters: not the benchmark's (``features.RANDOM_SEED``).
TRAIN_FEATURE_SEED = 7


def total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def tone_layout(x: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """Luma averaged over ``factor`` x ``factor`` blocks, standardised per picture: where the picture
    is light and dark, whatever its palette. The extractor's filters ignore flat areas, so this is
    what keeps the picture legible."""
    luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
    small = torch.nn.functional.avg_pool2d(luma, factor)
    mean = small.mean(dim=(2, 3), keepdim=True)
    std = small.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
    return (small - mean) / std


def colour_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean colour (B, 3) and colour covariance (B, 3, 3) of each picture: the palette."""
    flat = x.flatten(2)
    mean = flat.mean(dim=2)
    centred = flat - mean[..., None]
    return mean, centred @ centred.transpose(1, 2) / flat.shape[2]


def load_exemplar(name_or_path: str, size: int) -> np.ndarray:
    """A bundled exemplar by name (drawn), or an image file (RGB), its long side at most ``size``."""
    path = Path(name_or_path)
    if path.suffix:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read the style image {path}")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        scale = size / max(image.shape[:2])
        if scale < 1:
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return image
    from vidstyle.style.exemplars import draw_exemplar  # noqa: PLC0415

    return draw_exemplar(name_or_path, size=size)


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    generator, card = load_weights(shipped_weights(f"remaster-x{args.scale}"))
    generator.train().to(memory_format=torch.channels_last)
    extractor = RandomMultiscaleFeatures(seed=TRAIN_FEATURE_SEED)
    exemplar = load_exemplar(args.exemplar, args.exemplar_size)
    with torch.no_grad():
        targets = [gram(f) for f in extractor(to_tensor(exemplar))]
        palette_mean, palette_cov = colour_stats(to_tensor(exemplar))
    sampler = data.PatchSampler(data.training_frames(), scale=args.scale, patch_size=args.patch,
                                batch_size=args.batch, seed=args.seed, h264_probability=0.25)
    trainable = [p for name, p in generator.named_parameters() if not name.startswith("reuse.")]
    opt = torch.optim.Adam(trainable, lr=args.lr, betas=(0.9, 0.99))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    losses_csv = open(out_dir / "losses.csv", "w")
    losses_csv.write("step,total,content,style,tone,palette,tv,seconds\n")
    start, cpu_start = time.perf_counter(), time.process_time()
    step = 0
    for step, (lr_patch, hr_patch) in enumerate(sampler, start=1):
        out = generator(lr_patch).clamp(0, 1)
        out_maps, hr_maps = extractor(out), extractor(hr_patch)
        content = sum(charbonnier_loss(o, h.detach()) for o, h in zip(out_maps[:4:2], hr_maps[:4:2]))
        style = sum(((gram(o) - t) ** 2).sum(dim=(1, 2)).mean() / (t ** 2).sum()
                    for o, t in zip(out_maps, targets)) / len(targets)
        tone = (tone_layout(out) - tone_layout(hr_patch)).abs().mean()
        mean, cov = colour_stats(out)
        palette = ((mean - palette_mean) ** 2).sum(1).mean() + ((cov - palette_cov) ** 2).sum((1, 2)).mean() * 10
        tv = total_variation(out)
        total = (args.content_weight * content + args.style_weight * style + args.tv_weight * tv
                 + args.tone_weight * tone + args.palette_weight * palette)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        elapsed = time.perf_counter() - start
        if step % 25 == 0 or step == 1:
            losses_csv.write(f"{step},{total.item():.5f},{content.item():.5f},{style.item():.5f},"
                             f"{tone.item():.5f},{palette.item():.5f},{tv.item():.5f},{elapsed:.1f}\n")
            losses_csv.flush()
            log.info("step %d: total %.4f content %.4f style %.4f tone %.4f palette %.4f tv %.4f (%.0f s)",
                     step, total.item(), content.item(), style.item(), tone.item(), palette.item(), tv.item(),
                     elapsed)
        if step >= args.steps or elapsed > args.minutes * 60:
            break
    losses_csv.close()
    generator.eval()
    cpu_minutes = (time.process_time() - cpu_start) / 60
    name = args.name or f"style-{Path(args.exemplar).stem}-x{args.scale}"
    result = {"name": name, "steps": step, "cpu_minutes": round(cpu_minutes, 2),
              "wall_minutes": round((time.perf_counter() - start) / 60, 2)}
    result.update(evaluate(generator, exemplar, args.scale, out_dir, args.eval_per_clip))
    save_weights(generator, out_dir / f"{name}.safetensors",
                 {"name": name, "scale": args.scale, "summary": f"restores, upscales x{args.scale} and paints "
                  f"in the style of {args.exemplar}", "style": {"exemplar": args.exemplar},
                  "trained": result, "fine_tuned_from": {"name": card.get("name"), "sha256": card.get("sha256")},
                  "command": " ".join(sys.argv)})
    (out_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


@torch.no_grad()
def evaluate(generator, exemplar: np.ndarray, scale: int, out_dir: Path, per_clip: int = 4) -> dict:
    """Style distance (benchmark extractor) of held-out outputs against the input's, and a preview."""
    frames = []
    for name, clip in sorted(data.held_out_clips().items()):
        frames += [clip[i] for i in range(0, len(clip), max(1, len(clip) // per_clip))][:per_clip]
    inputs, outputs = [], []
    for frame in frames:
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (w // scale // 4 * 4, h // scale // 4 * 4), interpolation=cv2.INTER_AREA)
        x = to_tensor(small)
        y = generator(x).clamp(0, 1)[0].permute(1, 2, 0).mul(255).round().byte().numpy()
        inputs.append(cv2.resize(small, (y.shape[1], y.shape[0]), interpolation=cv2.INTER_CUBIC))
        outputs.append(y)
    d_in = float(np.mean([style_distance(f, exemplar) for f in inputs]))
    d_out = float(np.mean([style_distance(f, exemplar) for f in outputs]))
    shown = [(i, o) for i, o in zip(inputs, outputs) if o.shape == outputs[0].shape][:3]  # one clip's size
    preview = np.concatenate([np.concatenate(pair, axis=1) for pair in shown], axis=0)
    cv2.imwrite(str(out_dir / "preview.png"), cv2.cvtColor(preview, cv2.COLOR_RGB2BGR))
    return {"style_distance_input": round(d_in, 4), "style_distance_output": round(d_out, 4),
            "style_distance_ratio": round(d_out / d_in, 4), "eval_frames": len(frames)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exemplar", required=True, help="a bundled exemplar name, or an image file")
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", default=None)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100000)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--content-weight", type=float, default=1.0)
    parser.add_argument("--style-weight", type=float, default=10.0)
    parser.add_argument("--tv-weight", type=float, default=0.01)
    parser.add_argument("--tone-weight", type=float, default=1.0)
    parser.add_argument("--palette-weight", type=float, default=10.0)
    parser.add_argument("--exemplar-size", type=int, default=512)
    parser.add_argument("--eval-per-clip", type=int, default=4, help="held-out frames per clip measured")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    print(json.dumps(train(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
