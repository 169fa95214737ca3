"""Temporal stage: flow and warping, keyframe planning, feature reuse and blending in the pipeline."""

from __future__ import annotations

import json
import pickle
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import decode_all, file_hash, make_clip, write_lossless

from vidstyle import remaster
from vidstyle.cli import run
from vidstyle.config import RemasterConfig, TemporalConfig
from vidstyle.errors import ConfigError
from vidstyle.models.descriptor import ModelDescriptor, TemporalHints
from vidstyle.models.generator import RemasterGenerator, centre
from vidstyle.models.registry import load_model
from vidstyle.models.weights import save_weights
from vidstyle.temporal import FlowEstimator, consistency_mask, resize_flow, warp, warp_numpy
from vidstyle.temporal import blend as blend_module
from vidstyle.temporal.blend import blend_toward, disagreement, keep_contrast
from vidstyle.temporal.cells import cell_order, shuffle_onto, space_to_depth
from vidstyle.temporal.flow import FlowPair
from vidstyle.temporal.plan import KeyframePlanner, PlannedBatch
from vidstyle.temporal.reuse import ReuseRunner
from vidstyle.temporal.stage import open_temporal
from vidstyle.temporal.warp import upscale_flow, warp_shuffled
from vidstyle.threads import on_thread, on_threads

WIDTH, HEIGHT = 96, 64


def texture(seed: int, width: int = WIDTH + 64, height: int = HEIGHT + 64) -> np.ndarray:
    """A smooth random colour texture, rich enough for optical flow."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(image, (0, 0), 1.0)


def pan(seed: int, frames: int, step: int = 1) -> list[np.ndarray]:
    """A texture panning right by ``step`` pixels per frame."""
    big = texture(seed)
    return [np.ascontiguousarray(big[16 : 16 + HEIGHT, 32 - i * step : 32 - i * step + WIDTH]) for i in range(frames)]


@pytest.fixture(scope="module")
def reuse_model(tmp_path_factory) -> Path:
    """A small generator with feature reuse and random (non-zero) weights, saved with its card."""
    torch.manual_seed(0)
    model = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1, reuse_channels=8)
    with torch.no_grad():
        for p in model.parameters():  # zero-initialised layers would hide the fusion's effect
            p.add_(torch.randn_like(p) * 0.02)
    path = tmp_path_factory.mktemp("model") / "tiny-x2.safetensors"
    save_weights(model, path, {"name": "tiny-x2", "scale": 2})
    return path


@pytest.fixture(scope="module")
def colour_skip_model(tmp_path_factory) -> Path:
    """The same with a colour skip (as style models have) that is far from the identity."""
    torch.manual_seed(0)
    model = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1, reuse_channels=8, colour_skip=True)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
        matrix = torch.tensor([[0.5, 0.4, 0.2], [0.3, 0.5, 0.1], [0.1, 0.2, 0.9]])
        model.skip_colour.weight.copy_(matrix.view(3, 3, 1, 1))
        model.skip_colour.bias.copy_(torch.tensor([0.1, -0.05, 0.0]))
    path = tmp_path_factory.mktemp("model") / "tiny-colour-x2.safetensors"
    save_weights(model, path, {"name": "tiny-colour-x2", "scale": 2})
    return path


def run_mode(src: Path, dst: Path, model: Path | str, mode: str, **temporal) -> dict:
    # Reuse runs in fp32, and --precision auto runs off and blend in bf16 on a CPU with bf16
    # instructions: the modes are compared in fp32.
    config = RemasterConfig(scale=2, model=str(model), device="cpu", precision="fp32",
                            encode=_lossless(), temporal=TemporalConfig(mode=mode, **temporal))
    return remaster(src, dst, config).to_dict()


def _lossless():
    from vidstyle.config import EncodeConfig

    return EncodeConfig(codec="ffv1", pix_fmt="bgr0")


# -- flow and warping -------------------------------------------------------------------------


class TestFlow:
    def test_recovers_a_known_shift(self):
        frames = pan(1, 2, step=3)  # frame 1 at p is frame 0 at p - 3 in x
        estimator = FlowEstimator("medium", downscale=1)
        pair = estimator.pair(estimator.prepare(frames[1]), estimator.prepare(frames[0]))
        inner = pair.flow[8:-8, 8:-8]
        assert np.median(inner[..., 0]) == pytest.approx(-3.0, abs=0.25)
        assert np.median(inner[..., 1]) == pytest.approx(0.0, abs=0.25)

    def test_a_pickled_estimator_computes_the_same_flow(self):
        # Training data workers start from a fork server and get their samplers, estimators and all, pickled.
        frames = pan(1, 2, step=3)
        estimator = FlowEstimator("fine", downscale=2)
        copy = pickle.loads(pickle.dumps(estimator))
        assert (copy.preset, copy.downscale) == ("fine", 2)
        target, source = estimator.prepare(frames[1]), estimator.prepare(frames[0])
        assert np.array_equal(copy.flow(target, source), estimator.flow(target, source))

    def test_mask_drops_points_that_leave_the_picture(self):
        frames = pan(2, 2, step=4)
        estimator = FlowEstimator("medium", downscale=1)
        pair = estimator.pair(estimator.prepare(frames[1]), estimator.prepare(frames[0]))
        # The leftmost columns of frame 1 were outside frame 0: no reliable match there.
        assert pair.mask[:, :3].mean() < 0.2
        assert pair.mask[8:-8, 16:-8].mean() > 0.9

    def test_warp_brings_the_source_onto_the_target(self):
        frames = pan(3, 2, step=2)
        estimator = FlowEstimator("medium", downscale=2)
        pair = estimator.pair(estimator.prepare(frames[1]), estimator.prepare(frames[0]))
        flow, mask = pair.at(HEIGHT, WIDTH)
        warped = warp_numpy(frames[0], flow)
        inside = mask > 0.5
        before = np.abs(frames[0].astype(float) - frames[1])[inside].mean()
        after = np.abs(warped.astype(float) - frames[1])[inside].mean()
        assert after < before / 3
        # The torch warp (grid_sample) and OpenCV's remap agree.
        source = torch.from_numpy(frames[0]).permute(2, 0, 1)[None].float()
        torch_warped = warp(source, torch.from_numpy(flow)[None])[0].permute(1, 2, 0).numpy()
        assert np.abs(torch_warped - warped).max() <= 1.0

    def test_the_fine_preset_follows_fine_detail_closer(self):
        """The default ``fine`` preset searches down to the prepared picture's own resolution: on fine
        texture under a small zoom, turn and shift, its warp leaves a third less than ``medium``'s."""
        from skimage import data as skdata

        brick = cv2.cvtColor(skdata.brick(), cv2.COLOR_GRAY2RGB)
        before = brick[192:320, 160:352]
        turn = cv2.getRotationMatrix2D((256, 256), 1.0, 1.03)
        turn[:, 2] += (1.4, 0.6)
        after = cv2.warpAffine(brick, turn, (512, 512), flags=cv2.INTER_CUBIC)[192:320, 160:352]
        left = {}
        for preset in ("medium", "fine"):
            estimator = FlowEstimator(preset, downscale=2)
            flow, _ = estimator.pair(estimator.prepare(after), estimator.prepare(before)).at(128, 192)
            left[preset] = np.abs(warp_numpy(before, flow).astype(float) - after)[8:-8, 8:-8].mean()
        assert TemporalConfig().flow_preset == "fine"
        assert left["medium"] < 0.3 * np.abs(before.astype(float) - after).mean()  # both flows hold
        assert left["fine"] < 0.75 * left["medium"]

    def test_zero_flow_is_identity_and_consistent(self):
        image = texture(4)[:HEIGHT, :WIDTH]
        zero = np.zeros((HEIGHT, WIDTH, 2), np.float32)
        assert np.array_equal(warp_numpy(image, zero), image)
        assert consistency_mask(zero, zero).min() == 1.0

    def test_warp_shuffled_moves_the_picture_by_output_pixels(self):
        # A residual whose picture is a sharp texture; a shift of one output pixel (a quarter of
        # a 4x4 cell) moves the picture by exactly one pixel, with no cell averaged into the next.
        torch.manual_seed(6)
        picture = torch.rand(1, 3, 32, 48)
        residual = F.pixel_unshuffle(picture, 4)  # (1, 48, 8, 12)
        flow = torch.zeros(1, 8, 12, 2)
        flow[..., 0] = 0.25  # in cells, upscaled to 1 output pixel
        moved = F.pixel_shuffle(warp_shuffled(residual, flow, 4), 4)
        assert torch.allclose(moved[..., :-1], picture[..., 1:], atol=1e-5)
        big = upscale_flow(flow, 4)
        assert big.shape == (1, 32, 48, 2) and torch.allclose(big[..., 0], torch.ones(1, 32, 48))
        assert torch.equal(warp_shuffled(residual, big, 4), warp_shuffled(residual, flow, 4))  # either size
        assert torch.allclose(warp_shuffled(residual, torch.zeros(1, 8, 12, 2), 4), residual, atol=1e-5)
        # Warping the channels at cell resolution instead mixes neighbouring cells' pixels.
        cells = F.pixel_shuffle(warp(residual, flow), 4)
        assert (cells[..., :-4] - picture[..., 1:-3]).abs().mean() > 0.1

    def test_resize_flow_scales_vectors(self):
        flow = np.full((10, 20, 2), 1.5, np.float32)
        big = resize_flow(flow, 30, 40)
        assert big.shape == (30, 40, 2)
        assert np.allclose(big[..., 0], 3.0) and np.allclose(big[..., 1], 4.5)

    @pytest.mark.parametrize("size", [(33, 47), (50, 66)])
    def test_sizes_not_divisible_by_the_downscale(self, size):
        h, w = size
        frames = [texture(5)[:h, :w], texture(5)[1 : h + 1, :w]]
        estimator = FlowEstimator("fast", downscale=4)
        pair = estimator.pair(estimator.prepare(frames[1]), estimator.prepare(frames[0]))
        flow, mask = pair.at(h, w)
        assert flow.shape == (h, w, 2) and mask.shape == (h, w)

    def test_tiny_frames(self):
        # DIS needs a side of 12 pixels; a 16x10 frame at downscale 2 is 8x5.
        frames = [texture(6)[:10, :16], texture(6)[:10, 1:17]]
        estimator = FlowEstimator("medium", downscale=2)
        pair = estimator.pair(estimator.prepare(frames[1]), estimator.prepare(frames[0]))
        assert pair.flow.shape == (5, 8, 2) and pair.mask.shape == (5, 8)

    @pytest.mark.parametrize("bad", [dict(preset="slowest"), dict(downscale=0), dict(downscale=1.5)])
    def test_bad_settings(self, bad):
        with pytest.raises(ValueError):
            FlowEstimator(**bad)


# -- keyframe planning -------------------------------------------------------------------------


def plan(frames, mode="reuse", interval=4):
    planner = KeyframePlanner(mode, interval, FlowEstimator("medium", downscale=2))
    return [planner.plan(f) for f in frames], planner.stats


class TestPlanner:
    def test_static_clip_keyframes_every_k(self):
        frames = [texture(6)[:HEIGHT, :WIDTH]] * 10
        plans, stats = plan(frames, interval=4)
        assert [p.index for p in plans if p.keyframe] == [0, 4, 8]
        assert all(np.abs(p.flow.flow).max() < 0.05 for p in plans if not p.keyframe)
        assert stats.cuts == [] and stats.flow_failures == 0

    def test_interval_one_makes_every_frame_a_keyframe(self):
        plans, _ = plan(pan(7, 5), interval=1)
        assert all(p.keyframe for p in plans)
        # A keyframe carries the flow to the previous frame, to blend with its output.
        assert plans[0].flow is None
        for p in plans[1:]:
            assert np.median(p.flow.flow[..., 0]) * 2 == pytest.approx(-1, abs=0.4)

    def test_reuse_flows_point_to_the_keyframe(self):
        plans, _ = plan(pan(8, 4, step=1), interval=4)
        # Frame i is i pixels right of keyframe 0: the flow to it is about -i in x.
        for i in (1, 2, 3):
            assert np.median(plans[i].flow.flow[..., 0]) * 2 == pytest.approx(-i, abs=0.4)

    def test_cuts_start_keyframes(self):
        frames = pan(9, 3) + pan(10, 3) + pan(11, 3)
        plans, stats = plan(frames, interval=100)
        assert stats.cuts == [3, 6]
        assert [p.index for p in plans if p.keyframe] == [0, 3, 6]

    def test_very_fast_motion_falls_back_to_keyframes(self):
        rng = np.random.default_rng(0)
        # Each frame a random crop of one texture, far from the last: same scene, no usable flow.
        big = texture(12, width=WIDTH * 4, height=HEIGHT * 4)
        frames = []
        for _ in range(8):
            y, x = rng.integers(0, HEIGHT * 3), rng.integers(0, WIDTH * 3)
            frames.append(np.ascontiguousarray(big[y : y + HEIGHT, x : x + WIDTH]))
        plans, stats = plan(frames, interval=100)
        assert sum(p.keyframe for p in plans) >= 6
        assert all(p.flow is None or p.flow.reliable >= 0.5 for p in plans)

    def test_blend_flows_point_to_the_previous_frame(self):
        plans, stats = plan(pan(13, 6, step=1), mode="blend", interval=2)
        assert [p.keyframe for p in plans] == [True] + [False] * 5  # no interval in blend
        for p in plans[1:]:
            assert np.median(p.flow.flow[..., 0]) * 2 == pytest.approx(-1, abs=0.4)


class TestBlend:
    def shifted(self, strength=0.7, tolerance=24.0, jump=0, contrast=False):
        """A picture and the previous one, shifted by 2 px, optionally brighter by ``jump`` levels."""
        big = texture(40).astype(np.int16)
        now = big[:HEIGHT, 2 : WIDTH + 2].astype(np.uint8)
        before = np.clip(big[:HEIGHT, :WIDTH] + jump, 0, 255).astype(np.uint8)
        flow = np.zeros((HEIGHT // 2, WIDTH // 2, 2), np.float32)
        flow[..., 0] = 1.0  # at half resolution: now[p] = before[p + (2, 0)]
        pair = FlowPair(flow, np.ones((HEIGHT // 2, WIDTH // 2), np.float32), 2)
        out = blend_toward(now, before, pair, strength=strength, tolerance=tolerance, contrast=contrast)
        return now.astype(int), before.astype(int), out.astype(int)

    def test_agreeing_pictures_are_mixed_without_change(self):
        now, _, out = self.shifted()
        # The warped previous picture equals the current one (but at the right border).
        assert np.abs(out - now)[:, : WIDTH - 4].max() <= 1

    def test_disagreeing_pictures_are_left_alone(self):
        now, before, out = self.shifted(jump=60)  # beyond the tolerance, but where clipped at white
        far = np.abs(before[:, 2:] - now[:, :-2]).mean(axis=2) > 40
        assert far.mean() > 0.8
        assert np.array_equal(out[:, :-2][far], now[:, :-2][far])

    def test_mixing_moves_towards_the_previous_output(self):
        now, _, out = self.shifted(jump=5)  # 5 levels apart: mixed with about 0.7 * (1 - 5/24)
        gap = (out - now)[:, : WIDTH - 4].mean()
        assert 2.0 < gap < 3.5

    def test_strength_zero_is_identity(self):
        now, _, out = self.shifted(strength=0.0, jump=5)
        assert np.array_equal(out, now)

    @staticmethod
    def strokes(seed: int) -> np.ndarray:
        """A grey picture of random dark strokes, a style's texture."""
        rng = np.random.default_rng(seed)
        picture = np.full((128, 192, 3), 200, np.uint8)
        for _ in range(120):
            x, y = rng.integers(0, 192), rng.integers(0, 128)
            dx, dy = rng.integers(-12, 13, 2)
            cv2.line(picture, (int(x), int(y)), (int(x + dx), int(y + dy)), (40, 40, 40), 2)
        return picture

    @staticmethod
    def detail(picture: np.ndarray) -> float:
        luma = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float((luma - cv2.GaussianBlur(luma, (0, 0), 8.0)).std())

    def test_keep_contrast_gives_two_drawings_mixed_their_contrast_back(self):
        now, before = self.strokes(50), self.strokes(51)  # two drawings whose strokes do not line up
        mixed = cv2.addWeighted(now, 0.3, before, 0.7, 0.0)
        kept = keep_contrast(mixed, now)
        assert self.detail(mixed) < 0.85 * self.detail(now)
        assert self.detail(kept) > 0.95 * self.detail(now)
        # Where the strokes lie is the mixture's: the earlier drawing still dominates.
        corr = lambda a, b: np.corrcoef(a[..., 0].ravel(), b[..., 0].ravel())[0, 1]  # noqa: E731
        assert corr(kept, before) > corr(kept, now)
        # The mean tone is kept.
        assert abs(kept.astype(float).mean() - mixed.astype(float).mean()) < 3

    def test_keep_contrast_leaves_an_unmixed_picture_alone(self):
        now = self.strokes(52)
        assert np.abs(keep_contrast(now, now).astype(int) - now).max() <= 1

    def test_keep_contrast_gain_is_capped(self):
        now = self.strokes(53)
        faint = cv2.addWeighted(now, 0.1, np.full_like(now, 180), 0.9, 0.0)  # a tenth of the contrast
        kept = keep_contrast(faint, now, max_gain=2.0)
        assert self.detail(kept) == pytest.approx(2.0 * self.detail(faint), rel=0.1)

    def test_blend_toward_with_contrast(self):
        now, _, plain = self.shifted(jump=5)
        _, _, kept = self.shifted(jump=5, contrast=True)
        # The same smooth picture: little detail lost, little to restore; the mix is the plain one.
        assert np.abs(kept - plain)[:, : WIDTH - 4].mean() < 0.5
        _, _, zero = self.shifted(strength=0.0, jump=5, contrast=True)
        assert np.abs(zero - now).max() <= 1

    def test_disagreement_is_the_quantile_of_the_outputs_own_change(self):
        # A still picture, and outputs that alternate between two greys 20 apart in the left
        # half and agree in the right half: half the differences are 20, half 0.
        inputs = np.stack([texture(41)] * 4)
        outputs = np.full((4, HEIGHT, WIDTH, 3), 100, np.uint8)
        outputs[1::2, :, : WIDTH // 2] = 120
        assert disagreement(outputs, inputs, quantile=0.9) == pytest.approx(20.0, abs=0.5)
        assert disagreement(outputs, inputs, quantile=0.25) == pytest.approx(0.0, abs=0.5)
        steady = np.repeat(outputs[:1], 4, axis=0)
        assert disagreement(steady, inputs, quantile=0.95) == 0.0
        with pytest.raises(ValueError, match="at least 2"):
            disagreement(outputs[:1], inputs[:1], quantile=0.5)


# -- the generator's reuse path ----------------------------------------------------------------


class TestGenerator:
    def test_encode_decode_is_forward(self):
        torch.manual_seed(1)
        g = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1).eval()
        x = torch.rand(1, 3, 32, 48)
        with torch.no_grad():
            assert torch.allclose(g.decode(g.encode(x), x), g(x))

    def test_untrained_fusion_passes_the_warped_residual_through(self):
        g = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1, reuse_channels=8).eval()
        x = torch.rand(1, 3, 32, 48)
        warped, residual = torch.rand(1, 16, 16, 24), torch.rand(1, 48, 16, 24)
        with torch.no_grad():
            assert torch.equal(g.propagate(warped, residual, x, torch.ones(1, 1, 16, 24)), residual)

    def test_model_without_reuse(self):
        g = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1)
        assert not g.supports_reuse
        with pytest.raises(RuntimeError, match="no feature reuse"):
            g.propagate(torch.zeros(1, 16, 4, 4), torch.zeros(1, 48, 4, 4), torch.zeros(1, 3, 8, 8),
                        torch.ones(1, 1, 4, 4))


    @pytest.mark.parametrize("scale", [2, 4])
    def test_fusion_on_rows_is_the_fusion(self, scale):
        torch.manual_seed(2)
        g = RemasterGenerator(scale=scale, channels=16, body_blocks=1, low_blocks=1, reuse_channels=8,
                              reuse_rank=4).eval()
        out = 3 * (2 * scale) ** 2
        with torch.no_grad():
            for p in g.reuse.parameters():  # up starts at zero: make every term count
                p.add_(torch.randn_like(p) * 0.1)
            x = torch.rand(1, 3, 32, 48)
            warped, residual = torch.rand(1, 16, 16, 24), torch.rand(1, out, 16, 24)
            mask = (torch.rand(1, 1, 16, 24) > 0.3).float()
            expected = g.propagate(warped, residual, x, mask)
            args = (warped.permute(0, 2, 3, 1).reshape(-1, 16), residual.permute(0, 2, 3, 1).reshape(-1, out),
                    F.pixel_unshuffle(x, 2).contiguous(memory_format=torch.channels_last), mask.reshape(-1, 1))
            rows = g.reuse.forward_rows(*args)
            correction = g.reuse.forward_rows(args[0], None, *args[2:])
        assert torch.allclose(rows.view(1, 16, 24, out).permute(0, 3, 1, 2), expected, atol=1e-5)
        assert torch.allclose(correction.view(1, 16, 24, out).permute(0, 3, 1, 2), expected - residual, atol=1e-5)

    def test_residual_and_finish_are_decode(self):
        torch.manual_seed(5)
        g = RemasterGenerator(scale=2, channels=16, body_blocks=1, low_blocks=1).eval()
        with torch.no_grad():
            g.to_pixels.weight.normal_(0, 0.05)
            x = torch.rand(1, 3, 32, 48)
            features = g.encode(x)
            assert torch.equal(g.finish(g.residual(features), x), g.decode(features, x))


class TestReuseRunner:
    """The CPU's fast path between keyframes against the plain torch one (any device)."""

    @pytest.mark.parametrize("scale", [2, 4])
    def test_shuffle_onto_is_pixel_shuffle_plus_base(self, scale):
        torch.manual_seed(3)
        f = 2 * scale
        residual = torch.randn(1, 3 * f * f, 5, 7) * 0.2
        base = np.random.default_rng(0).integers(0, 256, (5 * f - 3, 7 * f - 2, 3), dtype=np.uint8)
        expected = torch.from_numpy(base).permute(2, 0, 1)[None].float() / 255
        expected = (expected + F.pixel_shuffle(residual, f)[..., : base.shape[0], : base.shape[1]])
        expected = (expected.clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
        cells = residual[:, cell_order(scale)].contiguous(memory_format=torch.channels_last)
        got = shuffle_onto(cells, base)
        # Rounding differs only at exact halves (OpenCV rounds half to even).
        assert np.abs(got.astype(int) - expected).max() <= 1
        assert np.mean(got != expected) < 1e-3

    def test_space_to_depth_is_pixel_unshuffle_of_the_padded_frame(self):
        frame = np.random.default_rng(1).integers(0, 256, (30, 46, 3), dtype=np.uint8)
        model = ModelDescriptor("g", RemasterGenerator(scale=2, channels=8, body_blocks=1, low_blocks=1),
                                scale=2, size_multiple=4)
        padded = model.pad(torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255)
        expected = F.pixel_unshuffle(padded, 2)
        got = space_to_depth(frame, 16, 24)
        assert got.is_contiguous(memory_format=torch.channels_last)
        assert torch.allclose(got, expected)

    @pytest.mark.parametrize("picture_warp", [False, True])
    @pytest.mark.parametrize(("size", "weights"), [((96, 64), "reuse_model"), ((70, 38), "reuse_model"),
                                                   ((70, 38), "colour_skip_model")])
    def test_cpu_path_matches_the_batched_path(self, request, size, weights, picture_warp):
        width, height = size
        model = load_model(str(request.getfixturevalue(weights)), scale=2, device=torch.device("cpu"))
        frames = np.stack([f[:height, :width] for f in pan(40, 8, step=2)])
        plans, _ = plan(frames)
        assert sum(p.keyframe for p in plans) == 2
        outputs = {}
        for batched in (False, True):
            runner = ReuseRunner(model, strength=0.0, picture_warp=picture_warp, batched=batched)
            outputs[batched] = np.concatenate([runner.run(PlannedBatch(frames[i : i + 4], np.arange(i, i + 4), i,
                                                                       plans[i : i + 4])) for i in (0, 4)])
        diff = outputs[False].astype(float) - outputs[True]
        # Only rounding tells them apart: OpenCV's skip (its uint8 colour transform, the remap of
        # the residual) against torch's.
        assert np.abs(diff).max() <= 2 and np.sqrt(np.mean(diff**2)) <= 0.5
        assert np.array_equal(outputs[False][[0, 4]], outputs[True][[0, 4]])  # keyframes

    @pytest.mark.parametrize("picture_warp", [False, True])
    def test_frames_between_keyframes_keep_their_keyframes_brightness(self, reuse_model, picture_warp):
        # A still picture, the fusion's correction gated off (a clean source): a frame between keyframes is its
        # keyframe's residual, unmoved, on the frame's own skip. Its skip upscaled by OpenCV in uint8 came out 0.05
        # to 0.06 of a level darker than the keyframe's (float) one, a step of brightness every 4 frames.
        model = load_model(str(reuse_model), scale=2, device=torch.device("cpu"))
        frames = np.stack([texture(6)[:HEIGHT, :WIDTH]] * 8)
        plans, _ = plan(frames)
        runner = ReuseRunner(model, strength=0.0, picture_warp=picture_warp, grain_gate=(100.0, 200.0))
        out = runner.run(PlannedBatch(frames, np.arange(8), 0, plans)).astype(float)
        assert runner.gate_counts["uncorrected"] == 2 and runner.gate_counts["between"] == 6
        for i in (1, 2, 3, 5, 6, 7):
            key = out[0 if i < 4 else 4]
            assert abs(out[i].mean() - key.mean()) < 0.01
            assert np.abs(out[i] - key).max() <= 1

    @pytest.mark.parametrize("batched", [False, True])
    def test_a_constant_in_the_fusions_correction_does_not_reach_the_picture(self, reuse_model, batched):
        # The frames between keyframes take the median out of the fusion's correction: a fusion that darkens or
        # brightens every cell alike (here by 13 levels) would step the brightness at every keyframe.
        model = load_model(str(reuse_model), scale=2, device=torch.device("cpu"))
        frames = np.stack(pan(45, 8, step=2))
        plans, _ = plan(frames)
        runs = []
        for shift in (0.0, 0.05):
            with torch.no_grad():
                model.module.reuse.up.bias.add_(shift)
            runner = ReuseRunner(model, strength=0.0, batched=batched)
            runs.append(runner.run(PlannedBatch(frames, np.arange(8), 0, plans)))
        between = [i for i, p in enumerate(plans) if not p.keyframe]
        diff = runs[1][between].astype(float) - runs[0][between]
        assert np.abs(diff).max() <= 1 and abs(diff.mean()) < 0.01

    def test_centre_is_the_median_of_every_seventh_cell(self):
        correction = torch.full((2, 3, 70), -0.5)
        correction[..., :20] = 4.0  # a local correction over a few cells
        correction[1] += 1.0
        np.testing.assert_allclose(centre(correction).numpy(), [[-0.5] * 3, [0.5] * 3])

    def test_the_two_residual_warps_differ_between_keyframes_only(self, reuse_model):
        model = load_model(str(reuse_model), scale=2, device=torch.device("cpu"))
        frames = np.stack(pan(44, 8, step=3))  # 3 px a frame: 1.5 cells at x2, never whole ones
        plans, _ = plan(frames)
        cells, picture = (ReuseRunner(model, strength=0.0, picture_warp=w)
                          .run(PlannedBatch(frames, np.arange(8), 0, plans)) for w in (False, True))
        keys = [p.index for p in plans if p.keyframe]
        between = [i for i in range(8) if i not in keys]
        assert np.array_equal(cells[keys], picture[keys])
        assert np.abs(cells[between].astype(int) - picture[between]).mean() > 0.05

    def test_contrast_is_kept_at_keyframes_only(self, reuse_model, monkeypatch):
        model = load_model(str(reuse_model), scale=2, device=torch.device("cpu"))
        frames = np.stack(pan(43, 8))
        plans, _ = plan(frames)
        assert [p.index for p in plans if p.keyframe] == [0, 4]
        calls = []
        real = blend_module.keep_contrast
        monkeypatch.setattr(blend_module, "keep_contrast", lambda *a, **k: calls.append(1) or real(*a, **k))
        runner = ReuseRunner(model, contrast=True)
        runner.run(PlannedBatch(frames, np.arange(8), 0, plans))
        assert len(calls) == 1  # the second keyframe, blended towards frame 3's output
        assert ReuseRunner(model, contrast=False).run(PlannedBatch(frames, np.arange(8), 0, plans)).shape[0] == 8
        assert len(calls) == 1

    def test_keyframes_run_ahead_give_the_same_frames(self, reuse_model):
        model = load_model(str(reuse_model), scale=2, device=torch.device("cpu"))
        frames = np.stack(pan(41, 8))
        plans, _ = plan(frames)
        inline = ReuseRunner(model).run(PlannedBatch(frames, np.arange(8), 0, plans))
        runner = ReuseRunner(model)
        ahead = runner.run(runner.keyframes(PlannedBatch(frames, np.arange(8), 0, plans)))
        assert np.array_equal(inline, ahead)

    def test_threads_are_restored_after_a_reuse_run(self, tmp_path, reuse_model):
        src = write_lossless(tmp_path / "c.mkv", pan(42, 6))
        before = torch.get_num_threads()
        run_mode(src, tmp_path / "out.mkv", reuse_model, "reuse")
        assert torch.get_num_threads() == before


class TestTemporalHints:
    """What a model supports travels in its descriptor's TemporalHints; the stage reads only those."""

    def test_the_loader_fills_the_hints_from_the_architecture(self, reuse_model, tmp_path):
        assert load_model(str(reuse_model), scale=2).temporal == TemporalHints(supports_reuse=True)
        assert load_model("bicubic", scale=2).temporal == TemporalHints()
        plain = tmp_path / "plain-x2.safetensors"
        save_weights(RemasterGenerator(scale=2, channels=8, body_blocks=1, low_blocks=1), plain,
                     {"name": "plain-x2", "scale": 2})
        assert not load_model(str(plain), scale=2).temporal.supports_reuse

    def test_the_stage_asks_the_descriptor_not_the_network(self, reuse_model):
        model = load_model(str(reuse_model), scale=2)
        assert open_temporal(TemporalConfig(mode="auto"), model).mode == "reuse"
        model.temporal = TemporalHints()  # the same network, said not to reuse features
        assert open_temporal(TemporalConfig(mode="auto"), model).mode == "off"
        with pytest.raises(ConfigError, match="cannot reuse features"):
            open_temporal(TemporalConfig(mode="reuse"), model)
        with pytest.raises(ValueError, match="has no feature reuse"):
            ReuseRunner(model)
        hinted = TemporalHints(supports_reuse=True, residual_warp="picture", blend_contrast=True, blend_tolerance=50.0)
        model.temporal = hinted
        runner = open_temporal(TemporalConfig(mode="reuse"), model).runner
        assert (runner.picture_warp, runner.contrast, runner.tolerance) == (True, True, 50.0)

    def test_an_unknown_residual_warp_is_refused(self):
        with pytest.raises(ValueError, match="residual_warp must be one of cells, picture"):
            TemporalHints(residual_warp="pixels")


class TestOnThread:
    def test_in_order(self):
        assert list(on_thread(range(20), lambda x: x * x, name="t", depth=2)) == [x * x for x in range(20)]

    def test_two_workers_keep_the_order(self):
        def slow_on_even(x):
            time.sleep(0.02 if x % 2 == 0 else 0.0)  # odd items finish first
            return x

        assert list(on_threads(range(12), slow_on_even, name="t", workers=2)) == list(range(12))

    def test_two_workers_pass_errors_and_close_the_source(self):
        closed = threading.Event()

        def source():
            try:
                yield from range(100)
            finally:
                closed.set()

        def fn(x):
            if x == 5:
                raise ValueError("bad item 5")
            return x

        got = []
        with pytest.raises(ValueError, match="bad item 5"):
            for item in on_threads(source(), fn, name="vidstyle-test-pool", workers=2):
                got.append(item)
        assert got == [0, 1, 2, 3, 4] and closed.is_set()
        assert not any(t.name.startswith("vidstyle-test-pool") for t in threading.enumerate())

    def test_errors_reach_the_consumer(self):
        def fn(x):
            if x == 3:
                raise ValueError("bad item 3")
            return x

        got = []
        with pytest.raises(ValueError, match="bad item 3"):
            for item in on_thread(range(10), fn, name="t"):
                got.append(item)
        assert got == [0, 1, 2]

    def test_closing_early_stops_the_thread_and_closes_the_source(self):
        closed = threading.Event()

        def source():
            try:
                yield from range(1000)
            finally:
                closed.set()

        items = on_thread(source(), lambda x: x, name="vidstyle-test-stop", depth=1)
        assert next(items) == 0
        items.close()
        assert closed.wait(5)
        assert not any(t.name == "vidstyle-test-stop" for t in threading.enumerate())


# -- in the pipeline ----------------------------------------------------------------------------


def two_shots(tmp_path: Path, *, cut_every: int = 5, shots: int = 2) -> Path:
    frames = []
    for shot in range(shots):
        frames += pan(20 + shot, cut_every)
    return write_lossless(tmp_path / "shots.mkv", frames)


class TestPipeline:
    def test_first_frame_after_a_cut_equals_off(self, tmp_path, reuse_model):
        src = two_shots(tmp_path, cut_every=6)
        run_mode(src, tmp_path / "off.mkv", reuse_model, "off")
        reuse = run_mode(src, tmp_path / "reuse.mkv", reuse_model, "reuse", keyframe_interval=100)
        assert reuse["temporal"]["scene_cuts"] == [6]
        assert reuse["temporal"]["keyframes"] == 2
        off_frames, _ = decode_all(tmp_path / "off.mkv")
        reuse_frames, _ = decode_all(tmp_path / "reuse.mkv")
        assert len(off_frames) == len(reuse_frames) == 12
        for i in (0, 6):  # keyframes: the first frame and the first after the cut
            assert np.array_equal(off_frames[i], reuse_frames[i]), f"frame {i} differs"
        # Between keyframes the features are reused: the pictures are close but not the same.
        differs = [i for i in range(12) if not np.array_equal(off_frames[i], reuse_frames[i])]
        assert differs and set(differs) <= set(range(1, 6)) | set(range(7, 12))
        diff = np.mean([np.abs(off_frames[i].astype(float) - reuse_frames[i]).mean() for i in differs])
        assert diff < 20

    def test_cut_every_few_frames(self, tmp_path, reuse_model):
        src = two_shots(tmp_path, cut_every=3, shots=4)
        report = run_mode(src, tmp_path / "out.mkv", reuse_model, "reuse")
        assert report["temporal"]["scene_cuts"] == [3, 6, 9]
        assert report["frames"] == 12

    def test_one_frame_clip(self, tmp_path, reuse_model):
        src = write_lossless(tmp_path / "one.mkv", pan(30, 1))
        for mode in ("reuse", "blend"):
            report = run_mode(src, tmp_path / f"{mode}.mkv", reuse_model, mode)
            assert report["frames"] == 1 and report["temporal"]["keyframes"] == 1
            assert len(decode_all(tmp_path / f"{mode}.mkv")[0]) == 1

    def test_static_clip_reuses_features(self, tmp_path, reuse_model):
        src = write_lossless(tmp_path / "static.mkv", [texture(31)[:HEIGHT, :WIDTH]] * 9)
        report = run_mode(src, tmp_path / "out.mkv", reuse_model, "reuse", keyframe_interval=4)
        assert report["temporal"]["keyframes"] == 3 and report["temporal"]["reused_frames"] == 6

    @pytest.mark.parametrize("size", [(70, 38), (16, 10)])
    def test_odd_and_tiny_sizes(self, tmp_path, reuse_model, size):
        width, height = size
        src = make_clip(tmp_path / "odd.mp4", frames=6, width=width, height=height, audio=False)
        report = run_mode(src, tmp_path / "out.mkv", reuse_model, "reuse")
        assert report["output_size"] == [2 * width, 2 * height]
        frames, _ = decode_all(tmp_path / "out.mkv")
        assert len(frames) == 6 and frames[0].shape == (2 * height, 2 * width, 3)

    def test_blend_works_for_any_model(self, tmp_path):
        src = two_shots(tmp_path, cut_every=5)
        report = run_mode(src, tmp_path / "out.mkv", "bicubic", "blend")
        assert report["temporal"]["mode"] == "blend"
        assert report["temporal"]["scene_cuts"] == [5]
        off = run_mode(src, tmp_path / "off.mkv", "bicubic", "off")
        assert off["temporal"] == {"mode": "off", "asked": "off"}
        a, _ = decode_all(tmp_path / "out.mkv")
        b, _ = decode_all(tmp_path / "off.mkv")
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[5], b[5])  # nothing to blend with

    def test_auto_picks_reuse_only_when_the_model_can(self, tmp_path, reuse_model):
        src = write_lossless(tmp_path / "c.mkv", pan(32, 4))
        picked = run_mode(src, tmp_path / "a.mkv", reuse_model, "auto")["temporal"]
        assert picked["mode"] == "reuse" and picked["asked"] == "auto" and "can reuse" in picked["why"]
        picked = run_mode(src, tmp_path / "b.mkv", "bicubic", "auto")["temporal"]
        assert picked["mode"] == "off" and picked["asked"] == "auto" and "cannot reuse" in picked["why"]

    def test_reuse_refused_for_a_model_without_it(self, tmp_path):
        src = write_lossless(tmp_path / "c.mkv", pan(33, 3))
        with pytest.raises(ConfigError, match="cannot reuse features"):
            run_mode(src, tmp_path / "out.mkv", "bicubic", "reuse")
        assert not (tmp_path / "out.mkv").exists()


class TestCli:
    @pytest.mark.parametrize("option, value", [
        ("--keyframe-interval", "0"), ("--keyframe-interval", "-2"), ("--keyframe-interval", "x"),
        ("--blend-strength", "1.0"), ("--blend-strength", "-0.1"), ("--temporal", "smooth"),
        ("--flow-preset", "slow"),
    ])
    def test_bad_temporal_options(self, tmp_path, capsys, option, value):
        src = make_clip(tmp_path / "c.mp4", frames=3)
        digest = file_hash(src)
        before = sorted(p.name for p in tmp_path.iterdir())
        for command in ("remaster", "preview"):
            code = run([command, str(src), "-o", str(tmp_path / "o.mp4"), option, value])
            err = capsys.readouterr().err
            assert code == 2
            assert [line for line in err.splitlines() if line.startswith("error:")] == [err.strip()]
            assert option in err
        assert sorted(p.name for p in tmp_path.iterdir()) == before
        assert file_hash(src) == digest

    def test_reuse_with_bicubic_is_one_error_line(self, tmp_path, capsys):
        src = make_clip(tmp_path / "c.mp4", frames=3)
        digest = file_hash(src)
        code = run(["remaster", str(src), "-o", str(tmp_path / "o.mp4"), "--model", "bicubic",
                    "--temporal", "reuse", "-q"])
        err = capsys.readouterr().err.strip()
        assert code == 1 and err.startswith("error:") and "\n" not in err
        assert "--temporal blend or off" in err
        assert file_hash(src) == digest and not (tmp_path / "o.mp4").exists()

    def test_report_lists_cuts(self, tmp_path, capsys, reuse_model):
        src = two_shots(tmp_path, cut_every=4)
        report = tmp_path / "r.json"
        code = run(["remaster", str(src), "-o", str(tmp_path / "o.mkv"), "--model", str(reuse_model),
                    "--codec", "ffv1", "-q", "--report", str(report)])
        assert code == 0
        data = json.loads(report.read_text())
        assert data["temporal"]["mode"] == "reuse" and data["temporal"]["scene_cuts"] == [4]
