"""Tone correction (vidstyle.restore.grade): a faded, yellow print of a grey training still (camera,
full range 4..241 at 0.5 / 99.5 %) comes back toward neutral and full range, steadily over a shot."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from vidstyle.damage.degrade import FilmDegrader
from vidstyle.damage.settings import DegradeSettings
from vidstyle.errors import ConfigError
from vidstyle.restore.grade import Grader, GradeSettings, estimate_grade

#: A faded print from the project's damage model: its strongest fade (blacks raised by 38 levels,
#: whites dulled, colour lost) and a warm sepia cast.
FADED_PRINT = DegradeSettings(fade=1.0, tint=0.6)


def grey_clip(count: int, *, height: int = 200, width: int = 320, step: int = 2) -> list[np.ndarray]:
    """``count`` crops of camera (a grey training still) moving by ``step`` pixels a frame."""
    picture = np.repeat(skimage.data.camera()[:, :, None], 3, axis=2)
    return [np.ascontiguousarray(picture[100:100 + height, 20 + step * t: 20 + step * t + width])
            for t in range(count)]


def faded(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return FilmDegrader(FADED_PRINT, seed=0, height=h, width=w).degrade(frame)


def cast(frame: np.ndarray) -> float:
    """Spread of the channel means, grey levels (0 for a neutral picture)."""
    means = frame.reshape(-1, 3).mean(axis=0)
    return float(means.max() - means.min())


def span(frame: np.ndarray) -> float:
    luma = frame.astype(np.float64) @ [0.299, 0.587, 0.114]
    low, high = np.percentile(luma, [0.5, 99.5])
    return float(high - low)


def test_a_faded_yellow_print_comes_back_neutral_and_full_range():
    clean = grey_clip(1)[0]
    damaged = faded(clean)
    out = Grader().apply(damaged, cut=True)
    assert cast(damaged) > 20 and cast(out) < 0.1 * cast(damaged)
    assert span(damaged) < 0.75 * span(clean) and span(out) > 0.9 * span(clean)
    assert np.abs(out.astype(np.float64) - clean).mean() < 0.3 * np.abs(damaged.astype(np.float64) - clean).mean()


def test_steady_over_a_shot():
    clean = grey_clip(30)  # moving 2 pixels a frame
    grader = Grader()
    out = [grader.apply(faded(f), cut=t == 0) for t, f in enumerate(clean)]
    # The same content in consecutive frames comes out the same: no flicker of the grade's own.
    steps = [np.abs(out[t][:, :-2].astype(np.int16) - out[t - 1][:, 2:]).mean() for t in range(1, 30)]
    assert max(steps) < 1.0
    assert grader.report()["frames"] == 30 and len(grader.report()["shots"]) == 1


def test_a_cut_resets_the_estimate():
    # A full-range shot, then a faded one: the new shot gets its own, stronger correction.
    new_shot = faded(skimage.data.chelsea()[:200, :320])
    grader = Grader()
    for t, frame in enumerate(grey_clip(20)):
        grader.apply(frame, cut=t == 0)
    after_cut = grader.apply(new_shot, cut=True)
    fresh = Grader().apply(new_shot, cut=True)
    np.testing.assert_array_equal(after_cut, fresh)
    assert [s["frames"] for s in grader.report()["shots"]] == [20, 1]
    # Told no cut, the old shot's estimate still weighs on the new picture.
    merged = Grader()
    for t, frame in enumerate(grey_clip(20)):
        merged.apply(frame, cut=t == 0)
    assert np.abs(merged.apply(new_shot, cut=False).astype(np.int16) - fresh).mean() > 5.0


def test_a_fade_in_from_black_does_not_set_the_levels():
    frames = [faded(f) for f in grey_clip(30)]
    fade_in = [(f * (t / 10)).astype(np.uint8) for t, f in enumerate(frames[:10])] + frames[10:]
    grader, plain = Grader(), Grader()
    with_fade = [grader.apply(f, cut=t == 0) for t, f in enumerate(fade_in)][-1]
    without = [plain.apply(f, cut=t == 0) for t, f in enumerate(frames[10:])][-1]
    assert np.abs(with_fade.astype(np.int16) - without).mean() < 2.0


def test_the_cast_correction_is_limited():
    # chelsea is a warm picture (a ginger cat): grey world would make it grey; the limit keeps
    # each channel within 25 %.
    gains = estimate_grade(skimage.data.chelsea())[:3]
    assert np.all(gains <= 1.25 + 1e-9) and np.all(gains >= 1 / 1.25 - 1e-9)


def test_a_full_range_neutral_picture_is_barely_changed():
    crop = grey_clip(1)[0].astype(np.float64)
    low, high = np.percentile(crop, [0.5, 99.5])
    clean = np.clip((crop - low) * 255.0 / (high - low) + 0.5, 0, 255).astype(np.uint8)
    out = Grader().apply(clean, cut=True)
    # Measured at reduced size, the extremes are a little milder: a slight stretch remains.
    assert np.abs(out.astype(np.int16) - clean).mean() < 2.0


@pytest.mark.parametrize("field, value", [("low_percentile", 20.0), ("high_percentile", 50.0), ("max_gain", 0.5),
                                          ("max_cast", -1.0), ("horizon", 0), ("stats_width", 1.5)])
def test_bad_settings_give_one_line_errors(field, value):
    with pytest.raises(ConfigError, match=field) as error:
        GradeSettings(**{field: value})
    assert "\n" not in str(error.value)
