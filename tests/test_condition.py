"""The damage conditioning of the remaster generator: its estimates, and a network that gains it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata

from vidstyle.models.condition import (
    FLAT,
    DamageConditioning,
    damage_estimates,
    frame_estimates,
    noise_sigma,
    whole_frame_estimates,
)
from vidstyle.models.generator import RemasterGenerator
from vidstyle.models.weights import load_weights, save_weights
from vidstyle.train.pairs import jpeg_round_trip


def tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0


@pytest.fixture(scope="module")
def still() -> np.ndarray:
    image = skdata.astronaut()
    return cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)


class TestEstimates:
    def test_noise_rises_with_grain(self, still):
        rng = np.random.default_rng(1)
        levels = [damage_estimates(tensor(np.clip(still + rng.normal(0, sigma, still.shape), 0, 255)
                                          .astype(np.uint8)))[0, 0].item() for sigma in (0, 4, 12)]
        assert levels[0] < levels[1] < levels[2]

    def test_noise_falls_with_blur(self, still):
        sharp = damage_estimates(tensor(still))[0, 0].item()
        soft = damage_estimates(tensor(cv2.GaussianBlur(still, (0, 0), 2.0)))[0, 0].item()
        assert soft < 0.5 * sharp

    def test_blocking_is_low_on_a_clean_picture_and_rises_with_jpeg(self, still):
        clean, q30, q10 = (damage_estimates(tensor(image))[0, 1].item()
                           for image in (still, jpeg_round_trip(still, 30), jpeg_round_trip(still, 10)))
        assert abs(clean) < 0.15
        assert clean + 0.2 < q30 < q10

    def test_blocking_reads_the_grid_from_the_corner(self, still):
        # the same blocks moved by 4 pixels are off the grid the codecs use: not counted
        coded = jpeg_round_trip(still, 10)
        aligned = damage_estimates(tensor(coded))[0, 1].item()
        shifted = damage_estimates(tensor(coded[4:, 4:]))[0, 1].item()
        assert shifted < aligned - 0.3

    def test_one_estimate_per_frame_of_a_batch(self, still):
        batch = torch.cat([tensor(still), tensor(jpeg_round_trip(still, 10))])
        both = damage_estimates(batch)
        assert both.shape == (2, 2)
        assert torch.allclose(both[0], damage_estimates(tensor(still))[0])
        assert both[1, 1] > both[0, 1] + 0.3

    def test_tiny_and_flat_frames_give_finite_estimates(self):
        for frame in (torch.zeros(1, 3, 4, 4), torch.ones(2, 3, 9, 30), torch.rand(1, 3, 20, 7),
                      torch.rand(1, 3, 2, 2), torch.rand(1, 3, 1, 9)):
            assert torch.isfinite(damage_estimates(frame)).all()


class TestGenerator:
    def test_a_model_that_gains_it_starts_as_the_model_it_came_from(self):
        torch.manual_seed(0)
        plain = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1, decoder_blocks=1)
        for p in plain.parameters():
            torch.nn.init.normal_(p, std=0.05)
        conditioned = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1, decoder_blocks=1,
                                        condition=True)
        missing, unexpected = conditioned.load_state_dict(plain.state_dict(), strict=False)
        assert not unexpected and all(k.startswith(("condition_head.", "condition_tail.")) for k in missing)
        x = torch.rand(2, 3, 32, 40)
        with torch.no_grad():
            assert torch.equal(conditioned(x), plain(x))

    def test_learnt_conditioning_treats_clean_and_damaged_frames_apart(self, still):
        torch.manual_seed(0)
        model = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1, decoder_blocks=1, condition=True)
        for p in model.parameters():
            torch.nn.init.normal_(p, std=0.05)
        clean, coded = tensor(still[:64, :64]), tensor(jpeg_round_trip(still, 10)[:64, :64])
        with torch.no_grad():
            gamma_clean, gamma_coded = (model.condition_head.mlp(damage_estimates(x)) for x in (clean, coded))
            assert not torch.allclose(gamma_clean, gamma_coded)
            both = model(torch.cat([clean, coded]))
            assert torch.allclose(both[:1], model(clean), atol=1e-5)  # each frame its own estimates

    def test_the_card_carries_it(self, tmp_path):
        model = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1, decoder_blocks=1, condition=True)
        torch.nn.init.normal_(model.condition_tail.mlp[2].weight, std=0.1)
        card = save_weights(model, tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        assert card["hparams"]["condition"] is True
        loaded, _ = load_weights(tmp_path / "m.safetensors")
        x = torch.rand(1, 3, 24, 24)
        with torch.no_grad():
            assert torch.allclose(loaded(x), model(x), atol=1e-6)

    def test_runs_in_bf16(self):
        model = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1, decoder_blocks=1, condition=True)
        torch.nn.init.normal_(model.condition_head.mlp[2].weight, std=0.1)
        x = torch.rand(1, 3, 24, 24)
        with torch.no_grad():
            out = model.to(torch.bfloat16)(x.to(torch.bfloat16))
        assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_film_is_the_identity_at_zero():
    layer = DamageConditioning(8)
    features = torch.randn(3, 8, 5, 5)
    assert torch.equal(layer(features, torch.randn(3, 2)), features)


class TestWholeFrameEstimates:
    @pytest.mark.parametrize("kind", [1, FLAT])
    @pytest.mark.parametrize("size", [(2, 2), (1, 9), (9, 30), (600, 33), (513, 300), (10, 10), (259, 77)])
    def test_frame_estimates_agree_at_any_size(self, size, kind):
        # 600, 513 and 259 rows cross the bands frame_estimates reads a frame in; 10 and 77 hold
        # one block of the flat estimate and a few columns besides
        frames = np.random.default_rng(3).integers(0, 256, (2, *size, 3), dtype=np.uint8)
        frames[1] = cv2.GaussianBlur(frames[1], (0, 0), 1.0)  # blocks unlike each other
        frames[1, : size[0] // 2] //= 4
        expected = damage_estimates(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0, kind)
        assert torch.allclose(frame_estimates(frames, kind), expected, atol=1e-5)

    def test_frame_estimates_agree_with_the_tensor_ones(self, still):
        frames = np.stack([still, jpeg_round_trip(still, 10)])
        expected = torch.cat([damage_estimates(tensor(f)) for f in frames])
        assert torch.allclose(frame_estimates(frames), expected, atol=1e-4)
        deep = frames.astype(np.uint16) * 257  # the same picture at 16 bits
        assert torch.allclose(frame_estimates(deep), expected, atol=1e-4)

    def test_the_module_uses_them_inside_the_block_only(self, still):
        torch.manual_seed(0)
        model = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1, decoder_blocks=1, condition=True)
        for p in model.parameters():
            torch.nn.init.normal_(p, std=0.05)
        coded = jpeg_round_trip(still, 10)
        tile = tensor(coded[:64, :64])
        with torch.no_grad():
            own = model(tile)
            with whole_frame_estimates(model, coded[None]):
                assert model.fixed_estimates is not None
                whole = model(tile)
            assert model.fixed_estimates is None
            again = model(tile)
        assert torch.equal(own, again) and not torch.equal(own, whole)

    def test_a_model_without_conditioning_is_left_alone(self, still):
        plain = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1, decoder_blocks=1)
        with whole_frame_estimates(plain, still[None]):
            assert not hasattr(plain, "fixed_estimates") or plain.fixed_estimates is None


def sigma_of(estimates: torch.Tensor) -> float:
    """The noise sigma in 8-bit levels from the first frame's scaled estimate."""
    return 2.0 ** (4.0 * estimates[0, 0].item()) - 1.0


class TestFlatNoise:
    """``condition=2``: the noise read on the flattest blocks, so texture is not taken for grain."""

    @pytest.mark.parametrize("sigma", [3.0, 8.0, 20.0])
    def test_pure_noise_reads_its_own_sigma(self, sigma):
        rng = np.random.default_rng(int(sigma))
        grey = np.clip(128 + rng.normal(0, sigma, (240, 320)), 0, 255)
        frame = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
        assert sigma_of(damage_estimates(tensor(frame), FLAT)) == pytest.approx(sigma, rel=0.06)
        assert sigma_of(damage_estimates(tensor(frame), 1)) == pytest.approx(sigma, rel=0.06)

    def test_texture_is_not_grain_but_grain_over_it_is(self):
        # a clean textured picture: a printed page (text all over) with a flat margin
        page = cv2.resize(skdata.page(), (384, 192), interpolation=cv2.INTER_AREA)
        clean = np.repeat(page[..., None], 3, axis=2)
        grainy = np.clip(clean + np.random.default_rng(5).normal(0, 4, page.shape)[..., None], 0, 255).astype(np.uint8)
        whole_clean, flat_clean = (sigma_of(damage_estimates(tensor(clean), k)) for k in (1, FLAT))
        flat_grainy = sigma_of(damage_estimates(tensor(grainy), FLAT))
        assert whole_clean > 3.0  # the whole-picture estimate reads the text as heavy noise
        assert flat_clean < 1.0 < 3.0 < flat_grainy  # the flat one tells them apart

    def test_noise_sigma_is_the_flat_estimate_in_levels(self, still):
        grainy = np.clip(still + np.random.default_rng(9).normal(0, 4, still.shape), 0, 255).astype(np.uint8)
        for frame in (still, grainy):
            assert noise_sigma(frame) == pytest.approx(sigma_of(frame_estimates(frame[None], FLAT)), rel=1e-4)
            # the same picture at 16 bits reads the same noise
            assert noise_sigma(frame.astype(np.uint16) * 257) == pytest.approx(noise_sigma(frame), rel=1e-4)
        # 4 levels of noise in each channel is 0.67 x 4 levels of luma noise over the flat blocks
        assert noise_sigma(still) < 1.0 < 2.0 < noise_sigma(grainy)

    def test_a_model_with_it_keeps_its_kind_on_the_card(self, tmp_path, still):
        model = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1, decoder_blocks=1,
                                  condition=FLAT)
        assert model.condition_kind == FLAT and model.hparams["condition"] == FLAT
        torch.manual_seed(0)
        for p in model.parameters():
            torch.nn.init.normal_(p, std=0.05)
        card = save_weights(model, tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        loaded, _ = load_weights(tmp_path / "m.safetensors")
        assert card["hparams"]["condition"] == FLAT and loaded.condition_kind == FLAT
        x = tensor(still[:64, :64])
        with torch.no_grad():
            assert torch.allclose(loaded(x), model(x), atol=1e-6)
            # the same weights reading the whole-picture estimate give another picture
            model.condition_kind = 1
            assert not torch.allclose(loaded(x), model(x), atol=1e-4)
            # and a tiled run conditions every tile on the whole frame's flat estimate
            with whole_frame_estimates(loaded, still[None]):
                assert torch.allclose(loaded.fixed_estimates, damage_estimates(tensor(still), FLAT), atol=1e-5)

    @pytest.mark.parametrize("value", [3, -1, "flat", 1.5])
    def test_other_kinds_are_refused(self, value):
        with pytest.raises(ValueError, match="condition must be"):
            RemasterGenerator(scale=2, channels=16, condition=value)

    def test_old_cards_read_the_whole_picture(self):
        model = RemasterGenerator(scale=2, channels=16, condition=True)
        assert model.condition_kind == 1 and model.hparams["condition"] is True
        assert RemasterGenerator(scale=2, channels=16).condition_kind == 0
