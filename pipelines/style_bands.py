"""Where a style model puts its fine detail: the RMS of the fine band (the picture less its Gaussian
blur of sigma 1.5 px, the band the style losses' view does not see) of the luma and of the chroma,
in levels (:func:`vidstyle.style.measures.fine_bands`), and of the chroma's middle band (between
its blurs of sigma 1.5 and 4 px, :func:`vidstyle.style.measures.middle_chroma`), of each style's
output, of its exemplar and of bicubic x2, on training frames of bikes.mp4 and bigbuckbunny.mp4
(never the held-out ranges).

A style whose fine chroma is well above its exemplar's draws coloured speckle; one whose middle
chroma is, colour blotches a few pixels across.

    python -m pipelines.style_bands WEIGHTS [WEIGHTS ...] [--exemplar IMAGE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from vidstyle.models.weights import load_weights
from vidstyle.style.exemplars import draw_exemplar
from vidstyle.style.measures import fine_bands, middle_chroma
from vidstyle.train import data
from vidstyle.train.style import read_style_image
from vidstyle.train.style_eval import stylize

#: Training frames read: every 50th of bikes.mp4's first 170, every 40th of bigbuckbunny.mp4's first 90.
FRAMES = {"bikes.mp4": range(20, 170, 50), "bigbuckbunny.mp4": range(5, 90, 40)}


def training_frames(scale: int = 2) -> list[np.ndarray]:
    """Low-resolution training frames (area-downscaled), sides multiples of 4."""
    frames = []
    for name, indices in FRAMES.items():
        assert indices[-1] < data.HELD_OUT_CLIP_FRAMES[name][0], f"{name}: a held-out frame"
        clip = data.clip_frames(name)
        for i in indices:
            h, w = clip[i].shape[:2]
            frames.append(cv2.resize(clip[i], (w // scale // 4 * 4, h // scale // 4 * 4), interpolation=cv2.INTER_AREA))
    return frames


def bands(picture: np.ndarray) -> tuple[float, float, float]:
    """Fine luma, fine chroma and middle chroma of one RGB uint8 picture, levels."""
    return (*fine_bands(picture), middle_chroma(picture))


def mean_bands(pictures: list[np.ndarray]) -> tuple[float, float, float]:
    return tuple(float(v) for v in np.mean([bands(p) for p in pictures], axis=0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", nargs="+", help="style weights (.safetensors) with their cards")
    parser.add_argument("--exemplar", help="the style image, for styles learnt from a file (a card names "
                                           "only a bundled exemplar)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    frames = training_frames()
    luma, chroma, middle = mean_bands([cv2.resize(f, (f.shape[1] * 2, f.shape[0] * 2),
                                                  interpolation=cv2.INTER_CUBIC) for f in frames])
    print(f"bicubic x2: fine luma {luma:.2f}, fine chroma {chroma:.2f}, middle chroma {middle:.2f} levels "
          f"({len(frames)} training frames)")
    for path in args.weights:
        model, card = load_weights(path)
        model.eval()
        size = int(card["recipe"]["exemplar_size"])
        if args.exemplar:
            exemplar = read_style_image(Path(args.exemplar), size)[0]
        elif card.get("style", {}).get("drawn_by"):
            exemplar = draw_exemplar(card["style"]["exemplar"], size=size)
        else:
            parser.error(f"{path} was learnt from an image file: give it with --exemplar")
        luma, chroma, middle = mean_bands([stylize(model, f) for f in frames])
        ex_luma, ex_chroma, ex_middle = bands(exemplar)
        print(f"{card.get('name', path)}: fine luma {luma:.2f} (exemplar {ex_luma:.2f}), "
              f"fine chroma {chroma:.2f} (exemplar {ex_chroma:.2f}), middle chroma {middle:.2f} "
              f"(exemplar {ex_middle:.2f}) levels")


if __name__ == "__main__":
    main()
