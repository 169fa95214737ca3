"""The figures of the rule that chose the CPU fine-tunes of issue 14 (fixed before the independent
test measured them): PSNR-Y on the held-out stills astronaut and coffee, area-downscaled and
nothing else (clean input; not part of pipelines/generalization.py's material), against bicubic,
with the mean colour shift; the same stills coded (the area-downscaled input through JPEG at
qualities 20 and 40 and nothing else: a clean picture stored compressed); then the project-damage
held-out score on every 5th frame.

    python pipelines/clean_check.py WEIGHTS_OR_NAME SCALE
"""
import sys

import cv2
import numpy as np
import torch

from vidstyle.models import load_model
from vidstyle.models.descriptor import run_frames
from vidstyle.quality import frame_scores
from vidstyle.train.data import held_out_images
from vidstyle.train.evaluate import evaluate, held_out_pairs
from vidstyle.train.pairs import jpeg_round_trip

torch.set_num_threads(2)
scale = int(sys.argv[2]) if len(sys.argv) > 2 else 2
m = load_model(sys.argv[1], scale=scale)
for quality in (None, 20, 40):
    for name, img in held_out_images().items():
        h, w = (img.shape[0] // 4) * 4, (img.shape[1] // 4) * 4
        img = np.ascontiguousarray(img[:h, :w])
        low = cv2.resize(img, (w // scale, h // scale), interpolation=cv2.INTER_AREA) if scale > 1 else img
        if quality is not None:
            low = jpeg_round_trip(low, quality)
        out = run_frames(m, low[None])[0]
        bic = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC) if scale > 1 else low
        so, sb = frame_scores(out, img, border=scale), frame_scores(bic, img, border=scale)
        shift = (out.reshape(-1, 3).mean(0) - img.reshape(-1, 3).mean(0))
        label = "clean" if quality is None else f"jpeg{quality}"
        print(f"{label} {name}: model {so['psnr']:.2f} bicubic {sb['psnr']:.2f} ({so['psnr']-sb['psnr']:+.2f}) "
              f"shift {np.round(shift,2)}", flush=True)
r = evaluate(m, scale=scale, pairs=held_out_pairs(scale, frame_stride=5))
print(f"own damage (stride 5): {r.model_psnr:.2f} vs bicubic {r.bicubic_psnr:.2f} "
      f"({r.model_psnr-r.bicubic_psnr:+.2f}), SSIM {r.model_ssim:.4f} vs {r.bicubic_ssim:.4f}")
