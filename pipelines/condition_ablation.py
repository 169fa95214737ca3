"""The damage conditioning of a remaster-x2 weights file, taken apart on scikit-image TRAINING stills (issue 14).

Each still is area-downscaled x2, clean and with Gaussian grain of 6 levels, and run three ways: as
trained; fed the whole-picture noise estimate (``condition`` 1) instead of its own kind; and with
the conditioning's last layers zeroed (the network without it). Prints the PSNR-Y gain over bicubic
in dB, clean / grain, per still and then the means.

    python pipelines/condition_ablation.py weights/remaster-x2.safetensors
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import torch

from vidstyle.models.weights import load_weights
from vidstyle.train import data
from vidstyle.train.style_eval import stylize

#: Training stills (never the held-out astronaut and coffee): textured, flat and in between.
STILLS = ("brick", "grass", "gravel", "moon", "camera", "chelsea", "rocket", "coins", "page", "clock",
          "motorcycle_left")
GRAIN = 6.0  # levels of 255, the grain's standard deviation
BORDER = 8  # output pixels left out of PSNR at each edge


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    ya, yb = (cv2.cvtColor(v, cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float64)[BORDER:-BORDER, BORDER:-BORDER]
              for v in (a, b))
    return 10 * np.log10(255**2 / np.mean((ya - yb) ** 2))


def variants(path: str) -> dict[str, torch.nn.Module]:
    trained, _ = load_weights(path)
    whole, _ = load_weights(path)
    whole.condition_kind = 1
    zeroed, _ = load_weights(path)
    with torch.no_grad():
        for head in (zeroed.condition_head, zeroed.condition_tail):
            head.mlp[2].weight.zero_()
            head.mlp[2].bias.zero_()
    return {"as trained": trained.eval(), "whole-picture estimate": whole.eval(), "conditioning zeroed": zeroed.eval()}


def main(path: str) -> None:
    torch.set_num_threads(1)
    models = variants(path)
    gains: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    for still in STILLS:
        image = data.load_image(still)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        h, w = image.shape[0] // 8 * 8, image.shape[1] // 8 * 8
        image = np.ascontiguousarray(image[:h, :w])
        clean = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        grain = np.random.default_rng(0).normal(0, GRAIN, clean.shape[:2])[..., None]
        grainy = np.clip(clean + grain, 0, 255).astype(np.uint8)
        row = []
        for name, model in models.items():
            pair = tuple(psnr_y(stylize(model, low), image)
                         - psnr_y(cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC), image)
                         for low in (clean, grainy))
            gains[name].append(pair)
            row.append(f"{pair[0]:+.2f}/{pair[1]:+.2f}")
        print(f"{still:16s} " + "  ".join(row), flush=True)
    for name, pairs in gains.items():
        clean_gain, grain_gain = np.mean(pairs, axis=0)
        print(f"mean {name:24s} clean {clean_gain:+.3f}  grain {GRAIN:g} {grain_gain:+.3f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "weights/remaster-x2.safetensors")
