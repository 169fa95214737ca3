"""The repair's grain part: film grain averaged with the motion-compensated neighbours."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import moving_crops
from skimage import data as skdata

from vidstyle.config import RepairConfig
from vidstyle.restore import RepairStage
from vidstyle.restore.grain import GrainNeighbour, GrainSettings, average_grain, grain_sigma

H, W = 112, 160
#: Only the grain part, so that what changes is its doing.
GRAIN = RepairConfig("auto", spots=False, scratches=False, flicker=False)


def panning(picture: np.ndarray, count: int = 7, step: tuple[float, float] = (1.3, 0.6)) -> list[np.ndarray]:
    """``count`` frames of ``picture`` at half size, the view moving by ``step`` pixels a frame."""
    half = cv2.resize(picture, (picture.shape[1] // 2, picture.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return moving_crops(half, count, step, W, H)


def grainy(frames: list[np.ndarray], sigma: float, seed: int = 0) -> list[np.ndarray]:
    """Each frame with new grey grain of ``sigma`` levels."""
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, sigma, f.shape[:2] + (1,)), 0, 255).astype(np.uint8) for f in frames]


def repaired(frames: list[np.ndarray], config: RepairConfig = GRAIN) -> tuple[list[np.ndarray], dict]:
    stage = RepairStage(config)
    return [f for f, _ in stage.frames(frames)], stage.report()


def rms(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.sqrt(np.mean([(x.astype(float) - y) ** 2 for x, y in zip(a, b)])))


class TestStage:
    def test_grain_on_a_moving_picture_is_reduced(self):
        clean = panning(skdata.camera())
        noisy = grainy(clean, 8.0)
        out, report = repaired(noisy)
        assert rms(out, clean) < 0.8 * rms(noisy, clean)  # measured 0.74x (the edges and textures are left be)
        assert report["grain_frames"] == len(noisy)  # the first and last frames too, from their one neighbour
        assert 5.0 < report["shots"][0]["grain_sigma"] < 10.0  # the grain's own 8 levels, read from the frames
        assert "grain" in report["parts"]

    def test_clean_footage_comes_out_bit_for_bit(self):
        clean = panning(skdata.astronaut())
        out, report = repaired(clean)
        assert all(np.array_equal(o, c) for o, c in zip(out, clean))
        assert report["grain_frames"] == 0 and report["shots"][0]["grain_sigma"] < GrainSettings().least_sigma

    def test_fine_texture_the_flow_cannot_register_is_left_nearly_alone(self):
        # Grass, textured everywhere, reads as grain to the differences between frames (about 7 levels); the
        # structure guard keeps the averaging off it. Without the guard the clean grass came out 6.5 levels off.
        clean = panning(skdata.grass())
        out, report = repaired(clean)
        assert report["shots"][0]["grain_sigma"] > GrainSettings().least_sigma
        assert rms(out, clean) < 3.0  # measured 1.9
        unguarded = RepairStage(GRAIN)
        unguarded.grain_settings = GrainSettings(texture=0.0)
        blurred = [f for f, _ in unguarded.frames(clean)]
        assert rms(blurred, clean) > 2 * rms(out, clean)

    def test_a_small_fast_object_is_not_smeared(self):
        clean = panning(skdata.camera(), count=7, step=(0.0, 0.0))
        for t, frame in enumerate(clean):  # a dark square crossing at 9 pixels a frame
            frame[50:60, 20 + 9 * t: 30 + 9 * t] = 10
        noisy = grainy(clean, 8.0, seed=4)
        out, _ = repaired(noisy)
        t = 3
        square = (slice(50, 60), slice(20 + 9 * t, 30 + 9 * t))
        before = np.abs(noisy[t][square].astype(float) - clean[t][square]).mean()
        after = np.abs(out[t][square].astype(float) - clean[t][square]).mean()
        assert after < before + 2.0  # 6.2 against 6.3; with every neighbour taken in at full weight 13.7
        trail = (slice(50, 60), slice(20 + 9 * (t - 1), 30 + 9 * (t - 1)))  # where it was a frame before
        assert np.abs(out[t][trail].astype(float) - clean[t][trail]).mean() < 6.5  # 5.0; 8.0 with every weight 1

    def test_flicker_between_frames_keeps_each_frames_brightness(self):
        clean = panning(skdata.camera())
        gains = [1.0, 1.08, 0.93, 1.05, 0.95, 1.07, 1.0]
        flickering = [np.clip(f * g, 0, 255).astype(np.uint8) for f, g in zip(clean, gains)]
        noisy = grainy(flickering, 8.0, seed=2)
        out, report = repaired(noisy)
        assert report["grain_frames"] == len(noisy)
        for o, n in zip(out[1:-1], noisy[1:-1]):
            assert abs(float(o.mean()) - float(n.mean())) < 0.6  # 8% steps between the frames, not averaged away


class TestFunctions:
    def test_the_noise_read_is_the_grains_whatever_its_size(self):
        rng = np.random.default_rng(1)
        base = np.full((128, 128), 110, np.float32)
        readings = {}
        for size in (0.0, 1.0):  # grain one pixel wide, and clumped
            grains = [rng.normal(0, 1, base.shape).astype(np.float32) for _ in range(2)]
            if size:
                grains = [cv2.GaussianBlur(g, (0, 0), size) for g in grains]
            grains = [g / g.std() * 10.0 for g in grains]
            a, b = (np.clip(base + g, 0, 255).astype(np.uint8) for g in grains)
            readings[size] = grain_sigma(a, b, np.ones(base.shape, bool))
        assert 8.0 < readings[0.0] < 11.5 and 8.0 < readings[1.0] < 11.5, readings

    def test_an_unreliable_flow_counts_for_nothing(self):
        clean = grainy(panning(skdata.camera(), count=1), 8.0)[0]
        other = grainy(panning(skdata.camera(), count=1), 8.0, seed=9)[0]
        still = np.zeros((H, W, 2), np.float32)
        out, sigma = average_grain(clean, [GrainNeighbour(other, still, np.zeros((H, W), bool))])
        assert out is clean and sigma == 0.0

    def test_sixteen_bit_frames_are_averaged_at_their_own_depth(self):
        frames = grainy(panning(skdata.camera(), count=3, step=(0.0, 0.0)), 8.0)
        deep = [f.astype(np.uint16) * 257 for f in frames]
        still, holds = np.zeros((H, W, 2), np.float32), np.ones((H, W), bool)
        eight, _ = average_grain(frames[1], [GrainNeighbour(f, still, holds) for f in (frames[0], frames[2])])
        sixteen, _ = average_grain(deep[1], [GrainNeighbour(f, still, holds) for f in (deep[0], deep[2])])
        assert sixteen.dtype == np.uint16
        assert np.abs(sixteen.astype(float) / 257 - eight).max() <= 0.51  # the 8-bit path rounds once more
        assert len(np.unique(sixteen % 257)) > 100  # values between the 8-bit levels: the average's own precision

    @pytest.mark.parametrize("field,value", [("patch", 4), ("offset_window", 0), ("strength", 0.0),
                                             ("flat_share", 0.0), ("step", 0)])
    def test_bad_settings_are_refused(self, field, value):
        with pytest.raises(ValueError, match=field):
            GrainSettings(**{field: value})

    def test_a_neighbour_of_another_size_is_refused(self):
        frame = np.zeros((H, W, 3), np.uint8)
        with pytest.raises(ValueError, match="neighbour must match"):
            average_grain(frame, [GrainNeighbour(np.zeros((H, W + 2, 3), np.uint8), np.zeros((H, W, 2), np.float32),
                                                 np.ones((H, W), bool))])


def test_the_run_line_says_how_many_frames_were_averaged():
    from vidstyle.cli_options import repair_line

    report = {"mode": "auto", "parts": ["spots", "grain"], "pixels": 1000, "pixels_touched": 3, "spots": 2,
              "scratch_frames": 0, "grain_frames": 5}
    assert repair_line(report) == ("repair: 2 specks of dust or dirt, scratches on 0 frames, grain averaged on 5 "
                                   "frames; 0.300% of the pixels replaced")
    assert "grain" not in repair_line({**report, "parts": ["spots"]})


def test_the_training_check_reports_the_grain_per_shot():
    from pipelines.repair_check import grain_line

    report = {"frames": 5, "grain_frames": 3, "shots": [{"grain_sigma": 9.71}, {"grain_sigma": 2.0}]}
    assert grain_line(report) == "grain averaged on 3 of 5 frames (read 9.7, 2.0)"


def test_the_training_check_scores_the_change_of_luma():
    from pipelines.repair_check import luma_mse

    grey = np.full((8, 10, 3), 100, np.uint8)
    lighter = grey + np.uint8(2)
    assert luma_mse([grey, grey], [grey, grey]) == 0.0
    assert luma_mse([grey, lighter], [grey, grey]) == pytest.approx(2.0)  # (0 + 2 ** 2) / 2
    with pytest.raises(ValueError, match="as many frames"):
        luma_mse([grey], [grey, grey])
