"""The pairs of pipelines/repaired_training.py's bank: aligned, damaged, the clean target kept."""

from __future__ import annotations

import cv2
import numpy as np

from pipelines import repaired_training
from vidstyle.train.data import grey, load_image


def test_pairs_are_the_middle_frames_at_half_size_with_their_clean_target():
    picture = cv2.resize(load_image("chelsea"), (160, 120), interpolation=cv2.INTER_AREA)
    frames = [np.ascontiguousarray(np.roll(picture, 2 * k, axis=1)) for k in range(5)]
    for seed in (1, 2, 3):
        pairs = list(repaired_training.repaired_pairs(frames, np.random.default_rng(seed)))
        assert len(pairs) == 3  # the first and last frame have one neighbour
        for t, (repaired, damaged, target) in enumerate(pairs, start=1):
            assert repaired.shape == damaged.shape == (60, 80, 3) and repaired.dtype == np.uint8
            assert target.shape == (120, 160, 3)
            assert np.array_equal(target, frames[t]) or np.array_equal(target, grey(frames[t]))
            small = cv2.resize(frames[t], (80, 60), interpolation=cv2.INTER_AREA).astype(np.float64)
            assert np.abs(damaged - small).mean() > 0.5  # the damage is there
