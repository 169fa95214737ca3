"""The generalizing training data: global tone, dead leaves, and the damage mix of a pair."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from vidstyle.train import data
from vidstyle.train.dead_leaves import dead_leaves
from vidstyle.train.pairs import EVALUATION_MIX, DamageMix, PairDamage, grey, jpeg_round_trip
from vidstyle.train.tone import GlobalTone


def _picture(size: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (size, size),
                      interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(base)


class TestGlobalTone:
    def test_identity_returns_the_picture(self):
        image = _picture()
        assert GlobalTone().apply(image) is image

    def test_known_values(self):
        out = GlobalTone(gain=0.9, cast=(1.0, 0.9, 0.7)).apply(np.full((4, 4, 3), 128, np.uint8))
        assert out[0, 0].tolist() == [115, 104, 81]

    def test_fade_lifts_blacks_and_dulls_whites(self):
        out = GlobalTone(lift=0.1, ceiling=0.9).apply(np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8))
        assert out[0, 0].tolist() == [26, 26, 26] and out[0, 1].tolist() == [230, 230, 230]

    def test_vignette_agrees_across_resolutions(self):
        # The field lives on the unit square: a picture and its downscaled copy get the same tone.
        tone = GlobalTone(vignette=0.4, centre=(0.2, 0.7))
        flat = np.full((128, 128, 3), 200, np.uint8)
        big = tone.apply(flat)
        small = tone.apply(flat[::4, ::4])
        resized = cv2.resize(big, (32, 32), interpolation=cv2.INTER_AREA)
        assert np.abs(resized.astype(int) - small.astype(int)).max() <= 2
        assert big[int(0.7 * 128), int(0.2 * 128)].mean() > big[0, 127].mean() + 20

    def test_random_is_sometimes_identity_and_valid(self):
        tones = [GlobalTone.random(np.random.default_rng(i)) for i in range(200)]
        identity = sum(t.is_identity for t in tones)
        assert 40 < identity < 110  # about 35 %
        assert all(0 <= t.lift < t.ceiling <= 1 for t in tones)

    def test_bad_values_raise(self):
        with pytest.raises(ValueError, match="vignette"):
            GlobalTone(vignette=1.0)
        with pytest.raises(ValueError, match="cast"):
            GlobalTone(cast=(1.0, 0.0, 1.0))


class TestDeadLeaves:
    def test_deterministic_and_varied(self):
        a = dead_leaves(np.random.default_rng(3), 96)
        b = dead_leaves(np.random.default_rng(3), 96)
        c = dead_leaves(np.random.default_rng(4), 96)
        assert a.shape == (96, 96, 3) and a.dtype == np.uint8
        assert np.array_equal(a, b) and not np.array_equal(a, c)

    def test_has_edges_at_many_scales(self):
        image = dead_leaves(np.random.default_rng(0), 256).astype(np.float32).mean(axis=2)
        # Natural-image statistics: energy at coarse and at fine scales, neither empty.
        fine = np.abs(image - cv2.GaussianBlur(image, (0, 0), 1.0)).mean()
        coarse = np.abs(cv2.GaussianBlur(image, (0, 0), 4.0) - cv2.GaussianBlur(image, (0, 0), 16.0)).mean()
        assert fine > 1.0 and coarse > 1.0

    def test_palette_colours(self):
        palette = np.array([[200, 30, 30], [30, 30, 200]], np.float32)
        image = dead_leaves(np.random.default_rng(1), 64, palette=palette)
        # Every colour comes from the palette (jittered by a few levels, blended at edges):
        # green stays low everywhere.
        assert image[..., 1].max() < 80

    def test_frames_are_a_source_group(self):
        frames = data.dead_leaves_frames(3, size=64, seed=5)
        assert [f.group for f in frames] == ["dead_leaves"] * 3
        assert not frames[0].image.flags.writeable
        again = data.dead_leaves_frames(3, size=64, seed=5)
        assert np.array_equal(frames[2].image, again[2].image)


class TestPairDamage:
    def _draw(self, mix: DamageMix, count: int = 60, scale: int = 2):
        return [PairDamage(np.random.default_rng(i), scale=scale, height=64, width=64, mix=mix)
                for i in range(count)]

    def test_shapes_and_determinism(self):
        image = _picture(64)
        for scale in (1, 2, 4):
            low, target = PairDamage(np.random.default_rng(9), scale=scale, height=64, width=64).pair(image)
            again = PairDamage(np.random.default_rng(9), scale=scale, height=64, width=64).pair(image)
            assert low.shape == (64 // scale, 64 // scale, 3) and target.shape == (64, 64, 3)
            assert np.array_equal(low, again[0]) and np.array_equal(target, again[1])

    def test_clean_pair_is_the_resampled_target(self):
        image = _picture(64)
        damage = PairDamage(np.random.default_rng(0), scale=2, height=64, width=64,
                            mix=DamageMix(clean_probability=1.0, tone_probability=0.0))
        low, target = damage.pair(image)
        assert damage.clean and damage.settings is None
        expected = grey(image) if damage.black_and_white else image
        assert np.array_equal(target, expected)
        assert np.abs(cv2.resize(target, (32, 32), interpolation=cv2.INTER_AREA).astype(int)
                      - low.astype(int)).mean() < 3

    def test_tone_is_in_input_and_target_alike(self):
        # A fully toned, otherwise clean pair: the input's mean colour follows the target's.
        mix = DamageMix(clean_probability=1.0, tone_probability=1.0, black_and_white_probability=0.0)
        for damage in self._draw(mix, count=20):
            image = _picture(64, seed=1)
            low, target = damage.pair(image)
            assert np.abs(low.reshape(-1, 3).mean(0) - target.reshape(-1, 3).mean(0)).max() < 3

    def test_coded_clean_pair_is_the_jpeg_of_the_resampled_target(self):
        # A coded clean pair: the target is the clean picture, the input its resampled copy
        # through JPEG (8x8 blocks), and nothing else.
        image = _picture(64, seed=3)
        mix = DamageMix(clean_probability=1.0, tone_probability=0.0, coded_clean_probability=1.0,
                        lowest_jpeg_quality=10)
        damages = self._draw(mix, count=8)
        assert all(d.clean and d.settings is None and 10 <= d.jpeg_quality <= 95 for d in damages)
        for damage in damages:
            low, target = damage.pair(image)
            assert np.array_equal(target, grey(image) if damage.black_and_white else image)
            plain = cv2.resize(target, (32, 32), interpolation=damage.resample)
            assert not np.array_equal(low, plain)  # the JPEG pass changed it ...
            # ... and it is that pass alone, at the drawn quality give or take its jitter.
            assert any(np.array_equal(low, jpeg_round_trip(plain, damage.jpeg_quality + jitter))
                       for jitter in range(-3, 4))
        # Off by default, and with it off a mix draws the pairs it drew before the field existed.
        assert DamageMix().coded_clean_probability == 0.0
        before = PairDamage(np.random.default_rng(4), scale=2, height=64, width=64).pair(image)
        plain_mix = DamageMix(coded_clean_probability=0.0)
        after = PairDamage(np.random.default_rng(4), scale=2, height=64, width=64, mix=plain_mix).pair(image)
        assert all(np.array_equal(a, b) for a, b in zip(before, after))
        with pytest.raises(ValueError, match="coded_clean_probability"):
            DamageMix(coded_clean_probability=-0.1)

    def test_target_never_carries_the_film_damage(self):
        # Grain, dust and scratches are in the input only: with tone off the target is the clean
        # picture (grey for black-and-white film).
        image = _picture(64, seed=2)
        for damage in self._draw(DamageMix(tone_probability=0.0), count=30):
            _, target = damage.pair(image)
            assert np.array_equal(target, grey(image) if damage.black_and_white else image)

    def test_mix_frequencies(self):
        damages = self._draw(DamageMix(), count=400)
        clean = np.mean([d.clean for d in damages])
        second = np.mean([d.second_order is not None for d in damages if not d.clean])
        assert 0.1 < clean < 0.2 and 0.3 < second < 0.5
        assert all(d.settings.weave_amplitude == 0 and d.settings.fade == 0 and d.settings.tint == 0
                   for d in damages if not d.clean)
        assert not any(d.clean for d in self._draw(EVALUATION_MIX, count=50))

    def test_bad_input(self):
        with pytest.raises(ValueError, match="multiple of the scale"):
            PairDamage(np.random.default_rng(0), scale=4, height=66, width=64)
        damage = PairDamage(np.random.default_rng(0), scale=2, height=64, width=64)
        with pytest.raises(ValueError, match="frame must be uint8"):
            damage.pair(np.zeros((32, 32, 3), np.uint8))
        with pytest.raises(ValueError, match="clean_probability"):
            DamageMix(clean_probability=1.5)

    def test_sampler_uses_the_mix(self):
        frames = data.dead_leaves_frames(4, size=96, seed=1)
        sampler = data.PatchSampler(frames, scale=2, patch_size=16, batch_size=6, seed=3,
                                    h264_probability=0.0, mix=dataclasses.replace(DamageMix(), clean_probability=1.0,
                                                                                  tone_probability=0.0))
        lows, highs = sampler.batch_uint8(0)
        # Only clean pairs: every input is close to its target resampled.
        for low, high in zip(lows, highs):
            assert np.abs(cv2.resize(high, (16, 16), interpolation=cv2.INTER_AREA).astype(int)
                          - low.astype(int)).mean() < 6
