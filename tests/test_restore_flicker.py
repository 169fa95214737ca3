"""Flicker correction (vidstyle.restore.flicker): real pictures moving by known shifts, neighbours
warped with DIS flow exactly as the repair stage makes them, and the project's damage model."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from vidstyle.damage.degrade import FilmDegrader
from vidstyle.damage.settings import DegradeSettings
from vidstyle.errors import ConfigError
from vidstyle.restore.flicker import Deflicker, FlickerSettings, fit_brightness
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.warp import warp_numpy
from vidstyle.train.data import HELD_OUT_CLIP_FRAMES, clip_frames


def moving_clip(count: int, *, height: int = 136, width: int = 240, step=(2, 1)) -> list[np.ndarray]:
    """``count`` crops of chelsea (a training still) moving by ``step`` pixels a frame, uint8 RGB."""
    picture = skimage.data.chelsea()
    return [np.ascontiguousarray(picture[10 + step[1] * t: 10 + step[1] * t + height,
                                         10 + step[0] * t: 10 + step[0] * t + width]) for t in range(count)]


def scaled(frame: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(frame.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)


def neighbours(frames, cuts):
    """(frame, prev_w, prev_ok, cut) as the repair stage makes them: DIS flow t -> t-1 with its
    forward-backward check, frame t-1 warped onto t; None at each shot's start."""
    estimator = FlowEstimator("fast", downscale=2)
    small = [estimator.prepare(f) for f in frames]
    for t, frame in enumerate(frames):
        if t in cuts:
            yield frame, None, None, True
            continue
        flow, mask = estimator.pair(small[t], small[t - 1]).at(*frame.shape[:2])
        yield frame, warp_numpy(frames[t - 1], flow), mask > 0.5, False


def run(frames, cuts=(0,), settings=None):
    """Push every frame, popping as the stage does; the frames that came out, in order."""
    deflicker = Deflicker(settings or FlickerSettings())
    out = []
    for item in neighbours(frames, set(cuts)):
        deflicker.push(*item)
        while (frame := deflicker.pop()) is not None:
            out.append(frame)
    out += deflicker.flush()
    assert len(out) == len(frames)
    return out, deflicker


def means(frames) -> np.ndarray:
    return np.array([f.astype(np.float64).mean() for f in frames])


def mean_change(frames, cuts=(0,)) -> float:
    """The issue's flicker measure: mean |change of average brightness| between frames of a shot."""
    m = means(frames)
    steps = [abs(m[t] - m[t - 1]) for t in range(1, len(m)) if t not in cuts]
    return float(np.mean(steps))


def random_gains(count: int, amplitude: float = 0.08, seed: int = 0) -> np.ndarray:
    return 1.0 + np.random.default_rng(seed).uniform(-amplitude, amplitude, count)


def test_random_flicker_is_flattened():
    clean = moving_clip(40)
    damaged = [scaled(f, g) for f, g in zip(clean, random_gains(40))]
    out, deflicker = run(damaged)
    assert mean_change(damaged) > 4 * mean_change(clean)  # the damage is there
    assert mean_change(out) <= 1.5 * mean_change(clean)
    report = deflicker.report()
    assert report["frames"] == 40 and report["frames_corrected"] >= 20
    assert 2.0 < report["shots"][0]["max_correction"] < 30.0


def test_wandering_flicker_is_flattened_by_the_mean_of_the_targets():
    # Flicker as an AR(1) walk (each frame 0.6 of the last one's deviation and a new one of 3 %), as
    # the independent damage draws it: its runs look like the start of a fade to the confidence
    # intervals, which narrow the window there; the mean of the neighbours' targets smooths that.
    rng = np.random.default_rng(1)
    clean = moving_clip(60)
    wander, gains = 0.0, []
    for _ in range(60):
        wander = 0.6 * wander + rng.normal(0.0, 0.03)
        gains.append(1.0 + wander)
    damaged = [scaled(f, g) for f, g in zip(clean, gains)]
    assert mean_change(damaged) > 10 * mean_change(clean)
    out = run(damaged)[0]
    unsmoothed = run(damaged, settings=FlickerSettings(smoothing=0))[0]
    assert mean_change(out) <= 1.6 * mean_change(clean)  # 1.35x measured
    assert mean_change(out) < 0.75 * mean_change(unsmoothed)  # 2.19x the clean clip's without it


def test_a_ramp_with_flicker_keeps_its_ramp():
    clean = moving_clip(40)
    ramp = np.linspace(0.7, 1.1, 40)
    lit = [scaled(f, g) for f, g in zip(clean, ramp)]
    damaged = [scaled(f, g) for f, g in zip(lit, random_gains(40, seed=1))]
    out = run(damaged)[0]
    t = np.arange(40)
    slope_lit = np.polyfit(t, means(lit), 1)[0]
    slope_out = np.polyfit(t, means(out), 1)[0]
    assert abs(slope_out - slope_lit) < 0.1 * slope_lit
    assert mean_change(out) <= 1.5 * mean_change(lit)
    # It follows the ramp itself (not a flattened version): off by much less than the flicker.
    assert np.sqrt(np.mean((means(out) - means(lit)) ** 2)) < 0.5 * np.sqrt(np.mean((means(damaged) - means(lit)) ** 2))


def test_a_fade_to_black_at_a_shots_end_is_kept():
    clean = moving_clip(36)
    fade = np.r_[np.ones(24), np.arange(11, -1, -1) / 12]  # the last frame is black
    faded = [scaled(f, g) for f, g in zip(clean, fade)]
    out = run(faded)[0]
    assert means(out)[-1] <= 2.0
    assert np.abs(means(out) - means(faded)).max() <= 2.5


def test_a_fade_in_from_black_at_a_shots_start_is_kept():
    clean = moving_clip(36)
    fade = np.r_[np.arange(12) / 12, np.ones(24)]  # the first frame is black
    faded = [scaled(f, g) for f, g in zip(clean, fade)]
    out = run(faded)[0]
    assert means(out)[0] <= 2.0
    assert np.abs(means(out) - means(faded)).max() <= 2.5


def test_a_fade_with_flicker_still_reaches_black():
    clean = moving_clip(36)
    fade = np.r_[np.ones(24), np.arange(11, -1, -1) / 12]
    damaged = [scaled(f, g * k) for f, g, k in zip(clean, fade, random_gains(36, seed=2))]
    out = run(damaged)[0]
    assert means(out)[-1] <= 2.0
    assert means(out)[-13] > 60.0  # the frame before the fade is still bright


def test_a_slow_change_of_contrast_at_a_shots_end_is_kept():
    # The light grows harsher while the mean stays put: gain up, offset down. The mean brightness
    # shows no trend, so the contrast's own trend must decide its line, or the one-sided window at
    # the shot's ends pulls the first and last frames' contrast toward the middle ones'. Measured
    # with the gain and offset smoothed on the mean's trend alone: the first and last frames moved
    # by up to 3.5 and 4.2 levels RMS; with the contrast smoothed on its own, 0.4 at most.
    clean = moving_clip(40)
    mean = float(np.mean([f.mean() for f in clean]))
    harsher = [np.clip((f.astype(np.float32) - mean) * (1.0 + 0.01 * t) + mean + 0.5, 0, 255).astype(np.uint8)
               for t, f in enumerate(clean)]
    out = run(harsher)[0]
    rms = [np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)) for a, b in zip(out, harsher)]
    assert max(rms) < 1.0


def test_a_cut_resets_the_state():
    scene = moving_clip(40)
    frames = scene[:20] + [scaled(f, 1.2) for f in scene[20:]]  # the same scene, brighter after a cut
    out = run(frames, cuts=(0, 20))[0]
    assert np.abs(means(out) - means(frames)).max() < 0.6
    # Told no cut, it takes the jump for flicker and pulls the new shot toward the old one: the
    # reset is what keeps it.
    merged = run(frames, cuts=(0,))[0]
    assert abs(means(merged)[20] - means(frames)[20]) > 5.0


def test_frames_come_out_in_order_and_all_of_them():
    frames = [scaled(f, 0.5 + 0.02 * t) for t, f in enumerate(moving_clip(30))]
    cuts = {0, 3, 4, 15}  # shots of 3, 1, 11 and 15 frames: shorter and longer than the delay
    deflicker = Deflicker(FlickerSettings(radius=5))
    out = []
    for t, item in enumerate(neighbours(frames, cuts)):
        deflicker.push(*item)
        while (frame := deflicker.pop()) is not None:
            out.append(frame)
        if t == 2:
            assert not out  # shot of 3 frames, still waiting for its look-ahead
        if t == 3:
            assert len(out) == 3  # the cut released the first shot
    assert deflicker.delay == 5 + deflicker.settings.smoothing
    assert len(out) == 30 - deflicker.delay  # the last shot's last frames wait for the end
    out += deflicker.flush()
    assert len(out) == 30 and deflicker.flush() == []
    for before, after in zip(frames, out):
        assert np.abs(before.astype(np.int16) - after).mean() < 1.5
    assert [s["frames"] for s in deflicker.report()["shots"]] == [3, 1, 11, 15]


def test_damage_model_flicker_on_bikes_training_frames():
    # Frames 0-75 of bikes.mp4 (training frames: the held-out part starts at 175): two shots, cut
    # at frame 30, with camera motion and a real change of brightness in the second shot.
    assert HELD_OUT_CLIP_FRAMES["bikes.mp4"][0] >= 76
    clean = list(clip_frames("bikes.mp4")[:76])
    degrader = FilmDegrader(DegradeSettings(flicker_amplitude=0.15), seed=3, height=272, width=640)
    damaged = [degrader.degrade(f) for f in clean]
    out = run(damaged, cuts=(0, 30))[0]
    cuts = (0, 30)
    assert mean_change(damaged, cuts) > 2.0 * mean_change(clean, cuts)
    assert mean_change(out, cuts) <= 1.5 * mean_change(clean, cuts)


def test_clean_motion_is_left_alone():
    # bikes.mp4's training frames 0-138 (cuts at 30 and 76): panning, cyclists, real changes of
    # light. Measured: every frame within 50 dB of its input, one frame moved by > 0.5 levels.
    assert HELD_OUT_CLIP_FRAMES["bikes.mp4"][0] >= 139
    clean = list(clip_frames("bikes.mp4")[:139])
    out, deflicker = run(clean, cuts=(0, 30, 76))
    worst = max(np.mean((a.astype(np.float64) - b) ** 2) for a, b in zip(out, clean))
    assert 10 * np.log10(255**2 / max(worst, 1e-9)) > 45.0
    assert deflicker.report()["frames_corrected"] <= 3


def test_fit_brightness_ignores_dust_and_recovers_gain_and_offset():
    rng = np.random.default_rng(0)
    previous = rng.uniform(20, 220, (60, 80)).astype(np.float32)
    current = 1.1 * previous - 5.0
    current[:10, :10] = 255.0  # a speck: 1.6 % of the picture, far off the fit
    gain, offset = fit_brightness(current, previous, np.ones_like(previous, bool))
    assert gain == pytest.approx(1.1, abs=0.01) and offset == pytest.approx(-5.0, abs=1.0)
    assert fit_brightness(current, previous, np.zeros_like(previous, bool)) is None


@pytest.mark.parametrize("field, value", [("radius", 0), ("radius", 2.5), ("max_change", -0.1),
                                          ("stats_width", 8), ("min_reliable", 2.0), ("smoothing", 9),
                                          ("smoothing", -1)])
def test_bad_settings_give_one_line_errors(field, value):
    with pytest.raises(ConfigError, match=field) as error:
        FlickerSettings(**{field: value})
    assert "\n" not in str(error.value)
