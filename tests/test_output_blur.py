"""The styles' output blur (issue 18): a learned blur after the pixel shuffle, identity at the start,
an hparam of the card, exact at strength 0, and the same on every path a frame takes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import decode_all, write_lossless

from vidstyle import remaster
from vidstyle.config import EncodeConfig, RemasterConfig, TemporalConfig
from vidstyle.errors import ModelError
from vidstyle.models.descriptor import frames_to_tensor, run_frames, tensor_to_frames
from vidstyle.models.generator import OutputBlur, RemasterGenerator
from vidstyle.models.registry import load_model, shipped_weights
from vidstyle.models.styles import load_style
from vidstyle.models.tiles import plan_tiling
from vidstyle.models.weights import load_weights, save_weights
from vidstyle.temporal.cells import cell_order, shuffle_onto
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.plan import KeyframePlanner, PlannedBatch
from vidstyle.temporal.reuse import ReuseRunner

#: A soft 5x5 kernel (a binomial blur) that sums to 1, far from the identity.
SOFT = torch.outer(torch.tensor([1.0, 4, 6, 4, 1]), torch.tensor([1.0, 4, 6, 4, 1])) / 256


def tiny(seed: int, **hparams) -> RemasterGenerator:
    """A small generator with random (non-zero) weights."""
    torch.manual_seed(seed)
    g = RemasterGenerator(scale=2, channels=8, body_blocks=1, low_blocks=1, reuse_channels=4, **hparams)
    with torch.no_grad():
        for name, p in g.named_parameters():
            if not name.startswith("output_blur."):
                p.add_(torch.randn_like(p) * 0.05)
    return g.eval()


def picture(seed: int, h: int = 36, w: int = 52) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 0.8)


def pan(seed: int, frames: int, h: int = 38, w: int = 70, step: int = 2) -> np.ndarray:
    big = picture(seed, h + 8, w + 2 * frames * step)
    return np.stack([big[4 : 4 + h, 2 * frames - i * step : 2 * frames - i * step + w] for i in range(frames)])


@pytest.fixture(scope="module")
def blur_style(tmp_path_factory) -> Path:
    """A style model as train-style now writes one, made by hand: remaster-x2 with a colour skip, a
    residual and an output blur that is not the identity. Not trained; it tests the plumbing."""
    base, card = load_weights(shipped_weights("remaster-x2"))
    model = RemasterGenerator(**card["hparams"], colour_skip=True, output_blur=5)
    model.load_state_dict(base.state_dict(), strict=False)
    torch.manual_seed(9)
    with torch.no_grad():
        matrix = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.2, 0.2, 0.6]])
        model.skip_colour.weight.copy_(matrix.view(3, 3, 1, 1))
        model.to_pixels.weight.add_(torch.randn_like(model.to_pixels.weight) * 0.01)
        model.output_blur.weight.copy_(SOFT)
    path = tmp_path_factory.mktemp("styles") / "soft.safetensors"
    save_weights(model, path, {"name": "soft", "scale": 2, "summary": "soft, for tests", "style": {"exemplar": "none"},
                               "fine_tuned_from": {"name": "remaster-x2", "sha256": card["sha256"]}})
    return path


class TestTheLayer:
    def test_it_starts_as_the_identity_exactly(self):
        plain = tiny(1, colour_skip=True)
        blurred = RemasterGenerator(**{**plain.hparams, "output_blur": 5}).eval()
        missing, unexpected = blurred.load_state_dict(plain.state_dict(), strict=False)
        assert missing == ["output_blur.weight"] and not unexpected
        x = torch.rand(2, 3, 20, 28)
        with torch.no_grad():
            assert torch.equal(blurred(x), plain(x))

    def test_present_or_absent_by_its_hparam(self):
        assert tiny(0).output_blur is None and "output_blur" not in tiny(0).hparams
        assert tiny(0).output_kernel() is None
        g = tiny(0, output_blur=3)
        assert g.hparams["output_blur"] == 3 and g.output_blur.weight.shape == (3, 3)
        assert np.array_equal(g.output_kernel(), OutputBlur.identity(3).numpy())
        for bad in (2, 4, 9, -1, True, "5"):
            with pytest.raises(ValueError, match="output_blur must be one of 0, 3, 5, 7"):
                RemasterGenerator(output_blur=bad)

    def test_it_blurs_the_residual_not_the_skip(self):
        g = tiny(2, output_blur=5)
        with torch.no_grad():
            g.output_blur.weight.copy_(SOFT)
            x = torch.rand(1, 3, 16, 24)
            residual = g.residual(g.encode(x))
            shuffled = F.pixel_shuffle(residual, 4)
            blurred = F.conv2d(shuffled, SOFT.expand(3, 1, 5, 5), padding=2, groups=3)
            skip = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            torch.testing.assert_close(g.finish(residual, x), skip + blurred, rtol=0, atol=1e-6)

    def test_the_reach_counts_the_blur(self):
        # The layers reach 22 input pixels, rounded up to 24; a 7x7 blur adds 3 output pixels: 2
        # input pixels at x2 (still 24), 3 at x1 (28).
        def reach(scale: int, blur: int) -> int:
            return RemasterGenerator(scale=scale, channels=8, body_blocks=1, low_blocks=1, output_blur=blur).reach

        assert (reach(2, 0), reach(2, 7), reach(1, 0), reach(1, 7)) == (24, 24, 24, 28)
        assert tiny(0, output_blur=5).memory_per_pixel > tiny(0).memory_per_pixel


class TestCards:
    def test_the_hparam_round_trips_through_the_card(self, tmp_path):
        g = tiny(3, colour_skip=True, output_blur=5)
        with torch.no_grad():
            g.output_blur.weight.copy_(SOFT)
        card = save_weights(g, tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        assert card["hparams"]["output_blur"] == 5
        assert json.loads((tmp_path / "m.json").read_text())["hparams"]["output_blur"] == 5
        loaded, _ = load_weights(tmp_path / "m.safetensors")
        assert torch.equal(loaded.output_blur.weight, SOFT)
        x = torch.rand(1, 3, 16, 20)
        with torch.no_grad():
            assert torch.equal(loaded.eval()(x), g(x))

    def test_a_card_without_it_gives_the_output_it_gave_before(self, tmp_path):
        # Values computed with the generator as it was before the output blur existed.
        save_weights(tiny(3, colour_skip=True), tmp_path / "old.safetensors", {"name": "old", "scale": 2})
        card = json.loads((tmp_path / "old.json").read_text())
        assert "output_blur" not in card["hparams"]
        model, _ = load_weights(tmp_path / "old.safetensors")
        assert model.output_blur is None and not any(k.startswith("output_blur") for k in model.state_dict())
        x = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(4))
        with torch.no_grad():
            y = model.eval()(x)
        got = [float(y[0, c, i, j]) for c, i, j in ((0, 0, 0), (1, 5, 7), (2, 11, 30), (0, 23, 31), (1, 17, 2))]
        assert got == pytest.approx([0.459135, 0.393138, 0.696316, 0.616527, 0.370175], abs=2e-6)
        assert float(y.sum()) == pytest.approx(1188.18323, abs=2e-3)

    def test_a_kernel_of_the_wrong_size_is_one_error(self, tmp_path):
        save_weights(tiny(3, output_blur=5), tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        card = json.loads((tmp_path / "m.json").read_text())
        card["hparams"]["output_blur"] = 3
        (tmp_path / "m.json").write_text(json.dumps(card))
        with pytest.raises(ModelError, match="output_blur.weight is"):
            load_weights(tmp_path / "m.safetensors")


class TestStrength:
    def test_strength_zero_is_the_remaster_model_exactly(self, blur_style):
        x = frames_to_tensor(picture(5)[None], torch.device("cpu"))
        with torch.no_grad():
            plain = load_model("remaster-x2", scale=2)(x)
            zero = load_style(str(blur_style), scale=2, strength=0.0)
            assert torch.equal(zero.module.output_blur.weight, OutputBlur.identity(5))
            assert torch.equal(zero(x), plain)
            half = load_style(str(blur_style), scale=2, strength=0.5)(x)
            full = load_style(str(blur_style), scale=2)(x)
        assert not torch.equal(half, plain) and not torch.equal(half, full)

    def test_strength_zero_with_feature_reuse_is_the_remaster_run(self, blur_style, tmp_path):
        # Between keyframes the CPU path blurs with OpenCV: its identity kernel changes nothing either.
        src = write_lossless(tmp_path / "in.mkv", list(pan(6, 8)))
        outputs = {}
        for name, style in (("plain", None), ("zero", str(blur_style))):
            config = RemasterConfig(scale=2, style=style, style_strength=0.0, device="cpu", precision="fp32",
                                    encode=EncodeConfig(codec="ffv1", pix_fmt="bgr0"),
                                    temporal=TemporalConfig(mode="reuse"))
            report = remaster(src, tmp_path / f"{name}.mkv", config).to_dict()
            assert report["temporal"]["mode"] == "reuse"
            outputs[name], _ = decode_all(tmp_path / f"{name}.mkv")
        assert len(outputs["zero"]) == 8
        assert all(np.array_equal(a, b) for a, b in zip(outputs["zero"], outputs["plain"]))


def planned(frames: np.ndarray) -> list[PlannedBatch]:
    planner = KeyframePlanner("reuse", 4, FlowEstimator("medium", downscale=2))
    plans = [planner.plan(f) for f in frames]
    assert [p.index for p in plans if p.keyframe] == [0, 4]
    return [PlannedBatch(frames[i : i + 4], np.arange(i, i + 4), i, plans[i : i + 4]) for i in (0, 4)]


class TestEveryPath:
    @pytest.mark.parametrize("picture_warp", [False, True])
    def test_cpu_path_matches_the_batched_path_and_keyframes_are_off(self, blur_style, picture_warp):
        model = load_style(str(blur_style), scale=2)
        frames = pan(7, 8)
        outputs = {}
        for batched in (False, True):
            runner = ReuseRunner(model, strength=0.0, picture_warp=picture_warp, batched=batched)
            outputs[batched] = np.concatenate([runner.run(b) for b in planned(frames)])
        diff = outputs[False].astype(float) - outputs[True]
        # OpenCV's blur and skip against torch's: rounding only.
        assert np.abs(diff).max() <= 2 and np.sqrt(np.mean(diff**2)) <= 0.5
        # Keyframes run the operations of --temporal off; how many threads share a convolution can
        # move its float sums, and so flip a rounding (measured: 1 value of 63,840 by 1 level,
        # remaster-x2 of 2026-12-05 run with 1 torch thread against 2).
        off = run_frames(model, frames[[0, 4]]).astype(int)
        for keyframes in (outputs[False][[0, 4]], outputs[True][[0, 4]]):
            assert np.abs(keyframes - off).max() <= 1 and np.mean(keyframes != off) < 1e-4

    def test_shuffle_onto_blurs_as_the_generator_does(self):
        torch.manual_seed(6)
        residual = torch.randn(1, 48, 6, 9) * 0.1
        base = np.random.default_rng(2).integers(0, 256, (21, 33, 3), dtype=np.uint8)
        shuffled = F.conv2d(F.pixel_shuffle(residual, 4), SOFT.expand(3, 1, 5, 5), padding=2, groups=3)
        expected = torch.from_numpy(base).permute(2, 0, 1)[None].float() / 255 + shuffled[..., :21, :33]
        expected = tensor_to_frames(expected.clamp(0, 1))[0]
        cells = residual[:, cell_order(2)].contiguous(memory_format=torch.channels_last)
        got = shuffle_onto(cells, base, blur=SOFT.numpy())
        assert np.abs(got.astype(int) - expected).max() <= 1 and np.mean(got != expected) < 1e-2
        assert not np.array_equal(got, shuffle_onto(cells, base))

    def test_tiles_see_the_blur(self, blur_style):
        model = load_style(str(blur_style), scale=2)
        frame = picture(8, 100, 212)[None]  # wider than the least tile (144 px at a reach of 48)
        whole = run_frames(model, frame).astype(float)
        model.tiling = plan_tiling(60, model, width=212, height=100)
        tiled = run_frames(model, frame).astype(float)
        assert model.tiling is not None and np.sqrt(np.mean((tiled - whole) ** 2)) <= 0.5
