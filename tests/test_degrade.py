"""Tests of the synthetic old-film model: determinism, shapes, each effect alone, validation."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
import skimage.data

from vidstyle.damage import DOWNSCALE_KERNELS, DegradeSettings, FilmDegrader, degrade_clip

HEIGHT, WIDTH = 96, 128

# Every effect on at once, at moderate strength.
ALL_EFFECTS = DegradeSettings(
    grain_strength=0.05,
    grain_size=0.6,
    dust_density=1500.0,
    dust_size=5.0,
    scratch_count=3,
    scratch_drift=1.0,
    weave_amplitude=1.5,
    flicker_amplitude=0.15,
    blur_sigma=0.8,
    jpeg_quality=70,
    fade=0.4,
    tint=0.3,
    vignette=0.4,
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """A natural colour image, uint8 (96, 128, 3)."""
    return cv2.resize(skimage.data.astronaut(), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def flat(value: int) -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), value, np.uint8)


def gradient() -> np.ndarray:
    """Diagonal colour ramp, uint8 (96, 128, 3)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    ramp = np.stack([x / WIDTH, y / HEIGHT, 1 - x / WIDTH], axis=-1)
    return (40 + 180 * ramp).astype(np.uint8)


def run(settings: DegradeSettings, frames, seed: int = 0) -> list[np.ndarray]:
    degrader = FilmDegrader(settings, seed=seed, height=HEIGHT, width=WIDTH)
    return [degrader.degrade(frame) for frame in frames]


def luminance(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


class TestDeterminismAndShapes:
    def test_default_settings_leave_frames_unchanged(self, astronaut):
        (out,) = run(DegradeSettings(), [astronaut])
        np.testing.assert_array_equal(out, astronaut)

    @pytest.mark.parametrize("black_and_white", [False, True])
    def test_same_seed_same_output_other_seed_other_output(self, astronaut, black_and_white):
        settings = dataclasses.replace(ALL_EFFECTS, black_and_white=black_and_white)
        frames = [astronaut, gradient(), astronaut, astronaut]
        first = run(settings, frames, seed=11)
        second = run(settings, frames, seed=11)
        other = run(settings, frames, seed=12)
        for a, b, c in zip(first, second, other):
            np.testing.assert_array_equal(a, b)
            assert np.abs(a.astype(int) - c).mean() > 1.0

    def test_degrade_clip_matches_degrader(self, astronaut):
        frames = [astronaut] * 4
        expected = run(ALL_EFFECTS, frames, seed=5)
        for a, b in zip(degrade_clip(iter(frames), ALL_EFFECTS, 5), expected, strict=True):
            np.testing.assert_array_equal(a, b)

    @pytest.mark.parametrize("scale", [1, 2, 4])
    @pytest.mark.parametrize("kernel", DOWNSCALE_KERNELS)
    def test_output_shape(self, astronaut, scale, kernel):
        settings = dataclasses.replace(ALL_EFFECTS, scale=scale, downscale_kernel=kernel)
        (out,) = run(settings, [astronaut])
        assert out.shape == (HEIGHT // scale, WIDTH // scale, 3)
        assert out.dtype == np.uint8

    def test_downscale_alone_matches_opencv(self, astronaut):
        (out,) = run(DegradeSettings(scale=2, downscale_kernel="area"), [astronaut])
        expected = cv2.resize(astronaut, (WIDTH // 2, HEIGHT // 2), interpolation=cv2.INTER_AREA)
        assert np.abs(out.astype(int) - expected).max() <= 1

    def test_frame_size_must_divide_by_scale(self):
        with pytest.raises(ValueError, match="divisible by scale 4, got 130x96"):
            FilmDegrader(DegradeSettings(scale=4), seed=0, height=96, width=130)

    @pytest.mark.parametrize(
        "frame",
        [
            np.zeros((HEIGHT, WIDTH, 3), np.float32),
            np.zeros((HEIGHT, WIDTH), np.uint8),
            np.zeros((HEIGHT + 2, WIDTH, 3), np.uint8),
        ],
    )
    def test_wrong_frame_raises(self, frame):
        degrader = FilmDegrader(DegradeSettings(), seed=0, height=HEIGHT, width=WIDTH)
        with pytest.raises(ValueError, match=r"frame must be uint8 \(96, 128, 3\), got"):
            degrader.degrade(frame)


class TestEffectsAlone:
    def test_dust_leaves_strong_specks_on_a_few_pixels(self):
        clean = flat(128)
        settings = DegradeSettings(dust_density=3000.0, dust_size=4.0)
        for out in run(settings, [clean] * 3):
            difference = np.abs(out.astype(int) - clean).max(axis=2)
            assert (difference > 60).sum() >= 5  # specks are there and strong
            assert (difference == 0).mean() > 0.8  # and only on a small part of the frame

    def test_dust_is_new_every_frame(self):
        outs = run(DegradeSettings(dust_density=3000.0), [flat(128)] * 2)
        assert not np.array_equal(outs[0] != 128, outs[1] != 128)

    @pytest.mark.parametrize("bright_fraction, sign", [(1.0, 1), (0.0, -1)])
    def test_dust_polarity(self, bright_fraction, sign):
        settings = DegradeSettings(dust_density=3000.0, bright_fraction=bright_fraction)
        (out,) = run(settings, [flat(128)])
        difference = out.astype(int) - 128
        assert (sign * difference).min() >= 0
        assert (sign * difference).max() > 60

    def test_flicker_changes_mean_brightness_of_a_constant_clip(self):
        outs = run(DegradeSettings(flicker_amplitude=0.2), [flat(128)] * 12)
        means = np.array([luminance(out).mean() for out in outs])
        assert means.std() > 2.0
        assert np.abs(means - 128).max() <= 0.2 * 128 + 1  # within the stated amplitude
        assert all(luminance(out).std() < 0.6 for out in outs)  # the whole frame at once

    @pytest.mark.parametrize("bright_fraction, background", [(1.0, 60), (0.0, 200)])
    def test_scratch_persists_and_moves_at_most_the_drift(self, bright_fraction, background):
        drift = 1.5
        settings = DegradeSettings(
            scratch_count=1, scratch_persistence=1000.0, scratch_drift=drift,
            scratch_strength=1.0, bright_fraction=bright_fraction,
        )
        outs = run(settings, [flat(background)] * 12, seed=3)
        centres = []
        for out in outs:
            # Strength along the line varies, so look at the column profile of the change.
            change = np.abs(out[..., 0].astype(float) - background).mean(axis=0)
            assert change.max() > 25  # a visible line ...
            line = change > 2
            assert line.sum() <= 9  # ... that is narrow ...
            columns = np.flatnonzero(line)
            assert columns.max() - columns.min() < line.sum() + 1  # ... and in one piece
            centres.append(np.average(np.arange(WIDTH)[line], weights=change[line]))
            # Vertical: most rows of the scratch column are changed.
            core = np.abs(out[:, int(round(centres[-1])), 0].astype(int) - background)
            assert (core > 5).mean() > 0.5
        steps = np.abs(np.diff(centres))
        assert steps.max() <= drift + 0.3

    def test_scratch_without_drift_stays_put(self):
        settings = DegradeSettings(scratch_count=1, scratch_persistence=1000.0, scratch_drift=0.0,
                                   scratch_strength=1.0)
        outs = run(settings, [flat(128)] * 6, seed=4)
        columns = [np.abs(out[..., 0].astype(int) - 128).mean(axis=0).argmax() for out in outs]
        assert len(set(columns)) == 1

    def test_short_lived_scratches_come_and_go(self):
        settings = DegradeSettings(scratch_count=1, scratch_persistence=3.0, scratch_strength=1.0)
        outs = run(settings, [flat(128)] * 40, seed=1)
        visible = [np.abs(out.astype(int) - 128).max() > 20 for out in outs]
        assert any(visible) and not all(visible)

    def test_grain_adds_noise_that_changes_every_frame(self):
        grey = flat(128)
        outs = run(DegradeSettings(grain_strength=0.05), [grey] * 3)
        for out in outs:
            assert 0.6 * 0.05 * 255 < out.std() < 1.4 * 0.05 * 255
            assert abs(out.mean() - 128) < 1.5
        assert np.abs(outs[0].astype(int) - outs[1]).mean() > 5

    def test_grain_is_weaker_in_the_shadows(self):
        settings = DegradeSettings(grain_strength=0.05, black_and_white=True)
        (mid,) = run(settings, [flat(128)])
        (dark,) = run(settings, [flat(20)])
        assert dark.std() < 0.7 * mid.std()

    def test_grain_size_makes_neighbouring_pixels_agree(self):
        def neighbour_correlation(frame):
            a = frame[:, :-1, 1].astype(float).ravel()
            b = frame[:, 1:, 1].astype(float).ravel()
            return np.corrcoef(a, b)[0, 1]

        (fine,) = run(DegradeSettings(grain_strength=0.05), [flat(128)])
        (coarse,) = run(DegradeSettings(grain_strength=0.05, grain_size=1.5), [flat(128)])
        assert neighbour_correlation(fine) < 0.3
        assert neighbour_correlation(coarse) > 0.6
        assert 0.6 * fine.std() < coarse.std() < 1.4 * fine.std()  # same strength either way

    def test_black_and_white_channels_are_equal(self, astronaut):
        settings = DegradeSettings(black_and_white=True, grain_strength=0.05, jpeg_quality=50)
        for out in run(settings, [astronaut] * 2):
            np.testing.assert_array_equal(out[..., 0], out[..., 1])
            np.testing.assert_array_equal(out[..., 0], out[..., 2])

    def test_toned_black_and_white_is_warm(self, astronaut):
        (out,) = run(DegradeSettings(black_and_white=True, tint=0.8), [astronaut])
        red, blue = out[..., 0].astype(int), out[..., 2].astype(int)
        assert (red >= blue).all() and (red - blue).mean() > 20

    def test_vignette_darkens_the_corners(self):
        (out,) = run(DegradeSettings(vignette=0.5), [flat(200)])
        lum = luminance(out)
        centre = lum[HEIGHT // 2 - 8:HEIGHT // 2 + 8, WIDTH // 2 - 8:WIDTH // 2 + 8].mean()
        corners = [lum[:6, :6], lum[:6, -6:], lum[-6:, :6], lum[-6:, -6:]]
        assert centre > 190
        assert all(corner.mean() < centre - 40 for corner in corners)

    def test_fade_loses_saturation_and_contrast(self, astronaut):
        (out,) = run(DegradeSettings(fade=0.8), [astronaut])

        def saturation(frame):
            return cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)[..., 1].mean()

        assert saturation(out) < 0.5 * saturation(astronaut)
        assert luminance(out).std() < 0.9 * luminance(astronaut).std()
        assert luminance(out).min() > luminance(astronaut).min() + 20  # raised blacks

    def test_weave_shifts_by_at_most_the_amplitude(self):
        edge = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        edge[:, WIDTH // 2:] = 255
        amplitude = 2.0
        outs = run(DegradeSettings(weave_amplitude=amplitude), [edge] * 10)
        # With linear interpolation the edge position is the number of bright columns.
        positions = [WIDTH - out[HEIGHT // 2, :, 0].astype(float).sum() / 255 for out in outs]
        shifts = np.array(positions) - WIDTH // 2
        assert np.abs(shifts).max() <= amplitude + 0.01
        assert np.ptp(shifts) > 0.2  # it does move

    def test_anisotropic_blur_follows_its_angle(self):
        # A frame with a vertical edge and a horizontal edge.
        frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        frame[:, WIDTH // 2:] = 200
        frame[HEIGHT // 2:, :] += 50
        horizontal = DegradeSettings(blur_sigma=3.0, blur_aspect=0.1, blur_angle=0.0)
        (out,) = run(horizontal, [frame])
        row_step = np.abs(np.diff(out[10, :, 0].astype(int))).max()
        column_step = np.abs(np.diff(out[:, 10, 0].astype(int))).max()
        assert row_step < 40  # the vertical edge is smeared sideways
        assert column_step >= 45  # the horizontal edge stays sharp

    def test_jpeg_error_grows_as_quality_falls(self, astronaut):
        errors = []
        for quality in (90, 20):
            (out,) = run(DegradeSettings(jpeg_quality=quality), [astronaut])
            errors.append(np.abs(out.astype(int) - astronaut).mean())
        assert 0 < errors[0] < errors[1]


class TestSettings:
    @pytest.mark.parametrize(
        "field, value",
        [
            ("grain_strength", -0.1),
            ("grain_strength", 0.5),
            ("grain_strength", math.nan),
            ("grain_size", "1"),
            ("dust_density", 1e9),
            ("dust_size", 0.5),
            ("bright_fraction", 1.5),
            ("scratch_count", 1.5),
            ("scratch_count", -1),
            ("scratch_count", True),
            ("scratch_persistence", 0.0),
            ("scratch_drift", -1.0),
            ("weave_amplitude", 20.0),
            ("flicker_amplitude", 0.9),
            ("blur_sigma", -0.5),
            ("blur_aspect", 0.0),
            ("blur_angle", 180.0),
            ("scale", 3),
            ("downscale_kernel", "nearest"),
            ("jpeg_quality", 0),
            ("jpeg_quality", 101),
            ("jpeg_quality", 50.5),
            ("fade", 2.0),
            ("tint", -0.2),
            ("vignette", 1.1),
            ("black_and_white", "yes"),
        ],
    )
    def test_invalid_value_raises_value_error_naming_the_field(self, field, value):
        with pytest.raises(ValueError, match=rf"^{field} must be .*, got "):
            DegradeSettings(**{field: value})

    def test_settings_are_frozen(self):
        with pytest.raises(dataclasses.FrozenInstanceError):
            DegradeSettings().grain_strength = 0.1  # type: ignore[misc]

    def test_degrader_rejects_a_negative_seed(self):
        with pytest.raises(ValueError, match="seed must be"):
            FilmDegrader(DegradeSettings(), seed=-1, height=HEIGHT, width=WIDTH)

    @pytest.mark.parametrize("scale", [1, 2, 4])
    def test_random_settings_are_valid_varied_and_repeatable(self, scale):
        draws = [DegradeSettings.random(np.random.default_rng(i), scale=scale) for i in range(40)]
        again = [DegradeSettings.random(np.random.default_rng(i), scale=scale) for i in range(40)]
        assert draws == again
        assert all(d.scale == scale for d in draws)
        assert any(d.black_and_white for d in draws) and not all(d.black_and_white for d in draws)
        assert len({d.downscale_kernel for d in draws}) > 1
        assert len({d.jpeg_quality for d in draws}) > 5
        assert min(d.grain_strength for d in draws) < 0.03 < max(d.grain_strength for d in draws)

    def test_random_settings_degrade_a_clip(self, astronaut):
        rng = np.random.default_rng(2024)
        for seed in range(4):
            settings = DegradeSettings.random(rng, scale=2)
            outs = list(degrade_clip([astronaut] * 2, settings, seed))
            assert [out.shape for out in outs] == [(HEIGHT // 2, WIDTH // 2, 3)] * 2


class TestDamageMask:
    """``FilmDegrader.damage_mask``: where dust and scratches were drawn, read without side effects."""

    def test_reading_the_mask_changes_no_pixel(self, astronaut):
        settings = dataclasses.replace(ALL_EFFECTS, scale=2)
        plain = run(settings, [astronaut] * 4, seed=5)
        degrader = FilmDegrader(settings, seed=5, height=HEIGHT, width=WIDTH)
        read = []
        for frame in [astronaut] * 4:
            read.append(degrader.degrade(frame))
            degrader.damage_mask()
        for a, b in zip(plain, read):
            np.testing.assert_array_equal(a, b)

    def test_mask_covers_the_drawn_specks_and_little_else(self):
        clean = flat(128)
        degrader = FilmDegrader(DegradeSettings(dust_density=3000.0, dust_size=4.0), seed=1,
                                height=HEIGHT, width=WIDTH)
        for _ in range(3):
            out = degrader.degrade(clean)
            mask = degrader.damage_mask()
            assert mask.shape == (HEIGHT, WIDTH) and mask.dtype == bool
            difference = np.abs(out.astype(int) - clean).max(axis=2)
            assert mask[difference > 30].all()  # every strong change is in the mask
            assert (difference[mask] > 0).mean() > 0.9  # and the mask is where it changed
            assert not degrader.last_damage["scratches"].any()

    def test_scratch_mask_is_a_thin_vertical_band(self):
        settings = DegradeSettings(scratch_count=1, scratch_drift=0.0, scratch_persistence=1000.0)
        degrader = FilmDegrader(settings, seed=3, height=HEIGHT, width=WIDTH)
        out = degrader.degrade(flat(128))
        scratches = degrader.last_damage["scratches"]
        columns = np.flatnonzero(scratches.any(axis=0))
        assert 1 <= columns.size <= 8 and np.ptp(columns) < 8
        difference = np.abs(out.astype(int) - 128).max(axis=2)
        assert scratches[difference > 30].all()
        assert not degrader.last_damage["dust"].any()

    @pytest.mark.parametrize("scale", [2, 4])
    def test_mask_is_downscaled_with_any_pixel_touched(self, scale):
        settings = DegradeSettings(dust_density=3000.0, dust_size=4.0)
        full = FilmDegrader(settings, seed=2, height=HEIGHT, width=WIDTH)
        small = FilmDegrader(dataclasses.replace(settings, scale=scale), seed=2, height=HEIGHT,
                             width=WIDTH)
        full.degrade(flat(128))
        small.degrade(flat(128))
        expected = full.damage_mask().reshape(HEIGHT // scale, scale, WIDTH // scale, scale)
        np.testing.assert_array_equal(small.damage_mask(), expected.any(axis=(1, 3)))

    def test_no_frame_no_damage(self):
        degrader = FilmDegrader(DegradeSettings(scale=2), seed=0, height=HEIGHT, width=WIDTH)
        assert degrader.damage_mask().shape == (HEIGHT // 2, WIDTH // 2)
        assert not degrader.damage_mask().any()
