"""pipelines/reuse_check.py: what --temporal reuse costs the picture between keyframes."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import reuse_check


def _still(count: int = 5) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(4)
    clean = np.kron(rng.integers(20, 235, (12, 16, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    low = np.ascontiguousarray(clean[::2, ::2])
    return [low.copy() for _ in range(count)], [clean.copy() for _ in range(count)]


def test_on_a_still_clip_the_warped_keyframe_is_the_whole_generator():
    # Nothing moves: the flow is zero, so the keyframe's residual warped onto the next frames is the one
    # the whole generator computes on them, and the fusion's correction is all that can differ.
    low, clean = _still()
    errors = reuse_check.between_keyframes("remaster-x2", low, clean)
    assert set(errors) == {"off", "warped", "fused"}
    assert errors["warped"] == pytest.approx(errors["off"], rel=1e-4)
    assert all(np.isfinite(v) and v > 0 for v in errors.values())


def test_training_frames_only():
    with pytest.raises(ValueError, match="held-out range"):
        next(reuse_check.conditions("bikes.mp4", 170, 180))
