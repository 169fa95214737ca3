"""Training a style end to end, on tiny settings: the pipeline script, Ctrl-C and --resume."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import load_pipeline

from vidstyle.config import DEFAULT_BLEND_TOLERANCE
from vidstyle.errors import Interrupted, StyleError
from vidstyle.models.registry import shipped_weights
from vidstyle.models.styles import load_style
from vidstyle.models.weights import load_weights
from vidstyle.style import measures
from vidstyle.style.exemplars import draw_exemplar
from vidstyle.style.features import to_tensor
from vidstyle.style.measures import fine_bands, grid_energy, structure
from vidstyle.train.style import (
    StyleRecipe,
    StyleTrainer,
    border_lines,
    calibrate_blend_tolerance,
    coarse_gradients,
    coarse_structure,
    colour_stats,
    fine_chroma,
    grid_share,
    held_out_frames,
    measure_precision,
    middle_chroma,
    stroke_filters,
    stroke_gram,
    tone_layout,
    train_style,
    work_dir_for,
)

TINY = StyleRecipe(minutes=0.25, patch_size=32, batch_size=1, exemplar_size=128, checkpoint_seconds=1.0,
                   eval_per_clip=1)
#: The preview and the final evaluation of these runs read the centres of their frames (``eval_crop``): on whole
#: frames the evaluation took most of a run (the half-precision passes on a 640x360 frame alone, a minute).
EVAL_CROP = 64


@pytest.fixture(scope="module", autouse=True)
def _training_data():
    pytest.importorskip("skimage")  # the training pictures


def test_the_pipeline_script_writes_weights_card_preview_and_thumbnail(tmp_path):
    script = load_pipeline("train_style")
    out = tmp_path / "glass.safetensors"
    assert script.main(["--exemplar", "glass", "-o", str(out), "--minutes", "0.25", "--patch-size", "32",
                        "--batch-size", "1", "--exemplar-size", "128", "--eval-per-clip", "1", "--threads", "1",
                        "--eval-crop", str(EVAL_CROP), "--thumbnail", "--quiet"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["eval_crop"] == EVAL_CROP and f"at most {EVAL_CROP} px" in card["metrics"]["picture"]["rule"]
    assert card["style"]["exemplar"] == "glass" and card["style"]["features"]["kind"]
    # The loop trains until the budget less the final reserve (10%) is spent; the final evaluation, most of
    # so short a run, comes on top and takes what the machine makes it take (1.8 minutes on a 2 GHz AVX2 core),
    # so only the lower bound is machine-independent.
    assert card["recipe"]["patch_size"] == 32 and card["steps"] > 0 and card["minutes"] >= 0.25 * 0.9 - 0.01
    metrics = card["metrics"]
    assert metrics["eval_frames"] > 0 and metrics["style_distance_input"] > 0
    assert metrics["style_distance_ratio"] == pytest.approx(
        metrics["style_distance_output"] / metrics["style_distance_input"], abs=1e-3)
    # What a person sees (issue 18), on one held-out damaged frame of each clip and still.
    picture = metrics["picture"]
    assert len(picture["frames"]) == 4 and "held_out_pairs" in picture["rule"]
    assert 0 < picture["structure"] <= 1 and 0 <= picture["edge_f"] <= 1 and picture["grid_energy"] >= 0
    assert picture["bicubic"]["structure"] > 0.5 and picture["bicubic"]["grid_energy"] < 0.001
    assert card["hparams"]["colour_skip"] and card["hparams"]["reuse_channels"]
    assert card["hparams"]["output_blur"] == StyleRecipe().output_blur == 5  # on by default
    assert {"structure", "gradients", "grid", "cells"} <= card["final_losses"].keys()
    # The blend tolerance, from the model's own frame-to-frame differences, at least remaster's.
    assert card["temporal"]["blend_tolerance"] >= DEFAULT_BLEND_TOLERANCE
    assert card["temporal"]["blend_tolerance"] == round(max(card["temporal"]["disagreement"], 24.0), 1)
    for name in ("glass.preview.png", "glass.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert not work_dir_for(out).exists()  # the checkpoint goes once the weights are out
    model = load_style(str(out), scale=2)
    assert model.module.supports_reuse
    assert model.meta["blend_tolerance"] == card["temporal"]["blend_tolerance"]
    # Its half-precision figures, measured at the end of training, decide what it may run in.
    precision = card["precision"]
    assert 20.0 < precision["fp16_psnr_db"] < 200.0 and 20.0 < precision["bf16_psnr_db"] < 200.0
    assert precision["bf16_psnr_db"] < precision["fp16_psnr_db"]  # bf16 has 3 fewer mantissa bits than fp16
    assert model.supports_half == (precision["fp16_psnr_db"] >= 50.0)


def test_interrupted_then_resumed(tmp_path):
    exemplar = draw_exemplar("ink", size=128)
    out = tmp_path / "ink.safetensors"
    kwargs = dict(recipe=TINY, init=shipped_weights("remaster-x2"), name="ink", description="ink, for tests",
                  source={"exemplar": "ink"}, threads=1, eval_crop=EVAL_CROP)
    calls = []

    def stop_after_three_steps() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Interrupted, match="carry on with --resume"):
        train_style(exemplar, out, stop=stop_after_three_steps, **kwargs)
    checkpoint = work_dir_for(out) / "checkpoint.pt"
    assert checkpoint.is_file() and not out.exists() and not out.with_suffix(".json").exists()
    state = torch.load(checkpoint, weights_only=True)
    assert state["step"] == 3
    with pytest.raises(StyleError, match="pass --resume"):
        train_style(exemplar, out, **kwargs)  # a fresh start would throw the run away
    spent = []  # the share of the budget spent, after each step of the resumed run
    result = train_style(exemplar, out, resume=True, progress=lambda share, _: spent.append(share), **kwargs)
    assert result.card["steps"] > 3 and out.is_file()
    # The budget spans both runs: the resumed run starts from the first run's seconds, not from zero (a bound on
    # the wall time would be a timed test: the final evaluation alone took 1.7 minutes on a 2 GHz AVX2 core).
    assert state["seconds"] > 0 and spent[0] * TINY.minutes * 60 > state["seconds"]
    with pytest.raises(StyleError, match="no checkpoint"):
        train_style(exemplar, tmp_path / "other.safetensors", resume=True, **kwargs)


def test_measure_precision_finds_the_halftone_style_off_in_bf16():
    # The shipped halftone style measured the way train-style measures a new style, on a held-out frame: bf16
    # flips its dots (43.2 dB on bikes.mp4's 320x136 frame, 45.3 on bigbuckbunny.mp4's; the benchmark's frames gave
    # 44.3), under the 50 dB floor; remaster-x2 is far above it in both half precisions (bikes: fp16 62.6 dB, bf16
    # 54.7, each the lower of the two frames'). Only the bikes frame: half precision is slow on the CPU, and the
    # 640x360 frame took five times as long.
    frames = [frame for frame in held_out_frames(2, per_clip=1) if frame.shape[:2] == (136, 320)]
    assert len(frames) == 1
    halftone, _ = load_weights(shipped_weights("style-halftone-x2"))
    remaster, _ = load_weights(shipped_weights("remaster-x2"))
    assert measure_precision(halftone, frames)["bf16_psnr_db"] < 50.0
    figures = measure_precision(remaster, frames)
    assert figures["fp16_psnr_db"] > 55.0 and figures["bf16_psnr_db"] > 50.0
    assert next(remaster.parameters()).dtype == torch.float32  # measured on copies


def test_palette_and_tone_terms():
    x = torch.rand(2, 3, 32, 32)
    mean, cov = colour_stats(x)
    assert mean.shape == (2, 3) and cov.shape == (2, 3, 3) and torch.allclose(cov, cov.transpose(1, 2))
    # Tone layout ignores brightness and contrast changes of the whole picture ...
    assert torch.allclose(tone_layout(x), tone_layout(0.5 * x + 0.2), atol=1e-4)
    # ... but not a change of where the picture is light.
    assert not torch.allclose(tone_layout(x), tone_layout(x.flip(-1)), atol=1e-2)
    assert np.isfinite(tone_layout(torch.full((1, 3, 16, 16), 0.5)).numpy()).all()  # flat: no division by 0


def test_the_blend_tolerance_rule_gives_remaster_x2_about_its_hand_chosen_value():
    # The rule that sets a style's tolerance, applied to remaster-x2, lands near the 24 that was
    # chosen for it by hand on training frames (26 when measured).
    model, card = load_weights(shipped_weights("remaster-x2"))
    temporal = calibrate_blend_tolerance(model, card["scale"])
    assert 18.0 <= temporal["disagreement"] <= 34.0
    assert "bikes.mp4" in temporal["rule"]


def shapes(seed: int, size: int = 96) -> np.ndarray:
    """A picture of a few soft-edged discs and bars on a gradient, RGB uint8: shapes, no texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(float)
    luma = 60 + 80 * x / size
    for _ in range(4):
        cy, cx, r = rng.uniform(15, size - 15, 2).tolist() + [rng.uniform(6, 14)]
        luma += rng.choice([-70, 70]) / (1 + np.exp((np.hypot(y - cy, x - cx) - r) / 1.5))
    luma[:, size // 2 : size // 2 + 6] += 50
    return np.repeat(np.clip(luma, 0, 255)[..., None], 3, axis=2).astype(np.uint8)


class TestStructureAndGridTerms:
    def test_structure_is_zero_for_the_same_picture_and_follows_the_measure(self):
        clean = shapes(0)
        assert float(coarse_structure(to_tensor(clean), to_tensor(clean))) == pytest.approx(0.0, abs=1e-6)
        moved = np.roll(clean, 4, axis=1)
        # 1 - SSIM at sigma 2 is where the measure looks (sigma 4 is added to it).
        assert float(coarse_structure(to_tensor(moved), to_tensor(clean))) > 0.5 * (1 - structure(moved, clean))

    def test_a_change_of_shapes_costs_more_than_strokes_over_them(self):
        clean = shapes(0).astype(float)
        # Strokes: fine diagonal hatching of 3-pixel period, stronger (in RMS) than the change of shapes.
        y, x = np.mgrid[0:96, 0:96]
        hatched = clean + 30 * np.sin(2 * np.pi * (x + y) / 3)[..., None]
        reshaped = shapes(1).astype(float)
        rms = lambda a: float(np.sqrt(np.mean((a - clean) ** 2)))  # noqa: E731
        assert rms(hatched) > 0.5 * rms(reshaped)
        for term in (coarse_structure, coarse_gradients):
            cost = {name: float(term(to_tensor(np.clip(p, 0, 255).astype(np.uint8)), to_tensor(shapes(0))))
                    for name, p in (("hatched", hatched), ("reshaped", reshaped))}
            assert cost["reshaped"] > 10 * cost["hatched"], (term.__name__, cost)

    def test_gradients_are_zero_for_the_same_picture_and_see_blotches_on_a_flat_wall(self):
        flat = np.full((96, 96, 3), 120, np.uint8)
        assert float(coarse_gradients(to_tensor(shapes(0)), to_tensor(shapes(0)))) == 0.0
        # Soft blotches of about 10 pixels: after the blur they are slopes of contours; grain of the
        # same RMS (8 levels) lives in the fine bands only.
        rng = np.random.default_rng(5)
        blotches = cv2.resize(rng.normal(0, 1, (10, 10)).astype(np.float32), (96, 96), interpolation=cv2.INTER_CUBIC)
        grain = rng.normal(0, 1, (96, 96)).astype(np.float32)
        blotched, fine = (np.clip(flat + (8 * t / t.std())[..., None], 0, 255).astype(np.uint8)
                          for t in (blotches, grain))
        cost = {name: float(coarse_gradients(to_tensor(p), to_tensor(flat))) for name, p in
                (("blotched", blotched), ("fine", fine))}
        assert cost["blotched"] > 2 * cost["fine"], cost

    def test_grid_share_is_the_measure_and_sees_only_a_fixed_pattern(self):
        def textured(seed: int) -> np.ndarray:
            rng = np.random.default_rng(seed)
            small = rng.uniform(40, 220, (16, 16, 1)).astype(np.float32)
            smooth = cv2.resize(small, (128, 128), interpolation=cv2.INTER_CUBIC)[..., None]
            return np.clip(smooth + rng.normal(0, 6, (128, 128, 1)), 0, 255).astype(np.uint8).repeat(3, axis=2)

        clean = np.stack([textured(seed) for seed in range(6)])
        cells = np.tile(np.random.default_rng(9).normal(0, 6, (4, 4)), (32, 32))[..., None]
        gridded = np.clip(clean + cells, 0, 255).astype(np.uint8)
        alone = {name: [float(grid_share(to_tensor(p), 4)) for p in pictures]
                 for name, pictures in (("clean", clean), ("gridded", gridded))}
        for name, pictures in (("clean", clean), ("gridded", gridded)):  # one picture: the measure itself
            assert alone[name] == pytest.approx([grid_energy(p) for p in pictures], rel=0.1, abs=2e-4)
        # A picture's own texture lines up with the cells as 1 / 1024 cells of its power ...
        assert max(alone["clean"]) < 3e-3 and min(alone["gridded"]) > 0.05
        # ... and less in a batch, where a fixed pattern stays whole.
        assert float(grid_share(to_tensor(clean), 4)) < 0.5 * np.mean(alone["clean"])
        assert float(grid_share(to_tensor(gridded), 4)) > 0.05

    def test_border_lines_sees_a_line_at_any_depth_and_not_a_palette_or_strokes(self):
        rng = np.random.default_rng(3)
        clean = np.clip(rng.normal(120, 25, (8, 128, 128, 3)), 0, 255).astype(np.uint8)
        x = to_tensor(clean)
        assert border_lines(x, x).item() < 1e-12
        shifted = np.clip(clean.astype(np.float32) + 12, 0, 255).astype(np.uint8)  # every pixel 12 levels up
        strokes = clean.astype(np.float32)
        for picture in strokes:  # a dark stroke 3 px wide, somewhere else in each patch
            column = int(rng.integers(0, 125))
            picture[:, column : column + 3] -= 30
        strokes = np.clip(strokes, 0, 255).astype(np.uint8)
        lined = clean.astype(np.float32)
        lined[:, :, 14:17] -= 30  # a dark band 3 px wide, 14 px in from the left, in every patch
        lined = np.clip(lined, 0, 255).astype(np.uint8)
        palette, stroked = border_lines(to_tensor(shifted), x).item(), border_lines(to_tensor(strokes), x).item()
        line = to_tensor(lined).requires_grad_(True)
        loss = border_lines(line, x)
        # The band moves 3 of 128 column means of each channel by 30 levels; the rows not at all.
        band = 30 / 255
        expected = ((3 / 128) * band**2 - (3 / 128 * band) ** 2) / 2
        assert loss.item() == pytest.approx(expected, rel=0.05)
        grey = clean @ np.array([0.299, 0.587, 0.114])  # the film drawn in grey: a palette, not a line
        greyed = border_lines(to_tensor(np.repeat(grey[..., None], 3, axis=3).astype(np.uint8)), x).item()
        assert palette < 1e-3 * expected and greyed < 0.05 * expected
        assert stroked < 0.25 * expected  # strokes fall anywhere
        loss.backward()
        grad = line.grad.abs().sum(dim=(0, 1))  # per pixel
        assert grad[:, 14:17].mean() > 10 * grad[:, 40:90].mean()  # the band is pushed most
        coloured = clean.astype(np.float32)
        coloured[:, :, 14:17] += np.array([30.0, -15.0, -15.0])  # a red band, nearly no change of luma
        coloured = to_tensor(np.clip(coloured, 0, 255).astype(np.uint8))
        assert border_lines(coloured, x).item() > 0.3 * expected  # a line in colour is a line

    def test_middle_chroma_is_the_measure_and_sees_colour_blotches_not_grey_ones_or_speckle(self):
        rng = np.random.default_rng(8)
        ramp = np.linspace(30, 220, 96, dtype=np.float32)
        smooth = np.stack([np.tile(ramp, (96, 1)), np.tile(ramp[:, None], (1, 96)), np.full((96, 96), 90.0)], -1)
        blotches = cv2.GaussianBlur(rng.normal(0, 1, (96, 96, 3)).astype(np.float32), (0, 0), 2.0)
        blotches *= 12 / blotches.std()
        speckle = rng.normal(0, 12, (96, 96, 3))
        grey = blotches.mean(axis=2, keepdims=True) * np.sqrt(3)
        pictures = {name: np.clip(smooth + noise, 0, 255).astype(np.uint8) for name, noise in (
            ("smooth", 0), ("colour blotches", blotches), ("grey blotches", grey), ("speckle", speckle))}
        levels = {name: 255 * float(middle_chroma(to_tensor(p))) for name, p in pictures.items()}
        for name, p in pictures.items():  # the measure's band, in levels
            assert levels[name] == pytest.approx(measures.middle_chroma(p), rel=0.1, abs=0.3), name
        assert levels["smooth"] < 0.8 and levels["grey blotches"] < 0.8, levels  # the ramp's ends, rounding
        # Speckle one pixel across is mostly the fine band's; blotches a few pixels across are this band's.
        assert levels["colour blotches"] > 3 and levels["colour blotches"] > 2 * levels["speckle"], levels
        assert fine_bands(pictures["speckle"])[1] > fine_bands(pictures["colour blotches"])[1]
        blotched = to_tensor(pictures["colour blotches"]).requires_grad_(True)
        middle_chroma(blotched).sum().backward()
        assert blotched.grad.abs().sum() > 0

    def test_stroke_gram_reads_the_hatchings_direction_and_polarity_in_the_luma(self):
        bank = stroke_filters(sigmas=(1.0, 2.0), orientations=4)
        assert bank.shape[:2] == (8, 1)
        assert torch.allclose(bank.sum(dim=(1, 2, 3)), torch.zeros(8), atol=1e-5)
        assert torch.allclose(bank.flatten(1).norm(dim=1), torch.ones(8), atol=1e-5)

        yy, xx = np.mgrid[:96, :96].astype(np.float32)

        def hatching(angle_degrees: float, dark: bool, colour=(1.0, 1.0, 1.0)) -> np.ndarray:
            a = np.deg2rad(angle_degrees)
            across = xx * np.cos(a) + yy * np.sin(a)
            lines = np.cos(2 * np.pi * across / 6) > 0.6  # thin lines 6 pixels apart
            value = np.where(lines, 40.0, 210.0) if dark else np.where(lines, 210.0, 40.0)
            return np.clip(value[..., None] * np.array(colour), 0, 255).astype(np.uint8)

        def energy(picture: np.ndarray) -> torch.Tensor:  # (polarity, sigma, orientation)
            return torch.diagonal(stroke_gram(to_tensor(picture), bank)[0]).view(2, 2, 4)

        vertical, diagonal = energy(hatching(0, dark=True)), energy(hatching(45, dark=True))
        # A filter across the lines answers most: orientation 0 for lines along y, 1 (45 degrees) for the diagonal.
        assert vertical[:, 0].sum(0).argmax() == 0 and diagonal[:, 0].sum(0).argmax() == 1
        assert vertical[:, 0, 0].sum() > 5 * vertical[:, 0, 2].sum()
        # Dark lines on light paper and light lines on dark paper answer with opposite signs.
        light = energy(hatching(0, dark=False))
        assert vertical[0, 0, 0] > 2 * vertical[1, 0, 0] and light[1, 0, 0] > 2 * light[0, 0, 0]
        # The luma's only: the same hatching in another hue of the same luma reads alike; a flat picture reads nothing.
        tinted = energy(hatching(0, dark=True, colour=(1.1, 0.95, 1.0)))
        assert torch.allclose(tinted, vertical, rtol=0.15)
        assert energy(np.full((96, 96, 3), 128, np.uint8)).abs().max() < 1e-8
        # By windows: their mean is the whole picture's; hatching over half the picture, at twice the
        # contrast, comes near the whole picture's statistics but far from them window by window.
        full = hatching(0, dark=True)
        target = stroke_gram(to_tensor(full), bank)[0]
        windows = stroke_gram(to_tensor(full), bank, window=24)
        assert windows.shape == (1, 16, 16, 16) and torch.allclose(windows.mean(1)[0], target, rtol=1e-4)
        half = full.astype(np.float32)
        half = np.clip(125 + (half - 125) * np.sqrt(2), 0, 255)
        half[:, 48:] = 125
        half = to_tensor(half.astype(np.uint8))

        def distance(gram: torch.Tensor) -> float:
            return float(((gram - target) ** 2).sum(dim=(-2, -1)).mean() / target.square().sum())

        assert distance(stroke_gram(half, bank)) < 0.1 < 0.8 < distance(stroke_gram(half, bank, window=24))
        with pytest.raises(ValueError, match="no whole"):
            stroke_gram(to_tensor(full[:20]), bank, window=24)

    def test_fine_chroma_is_the_measure_and_sees_coloured_speckle_not_grey_strokes(self):
        rng = np.random.default_rng(6)
        ramp = np.linspace(30, 220, 96, dtype=np.float32)
        smooth = np.stack([np.tile(ramp, (96, 1)), np.tile(ramp[:, None], (1, 96)), np.full((96, 96), 90.0)], -1)
        pictures = {name: np.clip(p, 0, 255).astype(np.uint8) for name, p in (
            ("smooth", smooth), ("grey strokes", smooth + 25 * np.sin(np.arange(96) / 1.5)[None, :, None]),
            ("speckle", smooth + rng.normal(0, 10, (96, 96, 3))))}
        levels = {name: 255 * float(fine_chroma(to_tensor(p))) for name, p in pictures.items()}
        for name, p in pictures.items():  # the measure's chroma, in levels (its blur reaches a little further)
            assert levels[name] == pytest.approx(fine_bands(p)[1], rel=0.1, abs=0.3), name
        assert levels["smooth"] < 0.5 and levels["grey strokes"] < 0.5 < 5 < levels["speckle"], levels
        speckled = to_tensor(pictures["speckle"]).requires_grad_(True)
        fine_chroma(speckled).sum().backward()
        assert speckled.grad.abs().sum() > 0


def test_a_style_starts_exactly_at_the_remaster_model():
    recipe = StyleRecipe(patch_size=32, batch_size=1, exemplar_size=128)
    trainer = StyleTrainer(recipe, draw_exemplar("ink", size=128), shipped_weights("remaster-x2"))
    g = trainer.generator
    assert g.hparams["output_blur"] == 5 and g.hparams["colour_skip"]
    base, _ = load_weights(shipped_weights("remaster-x2"))
    state, neutral = g.state_dict(), g.neutral_state()
    assert state.keys() == base.state_dict().keys() | neutral.keys()
    assert all(torch.equal(state[k], v) for k, v in (*base.state_dict().items(), *neutral.items()))
    x = torch.rand(1, 3, 24, 32)
    with torch.no_grad():  # before the colour skip is set from the palette; channels_last rounds apart
        torch.testing.assert_close(g.eval()(x), base.eval()(x), rtol=0, atol=1e-5)


def test_the_style_terms_do_not_see_the_border():
    """A line drawn along a patch's edge earns no style (the shipped ink of 2026-12-05 drew one
    over every frame); the same line inside the patch changes every term."""
    recipe = StyleRecipe(patch_size=32, batch_size=1, exemplar_size=128)
    trainer = StyleTrainer(recipe, draw_exemplar("ink", size=128), shipped_weights("remaster-x2"))
    assert trainer.margin == 8  # two cells of the x2 pixel shuffle
    torch.manual_seed(3)
    hr = torch.rand(2, 3, 64, 64)
    out = (hr + 0.05 * torch.randn_like(hr)).clamp(0, 1)
    lined, inside = out.clone(), out.clone()
    lined[..., :2, :], lined[..., 2:6, :] = 1.0, 0.0  # a light line over a dark band, along the top
    inside[..., 20:22, :], inside[..., 22:26, :] = 1.0, 0.0
    with torch.no_grad():
        half, terms = trainer.style_terms(out, hr)
        half_lined, terms_lined = trainer.style_terms(lined, hr)
        _, terms_inside = trainer.style_terms(inside, hr)
    assert half.shape[-1] == (64 - 2 * 8) // 2 and torch.equal(half_lined, half)
    assert all(torch.equal(terms_lined[k], terms[k]) for k in terms)
    assert all(not torch.equal(terms_inside[k], terms[k]) for k in terms)


def test_a_too_small_eval_crop_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "glass.safetensors"
    with pytest.raises(SystemExit) as stop:
        load_pipeline("train_style").main(["--exemplar", "glass", "-o", str(out), "--eval-crop", "8", "--quiet"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("--eval-crop must be at least 16 pixels, got 8")
    assert not list(tmp_path.iterdir())  # nothing written
    with pytest.raises(StyleError, match="eval_crop must be an integer of at least 16"):
        train_style(draw_exemplar("ink", size=128), out, recipe=TINY, init=shipped_weights("remaster-x2"), name="ink",
                    description="ink, for tests", source={"exemplar": "ink"}, eval_crop=0)
    assert not list(tmp_path.iterdir())
