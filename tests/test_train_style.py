"""pipelines/train_style.py end to end, a few steps: the prototype of issue 5 keeps running."""

from __future__ import annotations

import json

import pytest

from conftest import load_pipeline


@pytest.fixture(scope="module")
def train_style():
    pytest.importorskip("skimage")  # the training data
    return load_pipeline("train_style")


def test_a_few_steps_make_a_model_with_its_card(train_style, tmp_path):
    out = tmp_path / "glass"
    assert train_style.main(["--exemplar", "glass", "--out", str(out), "--steps", "3", "--batch", "2",
                             "--patch", "32", "--exemplar-size", "128", "--threads", "1",
                             "--eval-per-clip", "1"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["steps"] == 3 and result["eval_frames"] > 0
    assert result["style_distance_input"] > 0 and result["style_distance_output"] > 0
    card = json.loads((out / "style-glass-x2.json").read_text())
    assert card["style"] == {"exemplar": "glass"} and card["sha256"]
    assert (out / "style-glass-x2.safetensors").is_file() and (out / "preview.png").is_file()


def test_palette_and_tone_terms(train_style):
    import torch

    x = torch.rand(2, 3, 32, 32)
    mean, cov = train_style.colour_stats(x)
    assert mean.shape == (2, 3) and cov.shape == (2, 3, 3) and torch.allclose(cov, cov.transpose(1, 2))
    # Tone layout ignores brightness and contrast changes of the whole picture.
    assert torch.allclose(train_style.tone_layout(x), train_style.tone_layout(0.5 * x + 0.2), atol=1e-4)
