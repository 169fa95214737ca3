"""Training the remaster generator: data made here, losses, held-out evaluation.

The training script is ``pipelines/train_remaster.py``; the benchmark reuses the held-out split of
:mod:`vidstyle.train.data` and :func:`vidstyle.train.evaluate.evaluate`.
"""

from .data import (
    HELD_OUT_CLIP_FRAMES,
    HELD_OUT_IMAGES,
    PatchSampler,
    SourceFrame,
    film_settings,
    held_out_clips,
    held_out_images,
    restoration_target,
    training_frames,
)

__all__ = [
    "HELD_OUT_CLIP_FRAMES",
    "HELD_OUT_IMAGES",
    "PatchSampler",
    "SourceFrame",
    "film_settings",
    "held_out_clips",
    "held_out_images",
    "restoration_target",
    "training_frames",
]
