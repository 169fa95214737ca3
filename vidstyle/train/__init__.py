"""Training: the data made here, the losses, the held-out evaluation and the three trainers.

* the data: :mod:`~vidstyle.train.data` (the stills and clips, the held-out split, patches),
  :mod:`~vidstyle.train.pairs` (the damage mix), :mod:`~vidstyle.train.tone`,
  :mod:`~vidstyle.train.dead_leaves`, :mod:`~vidstyle.train.temporal_data` (pairs of frames with
  their flow) and :mod:`~vidstyle.train.loader` (batches made ahead);
* the losses, :mod:`~vidstyle.train.losses`, and the held-out evaluation,
  :mod:`~vidstyle.train.evaluate` (the benchmark reuses both the split and the evaluation);
* the bookkeeping every run shares, :mod:`~vidstyle.train.loop`: time, checkpoints, the CSV
  logs, resuming;
* the trainers: :mod:`~vidstyle.train.remaster` (with :mod:`~vidstyle.train.recipe` and
  :mod:`~vidstyle.train.plot`; ``pipelines/train_remaster.py``), :mod:`~vidstyle.train.temporal`
  (``pipelines/train_temporal.py``) and :mod:`~vidstyle.train.style` (with
  :mod:`~vidstyle.train.style_losses` and :mod:`~vidstyle.train.style_eval`;
  ``pipelines/train_style.py`` and ``vidstyle train-style``).
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
