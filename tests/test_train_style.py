"""Training a style end to end, on tiny settings: the pipeline script, Ctrl-C and --resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import load_pipeline

from vidstyle.config import DEFAULT_BLEND_TOLERANCE
from vidstyle.errors import Interrupted, StyleError
from vidstyle.models.registry import shipped_weights
from vidstyle.models.styles import load_style
from vidstyle.models.weights import load_weights
from vidstyle.style.exemplars import draw_exemplar
from vidstyle.train.style import (
    StyleRecipe,
    calibrate_blend_tolerance,
    colour_stats,
    tone_layout,
    train_style,
    work_dir_for,
)

TINY = StyleRecipe(minutes=0.25, patch_size=32, batch_size=1, exemplar_size=128, checkpoint_seconds=1.0,
                   eval_per_clip=1)


@pytest.fixture(scope="module", autouse=True)
def _training_data():
    pytest.importorskip("skimage")  # the training pictures


def test_the_pipeline_script_writes_weights_card_preview_and_thumbnail(tmp_path):
    script = load_pipeline("train_style")
    out = tmp_path / "glass.safetensors"
    assert script.main(["--exemplar", "glass", "-o", str(out), "--minutes", "0.25", "--patch-size", "32",
                        "--batch-size", "1", "--exemplar-size", "128", "--eval-per-clip", "1", "--threads", "1",
                        "--thumbnail", "--quiet"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["style"]["exemplar"] == "glass" and card["style"]["features"]["kind"]
    # The final evaluation is most of so short a run, and can overrun it.
    assert card["recipe"]["patch_size"] == 32 and card["steps"] > 0 and card["minutes"] < 1.5
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
    # The blend tolerance, from the model's own frame-to-frame differences, at least remaster's.
    assert card["temporal"]["blend_tolerance"] >= DEFAULT_BLEND_TOLERANCE
    assert card["temporal"]["blend_tolerance"] == round(max(card["temporal"]["disagreement"], 24.0), 1)
    for name in ("glass.preview.png", "glass.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert not work_dir_for(out).exists()  # the checkpoint goes once the weights are out
    model = load_style(str(out), scale=2)
    assert model.module.supports_reuse
    assert model.meta["blend_tolerance"] == card["temporal"]["blend_tolerance"]


def test_interrupted_then_resumed(tmp_path):
    exemplar = draw_exemplar("ink", size=128)
    out = tmp_path / "ink.safetensors"
    kwargs = dict(recipe=TINY, init=shipped_weights("remaster-x2"), name="ink", description="ink, for tests",
                  source={"exemplar": "ink"}, threads=1)
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
    result = train_style(exemplar, out, resume=True, **kwargs)
    assert result.card["steps"] > 3 and out.is_file()
    assert result.card["minutes"] < 1.5  # the budget spans both runs (plus the final evaluation)
    with pytest.raises(StyleError, match="no checkpoint"):
        train_style(exemplar, tmp_path / "other.safetensors", resume=True, **kwargs)


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
