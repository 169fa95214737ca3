"""Weights files: save/load round trip, hash check, and one clear error for each bad file."""

from __future__ import annotations

import json

import pytest
import torch

from vidstyle.errors import ModelError
from vidstyle.models import load_model
from vidstyle.models.generator import RemasterGenerator
from vidstyle.models.weights import load_weights, save_weights


def tiny(scale=2, seed=0):
    torch.manual_seed(seed)
    g = RemasterGenerator(scale=scale, channels=8, body_blocks=1, low_blocks=1, decoder_blocks=1)
    for p in g.parameters():  # non-zero everywhere, so the round trip is tested on real values
        torch.nn.init.normal_(p, std=0.05)
    return g


class TestGenerator:
    @pytest.mark.parametrize("scale", [1, 2, 4])
    def test_shapes(self, scale):
        g = tiny(scale)
        x = torch.rand(2, 3, 16, 20)
        assert g(x).shape == (2, 3, 16 * scale, 20 * scale)
        assert g.encode(x).shape == (2, 8, 8, 10)

    def test_starts_as_bilinear(self):
        g = RemasterGenerator(scale=2, channels=8)
        x = torch.rand(1, 3, 16, 16)
        expected = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        torch.testing.assert_close(g(x), expected)

    def test_descriptor_pads_odd_sizes(self, tmp_path):
        save_weights(tiny(), tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        model = load_model(str(tmp_path / "m.safetensors"), scale=2)
        assert model.size_multiple == 4
        assert model(torch.rand(1, 3, 13, 18)).shape == (1, 3, 26, 36)


class TestWeightsFiles:
    def test_round_trip(self, tmp_path):
        g = tiny()
        card = save_weights(g, tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        assert card["architecture"] == "RemasterGenerator" and card["hparams"]["channels"] == 8
        assert json.loads((tmp_path / "m.json").read_text())["sha256"] == card["sha256"]
        loaded, _ = load_weights(tmp_path / "m.safetensors")
        x = torch.rand(1, 3, 16, 16)
        torch.testing.assert_close(loaded(x), g(x))

    def test_hash_mismatch(self, tmp_path):
        save_weights(tiny(), tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        data = bytearray((tmp_path / "m.safetensors").read_bytes())
        data[-10] ^= 0xFF
        (tmp_path / "m.safetensors").write_bytes(bytes(data))
        with pytest.raises(ModelError, match="m.safetensors does not match the sha256"):
            load_weights(tmp_path / "m.safetensors")

    def test_truncated(self, tmp_path):
        save_weights(tiny(), tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        card = json.loads((tmp_path / "m.json").read_text())
        data = (tmp_path / "m.safetensors").read_bytes()[:200]
        (tmp_path / "m.safetensors").write_bytes(data)
        card.pop("sha256")
        (tmp_path / "m.json").write_text(json.dumps(card))
        with pytest.raises(ModelError, match="cannot read m.safetensors"):
            load_weights(tmp_path / "m.safetensors")

    def test_other_architecture_shapes(self, tmp_path):
        save_weights(tiny(), tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        card = json.loads((tmp_path / "m.json").read_text())
        card["hparams"]["channels"] = 16
        (tmp_path / "m.json").write_text(json.dumps(card))
        with pytest.raises(ModelError, match="does not fit the RemasterGenerator architecture"):
            load_weights(tmp_path / "m.safetensors")

    def test_missing_file_and_card(self, tmp_path):
        with pytest.raises(ModelError, match="not found"):
            load_weights(tmp_path / "none.safetensors")
        save_weights(tiny(), tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        (tmp_path / "m.json").unlink()
        with pytest.raises(ModelError, match="has no card"):
            load_weights(tmp_path / "m.safetensors")

    def test_scale_mismatch(self, tmp_path):
        save_weights(tiny(), tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        with pytest.raises(ModelError, match="upscales x2, but --scale 4"):
            load_model(str(tmp_path / "m.safetensors"), scale=4)

    def test_pth_read_with_weights_only(self, tmp_path):
        g = tiny()
        card = save_weights(g, tmp_path / "m.safetensors", {"name": "m", "scale": 2})
        torch.save(g.state_dict(), tmp_path / "m.pth")
        card.pop("sha256")
        (tmp_path / "m.json").write_text(json.dumps(card))
        loaded, _ = load_weights(tmp_path / "m.pth")
        x = torch.rand(1, 3, 8, 8)
        torch.testing.assert_close(loaded(x), g(x))
