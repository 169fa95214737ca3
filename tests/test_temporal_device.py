"""The GPU path of the temporal stage (issue 17, part 6), run by torch on the CPU.

The same code runs on CUDA; here it is checked against the per-frame OpenCV path on a small real
clip: the frames between keyframes as one batch on the model's device, the blends there, one
copy each way per batch. Then what ``--temporal auto`` picks on each kind of device, and which
stage a run names as the slowest.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import decode_all, make_clip, moving_crops, write_lossless
from skimage import data

import vidstyle.temporal.reuse as reuse_module
from vidstyle import remaster
from vidstyle.cli import run
from vidstyle.config import EncodeConfig, GrainConfig, RangeConfig, RemasterConfig, RepairConfig, TemporalConfig
from vidstyle.engine import STAGES, RemasterResult
from vidstyle.models.condition import noise_sigma
from vidstyle.models.descriptor import ModelDescriptor, TemporalHints, run_frames
from vidstyle.models.generator import RemasterGenerator
from vidstyle.models.registry import load_model
from vidstyle.models.styles import load_style
from vidstyle.temporal import stage as stage_module
from vidstyle.temporal.blend import BlendRunner, blend_toward, blend_toward_levels, keep_contrast
from vidstyle.temporal.cells import flow_at
from vidstyle.temporal.device import flows_at, keep_contrast_levels, luma_levels, upload_flows
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.plan import KeyframePlanner, PlannedBatch
from vidstyle.temporal.reuse import (
    ReuseRunner,
    blend_weight,
    correction_weight,
    source_noise,
    temporal_noise,
)
from vidstyle.temporal.stage import CLEAN_SOURCE, auto_mode, open_temporal

CPU = torch.device("cpu")
#: Within rounding: what the issue asks of the batched path against the per-frame one.
MAX_RMS, MAX_LEVELS = 0.5, 2
#: The same picture through a style at 8 and at 16 bits (TestSixteenBits): within rounding, a style's amplified.
STYLE_DEPTH_RMS = 0.6


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> np.ndarray:
    """12 frames of a camera panning over a real photograph, 96x64, through FFV1 and back."""
    frames = moving_crops(data.astronaut(), 12, (1.5, 0.5), 96, 64)
    path = write_lossless(tmp_path_factory.mktemp("clip") / "pan.mkv", frames)
    return np.stack(decode_all(path)[0])


@pytest.fixture(scope="module")
def models() -> dict[str, ModelDescriptor]:
    """remaster-x2 (residual warped in cells) and the ink style (warped as a picture, blends that
    keep their contrast, a colour skip): the two ways the runner works."""
    return {"remaster-x2": load_model("remaster-x2", scale=2, device=CPU),
            "ink": load_style("ink", scale=2, device=CPU)}


def planned(frames: np.ndarray, mode: str, batch: int) -> list[PlannedBatch]:
    """``frames`` planned (keyframe interval 4) and cut into batches of ``batch``."""
    planner = KeyframePlanner(mode, 4, FlowEstimator("medium", downscale=2))
    plans = [planner.plan(frame) for frame in frames]
    return [PlannedBatch(frames[i : i + batch], np.arange(i, i + batch), i, plans[i : i + batch])
            for i in range(0, len(frames), batch)]


def run_through(runner, batches: list[PlannedBatch]) -> np.ndarray:
    return np.concatenate([runner.run(batch) for batch in batches])


def runner_for(kind, model: ModelDescriptor, *, batched: bool, **settings):
    hints = model.temporal
    settings.setdefault("contrast", hints.blend_contrast)
    if kind is ReuseRunner:
        settings["picture_warp"] = hints.residual_warp == "picture"
    return kind(model, batched=batched, **settings)


def assert_within_rounding(a: np.ndarray, b: np.ndarray, *, rms: float = MAX_RMS, levels: int = MAX_LEVELS) -> None:
    diff = a.astype(np.float64) - b
    assert np.sqrt(np.mean(diff**2)) <= rms, f"RMS {np.sqrt(np.mean(diff ** 2)):.3f} levels"
    assert np.abs(diff).max() <= levels


def levels_for(model: ModelDescriptor, levels: int = MAX_LEVELS) -> int:
    """The largest difference in levels allowed for ``model``: a style's learned output blur
    (``output_blur``) multiplies a level of rounding in the residual by its kernel's L1 norm
    (about 2 for the bundled styles, whose kernels sharpen as well as blur)."""
    blur = getattr(model.module, "output_blur", None)
    gain = float(blur.weight.detach().abs().sum()) if blur is not None else 1.0
    return int(np.ceil(levels * max(1.0, gain)))


def tiny_generator() -> ModelDescriptor:
    generator = RemasterGenerator(scale=2, channels=8, body_blocks=1, low_blocks=1, reuse_channels=4)
    return ModelDescriptor("tiny", generator, 2, size_multiple=4, temporal=TemporalHints(supports_reuse=True))


# -- the device's kernels against OpenCV's -----------------------------------------------------


class TestDeviceKernels:
    def test_luma_is_opencvs_to_the_level(self):
        picture = np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8)
        levels = torch.from_numpy(picture).permute(2, 0, 1)[None].float()
        assert np.array_equal(luma_levels(levels)[0, 0].numpy(), cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY))

    def test_flows_are_resampled_and_padded_as_on_the_cpu(self, clip):
        estimator = FlowEstimator("medium", downscale=2)
        pair = estimator.pair(estimator.prepare(clip[3]), estimator.prepare(clip[0]))
        flows, masks = upload_flows([pair, pair], CPU)
        for size, padded in (((32, 48), (32, 48)), ((128, 192), (132, 200)), ((35, 50), (36, 52))):
            got_flow, got_mask = flows_at(flows, masks, size, padded)
            want_flow, want_mask = flow_at(pair, size, padded)
            assert got_flow.shape == (2, *padded, 2) and got_mask.shape == (2, 1, *padded)
            assert np.allclose(got_flow[1].numpy(), want_flow, atol=1e-4)
            assert np.allclose(got_mask[1, 0].numpy(), want_mask, atol=1e-5)
        on_grid, _ = flows_at(flows, None, (32, 48), (32, 48), on_remap_grid=True)
        assert np.array_equal(on_grid.numpy() * 32, np.round(on_grid.numpy() * 32))

    @pytest.mark.parametrize(("strength", "tolerance", "contrast"), [(0.7, 24.0, False), (0.5, 50.0, True)])
    def test_blend_matches_opencvs(self, clip, strength, tolerance, contrast):
        estimator = FlowEstimator("medium", downscale=2)
        now, before = clip[5], clip[3].astype(np.int16) + 6  # 3 px apart, 6 levels brighter: mixed in
        before[20:40, 30:60] += 60  # and a patch that is not: left alone
        before = np.clip(before, 0, 255).astype(np.uint8)
        pair = estimator.pair(estimator.prepare(now), estimator.prepare(clip[3]))
        want = blend_toward(now, before, pair, strength=strength, tolerance=tolerance, contrast=contrast)
        flows, masks = upload_flows([pair], CPU)
        flows, masks = flows_at(flows, masks, now.shape[:2], now.shape[:2])
        levels = [torch.from_numpy(f).permute(2, 0, 1)[None].float() for f in (now, before)]
        got = blend_toward_levels(*levels, flows, masks, strength=strength, tolerance=tolerance, contrast=contrast)
        got = got[0].permute(1, 2, 0).numpy()
        assert np.abs(want.astype(int) - now).mean() > 1.0  # something was mixed in
        assert_within_rounding(got, want)

    def test_keep_contrast_matches_opencvs(self):
        rng = np.random.default_rng(3)
        drawings = []
        for _ in range(2):  # two drawings of dark strokes whose strokes do not line up
            picture = np.full((64, 96, 3), 200, np.uint8)
            for _ in range(60):
                x, y, dx, dy = rng.integers(0, 96), rng.integers(0, 64), *rng.integers(-10, 11, 2)
                cv2.line(picture, (int(x), int(y)), (int(x + dx), int(y + dy)), (40, 60, 40), 2)
            drawings.append(picture)
        mixed = cv2.addWeighted(drawings[0], 0.3, drawings[1], 0.7, 0.0)
        want = keep_contrast(mixed, drawings[0])
        levels = [torch.from_numpy(p).permute(2, 0, 1)[None].float() for p in (mixed, drawings[0])]
        got = keep_contrast_levels(*levels, sigma=8.0, max_gain=2.0)[0].permute(1, 2, 0).numpy()
        assert np.abs(want.astype(int) - mixed).mean() > 2.0  # the contrast was given back
        assert_within_rounding(got, want)


# -- the batched path -------------------------------------------------------------------------


class TestBatchedReuse:
    @pytest.mark.parametrize("batch", [4, 8])
    @pytest.mark.parametrize("name", ["remaster-x2", "ink"])
    def test_matches_the_per_frame_path(self, clip, models, name, batch):
        """Batches of 8 hold two keyframes: the blends chain through them in frame order."""
        batches = planned(clip, "reuse", batch)
        assert sum(p.keyframe for b in batches for p in b.plans) == 3
        outputs = {batched: run_through(runner_for(ReuseRunner, models[name], batched=batched), batches)
                   for batched in (False, True)}
        assert_within_rounding(outputs[True], outputs[False], levels=levels_for(models[name]))
        assert np.array_equal(outputs[True][0], outputs[False][0])  # a keyframe with nothing to blend

    def test_the_grain_gate_weights_the_correction_alike_on_both_paths(self, clip, models):
        """The correction weighted 0 (the warped residual alone, the fusion skipped), 1 (as trained)
        and in between, where the output is the mix of the two within rounding: the weight scales
        the correction and nothing else."""
        model = models["remaster-x2"]
        sigma = max(noise_sigma(frame) for frame in clip)
        batches = planned(clip, "reuse", 4)
        gates = {0.0: (sigma + 1.0, sigma + 2.0), 1.0: None, "mid": (0.0, 2.0 * sigma + 1e-3)}
        out = {}
        for name, gate in gates.items():
            paths = {batched: run_through(ReuseRunner(model, strength=0.0, picture_warp=True, grain_gate=gate,
                                                      batched=batched), batches) for batched in (False, True)}
            assert_within_rounding(paths[True], paths[False])
            out[name] = paths[False].astype(np.float64)
        # The residual warped over cells (remaster-x1 and x4) skips the fusion alike on both paths.
        cells = {batched: run_through(ReuseRunner(model, strength=0.0, grain_gate=gates[0.0], batched=batched), batches)
                 for batched in (False, True)}
        assert_within_rounding(cells[True], cells[False])
        between = [i for i in range(len(clip)) if i % 4]
        assert np.array_equal(out[0.0][::4], out[1.0][::4])  # keyframes run the whole generator either way
        assert np.sqrt(np.mean((out[0.0][between] - out[1.0][between]) ** 2)) > 0.5  # the gate took something
        weights = [correction_weight(clip[k], gates["mid"]) for k in (0, 4, 8)]
        assert all(0.25 < w < 0.75 for w in weights)
        for i in between:
            w = weights[i // 4]
            mixed = (1 - w) * out[0.0][i] + w * out[1.0][i]
            assert np.sqrt(np.mean((out["mid"][i] - mixed) ** 2)) < 0.6

    def test_the_change_gate_brings_the_correction_back_where_the_frame_changed(self, clip, models):
        """A dust speck on a frame between keyframes of a clean clip: the grain gate alone leaves it
        uncorrected; the change gate corrects it as the fusion would everywhere, and leaves the
        picture away from it as the grain gate does. Both paths agree."""
        model = models["remaster-x2"]
        specked = clip.copy()
        specked[2, 30:34, 40:44] = specked[2, 30:34, 40:44] // 4  # dark, 4x4 pixels
        batches = planned(specked, "reuse", 4)
        assert not batches[0].plans[2].keyframe
        clean_gate = (noise_sigma(clip[0]) + 1.0, noise_sigma(clip[0]) + 2.0)  # the grain gate at 0

        def run(batched, **gates):
            runner = ReuseRunner(model, strength=0.0, picture_warp=True, batched=batched, **gates)
            return run_through(runner, batches)[2].astype(int)

        full, grain_only = run(False), run(False, grain_gate=clean_gate)
        changed = {batched: run(batched, grain_gate=clean_gate, change_gate=(16.0, 32.0)) for batched in (False, True)}
        assert_within_rounding(changed[True], changed[False])
        speck = (slice(60, 68), slice(80, 88))  # x2
        assert np.abs(full[speck] - grain_only[speck]).mean() > 5.0  # the correction mends the speck
        assert np.abs(changed[False][speck] - full[speck]).max() <= 1
        far = np.ones(full.shape[:2], bool)
        far[48:80, 68:100] = False  # the speck and the cells around it
        moved = np.abs(changed[False] - grain_only).max(axis=2)[far] > 0
        assert moved.mean() < 0.2, f"{moved.mean():.1%} of the picture away from the speck was corrected"

    def test_the_keyframes_correction_weight_follows_its_grain(self, clip):
        assert correction_weight(clip[0], None) == 1.0
        grainy = np.clip(clip[0] + np.random.default_rng(1).normal(0, 6, clip[0].shape), 0, 255).astype(np.uint8)
        sigma, sigma_grainy = noise_sigma(clip[0]), noise_sigma(grainy)
        assert sigma < 1.5 < 3.0 < sigma_grainy  # clean and grainy, either side of remaster-x2's gate
        assert correction_weight(clip[0], (1.5, 3.0)) == 0.0 and correction_weight(grainy, (1.5, 3.0)) == 1.0
        assert correction_weight(clip[0], (sigma - 1.0, sigma + 1.0)) == pytest.approx(0.5)

    def test_the_blend_gate_leaves_a_clean_source_unblended_and_blends_a_noisy_one(self, clip, models):
        """Frames that differ from their keyframes by no more than rounding where flat (the clip is
        lossless) get no blend: the output is the unblended one. The same frames with independent
        noise on each blend as fully as with no gate. Both paths agree."""
        model = models["remaster-x2"]
        noisy = np.clip(clip + np.random.default_rng(4).normal(0, 4, clip.shape), 0, 255).astype(np.uint8)
        # Keyframes keep their input for the gates (the grain gate's weight below 1) on either source.
        gates = {"grain_gate": (max(noise_sigma(f) for f in noisy) + 1.0, 100.0), "change_gate": (16.0, 32.0)}

        def run(frames, batched, **settings):
            runner = ReuseRunner(model, picture_warp=True, batched=batched, **gates, **settings)
            return run_through(runner, planned(frames, "reuse", 4)), runner

        for frames, gated_like in ((clip, {"strength": 0.0}), (noisy, {})):
            expected, _ = run(frames, False, **gated_like)
            for batched in (False, True):
                out, runner = run(frames, batched, blend_gate=(1.5, 2.5))
                assert_within_rounding(out, expected)
                if not batched:
                    assert runner.gate_counts["blended"] == len(frames) - 1
            assert (runner.gate_counts["blend_sum"] == 0.0) == (frames is clip)
        unblended, _ = run(noisy, False, strength=0.0)
        assert np.sqrt(np.mean((expected.astype(float) - unblended) ** 2)) > 0.5  # the blend did something

    def test_the_blend_gate_reads_the_frames_as_decoded(self, clip, models):
        """Behind a repair stage (its batches keep the frames as decoded), the gate reads the source's
        noise before the repair took it: the repaired frames of a noisy film blend in full."""
        model = models["remaster-x2"]
        noisy = np.clip(clip + np.random.default_rng(4).normal(0, 4, clip.shape), 0, 255).astype(np.uint8)
        gates = {"grain_gate": (max(noise_sigma(f) for f in noisy) + 1.0, 100.0), "change_gate": (16.0, 32.0)}
        batches = planned(clip, "reuse", 4)
        repaired = [replace(b, decoded=noisy[b.first_index : b.first_index + len(b)]) for b in batches]
        expected = run_through(ReuseRunner(model, picture_warp=True, batched=False, **gates), planned(clip, "reuse", 4))
        for batched in (False, True):
            runner = ReuseRunner(model, picture_warp=True, batched=batched, blend_gate=(1.5, 2.5), **gates)
            assert_within_rounding(run_through(runner, repaired), expected)
            assert runner.gate_counts["blend_sum"] == runner.gate_counts["blended"] == len(clip) - 1

    def test_the_temporal_noise_reads_the_flat_picture(self):
        rng = np.random.default_rng(5)
        ramp = np.tile(np.linspace(60, 120, 128, dtype=np.float32), (96, 1))  # 0.47 levels a pixel: flat
        ramp[:, 64:] = np.where(np.indices((96, 64)).sum(0) // 2 % 2, 230.0, 20.0)  # a fine check
        difference = np.zeros((96, 128), np.float32)
        difference[:, :64] = rng.integers(0, 7, (96, 64))  # 0..6 where flat: median 3
        difference[:, 64:] = 40.0  # a warp off by a pixel on the texture
        assert temporal_noise(difference, ramp) == 3.0
        textured = np.ascontiguousarray(np.tile(ramp[:, 64:], (1, 2)))
        assert temporal_noise(difference, textured) is None  # nothing flat: no reading

    def test_the_blend_weight_ramps_between_the_gates_levels(self):
        assert blend_weight(None, (1.5, 2.5)) == 1.0 and blend_weight(0.5, None) == 1.0
        assert [blend_weight(n, (1.5, 2.5)) for n in (0.0, 1.5, 2.0, 2.5, 9.0)] == [0.0, 0.0, 0.5, 1.0, 1.0]

    def test_keyframes_are_the_frame_by_frame_output(self, clip, models):
        model = models["remaster-x2"]
        out = run_through(ReuseRunner(model, strength=0.0, batched=True), planned(clip, "reuse", 4))
        for k in (0, 4, 8):
            # The keyframes run as a batch here and alone in run_frames: the convolutions may sum in
            # another order, so a level may round the other way, at a few pixels.
            diff = np.abs(out[k].astype(int) - run_frames(model, clip[k : k + 1])[0].astype(int))
            assert diff.max() <= 1 and (diff > 0).mean() < 0.001

    def test_one_copy_up_and_one_down_per_batch(self, clip, models, monkeypatch):
        calls: dict[str, list[int]] = {"frames up": [], "flows up": [], "down": []}

        def counted(name, real, size):
            return lambda *a, **k: calls[name].append(size(*a)) or real(*a, **k)

        monkeypatch.setattr(reuse_module, "upload_flows",
                            counted("flows up", reuse_module.upload_flows, lambda pairs, _: len(pairs)))
        monkeypatch.setattr(reuse_module, "levels_to_frames",
                            counted("down", reuse_module.levels_to_frames, lambda levels, *_: len(levels)))
        runner = ReuseRunner(models["remaster-x2"], batched=True)
        batches = [runner.keyframes(b) for b in planned(clip, "reuse", 8)]  # as the keyframe thread does
        monkeypatch.setattr(reuse_module, "frames_to_tensor",
                            counted("frames up", reuse_module.frames_to_tensor, lambda frames, _: len(frames)))
        monkeypatch.setattr(reuse_module, "tensor_to_frames", lambda *a: pytest.fail("a frame copied alone"))
        for b in batches:
            runner.run(b)
        # Batch 1: keyframes 0 and 4, six frames between; batch 2 (4 frames): keyframe 8, three between.
        assert calls == {"frames up": [6, 3], "flows up": [7, 4], "down": [8, 4]}

    def test_the_per_frame_path_is_refused_off_the_cpu(self):
        model = tiny_generator().to("meta")
        assert ReuseRunner(model).batched and BlendRunner(model).batched  # the default off the CPU
        with pytest.raises(ValueError, match="runs on the CPU"):
            ReuseRunner(model, batched=False)

    def test_the_cpu_keeps_the_per_frame_path(self, models):
        stage = open_temporal(TemporalConfig(mode="reuse"), models["remaster-x2"])
        assert not stage.runner.batched and stage.report()["batched"] is False

    def test_the_report_counts_the_gated_keyframes(self, clip, models):
        stage = open_temporal(TemporalConfig(mode="reuse"), models["remaster-x2"])
        assert stage.runner.grain_gate == (1.5, 3.0)  # remaster-x2's card
        grainy = np.clip(clip + np.random.default_rng(2).normal(0, 6, clip.shape), 0, 255).astype(np.uint8)
        run_through(stage.runner, planned(np.concatenate([clip[:8], grainy[8:]]), "reuse", 4))
        gate = stage.report()["grain_gate"]
        # keyframes 0 and 4 clean (uncorrected), keyframe 8 grainy (corrected in full)
        between = gate.pop("mean_correction_between")
        assert gate == {"low": 1.5, "high": 3.0, "keyframes": 3, "uncorrected_keyframes": 2,
                        "mean_correction": pytest.approx(1 / 3, abs=1e-3), "change_gate": [16.0, 32.0],
                        "blend_gate": [1.5, 2.5], "blended_frames": 11, "mean_blend": pytest.approx(4 / 11, abs=1e-3)}
        # every frame but the first blends: frames 1-7 (clean, no noise between frames) not at all, the grainy
        # keyframe 8 and frames 9-11 in full
        # frames 9-11 corrected in full, 1-3 and 5-7 where they changed from their keyframes
        assert 1 / 3 < between < 1
        assert "grain_gate" not in open_temporal(TemporalConfig(mode="reuse"), models["ink"]).report()


class TestWholeGate:
    """``--temporal auto``'s whole gate: a frame between keyframes of a clean source runs the whole
    generator, as ``off`` does; a noisy source reuses, as without the gate."""

    @pytest.fixture(scope="class")
    def noisy(self, clip) -> np.ndarray:
        # Independent noise of 6 levels on each frame: its luma differs from frame to frame by a
        # median of about 3.8 levels where flat, above remaster-x2's gate of 2.5.
        return np.clip(clip + np.random.default_rng(6).normal(0, 6, clip.shape), 0, 255).astype(np.uint8)

    @pytest.mark.parametrize("batched", [False, True])
    def test_a_clean_source_runs_every_frame_whole(self, clip, models, batched):
        model = models["remaster-x2"]
        runner = ReuseRunner(model, strength=0.0, picture_warp=True, batched=batched, whole_gate=2.5)
        out = run_through(runner, planned(clip, "reuse", 4))
        assert runner.gate_counts["whole"] == len(clip) - 3  # all but keyframes 0, 4 and 8
        reused = run_through(ReuseRunner(model, strength=0.0, picture_warp=True, batched=batched),
                             planned(clip, "reuse", 4))
        for k in range(len(clip)):
            # as the keyframes test above: alone in run_frames, a level may round the other way
            diff = np.abs(out[k].astype(int) - run_frames(model, clip[k : k + 1])[0].astype(int))
            assert diff.max() <= 1 and (diff > 0).mean() < 0.001, k
        assert np.abs(out[1].astype(int) - reused[1]).max() > 8  # the gate changed what the frame got

    def test_whole_frames_run_at_the_precision_off_would_have(self, clip, models):
        """Reuse keeps the model in float32; the frames the gate runs whole go through a copy at
        off's precision (bf16 on a CPU that has it), the model itself untouched."""
        model = models["remaster-x2"]
        half = model.in_precision(torch.bfloat16)
        assert model.dtype == torch.float32 and half.dtype == torch.bfloat16 and half.module is not model.module
        runner = ReuseRunner(model, strength=0.0, picture_warp=True, batched=False, whole_gate=2.5, whole_model=half)
        out = run_through(runner, planned(clip, "reuse", 4))
        for k in (1, 2, 3, 5):  # frames between keyframes: off's bf16 picture
            # bf16 kernels may round a level the other way in another context (on an AMD EPYC 0.6-0.9%
            # of the pixels moved by a level; bit for bit on the Intel Xeons before), while the float32
            # model's picture differs on about a fifth of them: the frame ran in bf16.
            alone = np.abs(out[k].astype(int) - run_frames(half, clip[k : k + 1])[0])
            assert alone.max() <= 1 and (alone > 0).mean() < 0.03, k
            assert (np.abs(out[k].astype(int) - run_frames(model, clip[k : k + 1])[0]) > 0).mean() > 0.05, k
        assert next(model.module.parameters()).dtype == torch.float32

    def test_a_noisy_source_reuses_as_without_the_gate(self, noisy, models):
        model = models["remaster-x2"]
        expected = run_through(ReuseRunner(model, strength=0.0, picture_warp=True, batched=False),
                               planned(noisy, "reuse", 4))
        for batched in (False, True):
            runner = ReuseRunner(model, strength=0.0, picture_warp=True, batched=batched, whole_gate=2.5)
            assert_within_rounding(run_through(runner, planned(noisy, "reuse", 4)), expected)
            assert runner.gate_counts["whole"] == 0

    def test_both_paths_agree_where_the_source_changes(self, clip, noisy, models):
        """Clean frames, then noisy ones: the running reading crosses the gate within the clip;
        blended as auto runs it (the card's gates)."""
        model = models["remaster-x2"]
        frames = np.concatenate([clip[:6], noisy[6:]])
        hints = model.temporal
        gates = {"grain_gate": hints.grain_gate, "change_gate": hints.change_gate, "blend_gate": hints.blend_gate}
        outs, wholes = [], []
        for batched in (False, True):
            runner = ReuseRunner(model, picture_warp=True, batched=batched, whole_gate=2.5, **gates)
            outs.append(run_through(runner, planned(frames, "reuse", 4)))
            wholes.append(runner.gate_counts["whole"])
        assert_within_rounding(outs[1], outs[0])
        assert wholes[0] == wholes[1] and 0 < wholes[0] < len(frames) - 3

    def test_only_auto_gets_the_gate(self, clip, models):
        model = models["remaster-x2"]
        auto, reuse = open_temporal(TemporalConfig(), model), open_temporal(TemporalConfig(mode="reuse"), model)
        assert auto.mode == reuse.mode == "reuse"
        assert auto.runner.whole_gate == 2.5 and reuse.runner.whole_gate is None
        run_through(auto.runner, planned(clip, "reuse", 4))
        assert auto.report()["whole_gate"] == {"level": 2.5, "whole_frames": len(clip) - 3}
        assert "whole_gate" not in reuse.report()
        assert open_temporal(TemporalConfig(), models["ink"]).runner.whole_gate is None  # a style reuses always


class TestAutoReadsTheSource:
    """``--temporal auto`` reads the source's noise before a run (the engine's probe): a clean one
    runs frame by frame, as ``off`` (its precision too), a noisy one reuses."""

    @pytest.fixture(scope="class")
    def noisy(self, clip) -> np.ndarray:
        return np.clip(clip + np.random.default_rng(6).normal(0, 6, clip.shape), 0, 255).astype(np.uint8)

    def test_the_reading_separates_clean_from_noisy(self, clip, noisy):
        estimator = FlowEstimator("fine", downscale=2)
        clean, grainy = source_noise(list(clip), estimator), source_noise(list(noisy), estimator)
        assert clean is not None and grainy is not None and clean < CLEAN_SOURCE < 2.5 < grainy
        assert source_noise(list(clip[:1]), estimator) is None  # no pair, no reading

    def test_auto_mode_follows_the_reading(self, models):
        model = models["remaster-x2"]
        assert auto_mode(model, "cpu")[0] == auto_mode(model, "cpu", 3.0)[0] == "reuse"
        assert auto_mode(model, "cpu", CLEAN_SOURCE)[0] == "reuse"  # the gate itself is not clean
        mode, why = auto_mode(model, "cpu", 0.5)
        assert mode == "off" and why.startswith("the source reads clean (0.50 levels")
        assert auto_mode(model, "cuda", 0.5)[0] == "off"  # off on a GPU whatever the source
        assert auto_mode(models["ink"], "cpu", 0.5)[0] == "reuse"  # no whole gate: a style reuses
        stage = open_temporal(TemporalConfig(), model, 0.5)
        assert stage.mode == "off" and stage.report()["why"] == why
        assert open_temporal(TemporalConfig(mode="reuse"), model, 0.5).mode == "reuse"  # asked for

    def test_a_run_of_a_clean_source_is_the_off_run(self, clip, tmp_path):
        src = write_lossless(tmp_path / "clean.mkv", list(clip))
        lossless = EncodeConfig(codec="ffv1", crf=None, preset=None, pix_fmt="bgr0")
        off = remaster(src, tmp_path / "off.mkv",
                       RemasterConfig(model="remaster-x2", encode=lossless, temporal=TemporalConfig(mode="off")))
        auto = remaster(src, tmp_path / "auto.mkv", RemasterConfig(model="remaster-x2", encode=lossless))
        assert auto.temporal["mode"] == "off" and "reads clean" in auto.temporal["why"]
        assert np.array_equal(np.stack(decode_all(tmp_path / "auto.mkv")[0]),
                              np.stack(decode_all(tmp_path / "off.mkv")[0]))
        assert off.temporal["mode"] == "off"

    def test_a_grainy_film_that_opens_on_black_still_reuses(self, noisy, tmp_path):
        """The probe reads the run's start, a third and two thirds into it, and keeps the largest."""
        black = np.zeros((12, *noisy.shape[1:]), np.uint8)
        frames = np.concatenate([black, noisy, noisy[::-1], noisy])
        src = write_lossless(tmp_path / "leader.mkv", list(frames))
        result = remaster(src, tmp_path / "out.mkv", RemasterConfig(model="remaster-x2"))
        assert result.temporal["mode"] == "reuse" and "the source reads" in result.temporal["why"]
        leader = remaster(src, tmp_path / "start.mkv",
                          RemasterConfig(model="remaster-x2", range=RangeConfig(frames=12)))
        assert leader.temporal["mode"] == "off"  # the black leader alone reads clean


class TestBatchedBlend:
    @pytest.mark.parametrize("name", ["remaster-x2", "ink"])
    def test_matches_the_per_frame_path(self, clip, models, name):
        batches = planned(clip, "blend", 4)
        outputs = {batched: run_through(runner_for(BlendRunner, models[name], batched=batched), batches)
                   for batched in (False, True)}
        # A style's blend gives the contrast back with a gain of up to 2, which doubles a level of
        # rounding here and there.
        assert_within_rounding(outputs[True], outputs[False],
                               levels=levels_for(models[name], 3 if name == "ink" else MAX_LEVELS))


class TestSixteenBits:
    """Frames of a source of more than 8 bits (uint16) on the batched path: levels 0-65535."""

    @pytest.fixture(scope="class")
    def deep(self, clip) -> np.ndarray:
        """The clip at 16 bits, with detail below the 8-bit level."""
        noise = np.random.default_rng(3).integers(0, 257, clip.shape)
        return (clip.astype(np.int64) * 257 + noise).astype(np.uint16)

    def test_luma_is_opencvs_to_the_level(self):
        picture = np.random.default_rng(1).integers(0, 65536, (40, 56, 3)).astype(np.uint16)
        levels = torch.from_numpy(picture.astype(np.int32)).permute(2, 0, 1)[None].float()
        assert np.array_equal(luma_levels(levels, 65535)[0, 0].numpy(), cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY))

    @pytest.mark.parametrize(("kind", "name"), [(ReuseRunner, "remaster-x2"), (ReuseRunner, "ink"),
                                                (BlendRunner, "ink")])
    def test_matches_the_per_frame_path(self, deep, models, kind, name):
        batches = planned(deep, "reuse" if kind is ReuseRunner else "blend", 8)
        outputs = {batched: run_through(runner_for(kind, models[name], batched=batched), batches)
                   for batched in (False, True)}
        assert outputs[True].dtype == outputs[False].dtype == np.uint16
        # Within the 8-bit path's rounding, in 8-bit levels (a style's contrast gain doubles some).
        assert_within_rounding(outputs[True] / 257, outputs[False] / 257,
                               levels=levels_for(models[name], 3 if name == "ink" else MAX_LEVELS))

    @pytest.mark.parametrize("kind", [ReuseRunner, BlendRunner])
    def test_widened_frames_give_the_8_bit_picture(self, clip, models, kind):
        """The same picture at 8 and at 16 bits through the batched path: the tolerance and the
        levels follow the depth, so the two agree within rounding."""
        mode = "reuse" if kind is ReuseRunner else "blend"
        eight = run_through(runner_for(kind, models["ink"], batched=True), planned(clip, mode, 8))
        wide = run_through(runner_for(kind, models["ink"], batched=True),
                           planned(clip.astype(np.uint16) * 257, mode, 8))
        # A style's blends keep their contrast and its output blur sharpens (levels_for), so a blend
        # decided a level apart at the two depths shows larger here than on remaster-x2: RMS 0.42 (reuse)
        # and 0.50 (blend) for the ink of 2026-12-06, 0.42 and 0.503 for that of 2026-12-08.
        assert_within_rounding(wide / 257, eight, rms=STYLE_DEPTH_RMS, levels=levels_for(models["ink"], 3))


# -- what auto picks --------------------------------------------------------------------------


class TestAutoMode:
    def test_reuse_on_the_cpu_off_on_cuda(self, models):
        model = models["remaster-x2"]
        mode, why = auto_mode(model, "cpu")
        assert mode == "reuse" and "can reuse features" in why and "1.97x" in why
        mode, why = auto_mode(model, "cuda")
        assert mode == "off" and "0.52x" in why and "docs/GPU.md" in why and "--temporal reuse or blend" in why

    def test_a_device_never_measured_runs_off(self, models):
        mode, why = auto_mode(models["remaster-x2"], "mps")
        assert mode == "off" and "never measured on mps" in why

    def test_a_model_without_reuse_runs_off_everywhere(self):
        bicubic = load_model("bicubic", scale=2, device=CPU)
        assert {auto_mode(bicubic, device)[0] for device in ("cpu", "cuda")} == {"off"}

    @pytest.mark.parametrize(("speedup", "mode"), [(1.25, "reuse"), (1.2, "reuse"), (1.15, "off")])
    def test_the_rule_follows_the_measured_speedup(self, models, monkeypatch, speedup, mode):
        monkeypatch.setitem(stage_module.REUSE_SPEEDUPS, "cuda", (speedup, "a new run"))
        assert auto_mode(models["remaster-x2"], "cuda")[0] == mode

    def test_the_report_says_why_for_the_models_device(self):
        model = tiny_generator().to("meta")
        stage = open_temporal(TemporalConfig(mode="auto"), model)
        report = stage.report()
        assert report["mode"] == "off" and report["asked"] == "auto" and "never measured on meta" in report["why"]


# -- which stage bounds a run -----------------------------------------------------------------


class TestSlowestStage:
    def test_a_reuse_run_times_each_stage(self, tmp_path):
        # Grainy, so that the blend runs (remaster-x2's blend gate leaves a clean source unblended).
        crops = moving_crops(data.astronaut(), 10, (1.5, 0.5), 96, 64)
        noise = np.random.default_rng(3).normal(0.0, 6.0, np.shape(crops))
        src = write_lossless(tmp_path / "pan.mkv", list(np.clip(crops + noise, 0, 255).astype(np.uint8)))
        config = RemasterConfig(scale=2, device="cpu", temporal=TemporalConfig(mode="reuse"),
                                repair=RepairConfig("off"))
        result = remaster(src, tmp_path / "out.mp4", config)
        assert list(result.stage_seconds) == ["decode", "flow", "model", "blend", "encode"]
        assert all(seconds > 0 for seconds in result.stage_seconds.values())
        assert result.slowest_stage == max(result.stage_seconds, key=result.stage_seconds.get)
        assert result.to_dict()["slowest_stage"] == result.slowest_stage

    def test_repair_and_grain_are_stages_too(self, tmp_path):
        src = make_clip(tmp_path / "c.mp4", frames=8, audio=False)
        config = RemasterConfig(scale=2, model="bicubic", repair=RepairConfig(mode="auto"),
                                temporal=TemporalConfig(mode="off"), grain=GrainConfig(strength=4.0))
        result = remaster(src, tmp_path / "out.mp4", config)
        assert list(result.stage_seconds) == ["decode", "repair", "model", "finish", "encode"]
        assert set(result.stage_seconds) <= set(STAGES)

    @pytest.mark.parametrize(("busy", "slowest"), [({"decode": 0.5, "model": 2.0, "encode": 3.0}, "encode"),
                                                   ({"decode": 0.5, "flow": 4.0, "model": 2.0}, "flow"),
                                                   ({}, None)])
    def test_the_slowest_stage_is_the_busiest(self, busy, slowest):
        result = RemasterResult(Path("a"), Path("b"), 1, 1.0, 1.0, {}, {}, (1, 1), (2, 2), stage_seconds=busy)
        assert result.slowest_stage == slowest

    def test_the_command_line_names_it(self, tmp_path, capsys):
        src = make_clip(tmp_path / "c.mp4", frames=6, audio=False)
        assert run(["remaster", str(src), "-o", str(tmp_path / "o.mp4"), "--model", "bicubic"]) == 0
        lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("slowest stage: ")]
        assert len(lines) == 1
        stage = lines[0].removeprefix("slowest stage: ").split(",")[0]
        assert stage in STAGES and f"{stage} " in lines[0].split("(", 1)[1]
