"""pipelines/independent_damage.py and pipelines/benchmark/generalization.py: the independent damage family
and the measuring of issue 14's generalization test, on small frames made here (no model runs); and
pipelines/generalization_steps.py on one frame of each of the test's clips (remaster-x2 runs there)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pipelines import independent_damage as damage
from pipelines.benchmark import footage
from pipelines.benchmark import generalization as gen

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


def textured_frames(count: int, width: int = 64, height: int = 48, seed: int = 0) -> list[np.ndarray]:
    """A smooth colour field with edges and fine texture, shifted a pixel a frame."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 220, (height // 4 + 2, width // 4 + 2, 3)).astype(np.float32)
    big = np.kron(base, np.ones((4, 4, 1), np.float32))
    texture = rng.normal(0, 12, big.shape).astype(np.float32)
    canvas = np.clip(big + texture, 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(canvas[i % 4:i % 4 + height, :width]) for i in range(count)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


class TestIndependentDamage:
    def test_deterministic_per_seed(self):
        frames = textured_frames(3)
        a = damage.damage_clip(frames, scale=2, seed=5)
        b = damage.damage_clip(frames, scale=2, seed=5)
        c = damage.damage_clip(frames, scale=2, seed=6)
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
        assert not all(np.array_equal(x, y) for x, y in zip(a, c))

    @pytest.mark.parametrize("scale", [2, 4])
    def test_count_and_size(self, scale):
        frames = textured_frames(3, width=64, height=48)
        out = damage.damage_clip(frames, scale=scale, seed=1)
        assert len(out) == 3
        assert all(f.shape == (48 // scale, 64 // scale, 3) and f.dtype == np.uint8 for f in out)
        clean = damage.clean_clip(frames, scale)
        assert [f.shape for f in clean] == [f.shape for f in out]

    def test_odd_low_resolution_sides(self):
        frames = textured_frames(2, width=40, height=52)  # x4: 10x13, padded for the codec
        out = damage.damage_clip(frames, scale=4, seed=2)
        assert [f.shape for f in out] == [(13, 10, 3)] * 2

    def test_changes_the_picture(self):
        frames = textured_frames(3)
        for seed in range(3):
            out = damage.damage_clip(frames, scale=2, seed=seed)
            clean = damage.clean_clip(frames, 2)
            assert np.mean([psnr(o, c) for o, c in zip(out, clean)]) < 36.0

    def test_tone_only_is_the_clips_tone(self):
        frames = textured_frames(3)
        a = damage.tone_only(frames, seed=4)
        assert [f.shape for f in a] == [f.shape for f in frames]
        assert all(np.array_equal(x, y) for x, y in zip(a, damage.tone_only(frames, seed=4)))
        # Only a mild global change (these test frames are more saturated than film).
        assert 20.0 < np.mean([psnr(x, f) for x, f in zip(a, frames)]) < 60.0

    def test_settings_are_the_clips(self):
        d = damage.settings_for(3)
        assert d.codec in damage.CODEC_QUANTISERS and d.scaler in damage.SCALERS
        low, high = damage.CODEC_QUANTISERS[d.codec]
        assert low <= d.quantiser <= high
        assert d == damage.settings_for(3)

    def test_steps_left_out(self):
        # Each step left out leaves the others as drawn: the codec is the last step, so the clip
        # without it, coded with the clip's codec and quantiser, is the whole damage bit for bit.
        frames = textured_frames(3)  # seed 5: MJPEG, a scratch and dust
        full, full_masks = damage.damage_clip_with_masks(frames, scale=2, seed=5)
        same, _ = damage.damage_clip_with_masks(frames, scale=2, seed=5, steps=damage.STEPS)
        assert all(np.array_equal(x, y) for x, y in zip(full, same))
        d = damage.settings_for(5)
        uncoded, masks = damage.damage_clip_with_masks(frames, scale=2, seed=5, steps=("tone", "grain", "dirt"))
        assert not all(np.array_equal(x, y) for x, y in zip(uncoded, full))
        coded = damage.codec_round_trip(uncoded, d.codec, d.quantiser)
        assert all(np.array_equal(x, y) for x, y in zip(coded, full))
        assert all(np.array_equal(x, y) for x, y in zip(masks, full_masks))
        # Without dirt nothing is marked, and with nothing but the blur and the scan the clip is
        # much nearer the clean one than the whole damage.
        _, no_dirt = damage.damage_clip_with_masks(frames, scale=2, seed=5, steps=("tone", "grain", "codec"))
        assert any(m.any() for m in full_masks) and not any(m.any() for m in no_dirt)
        scan, _ = damage.damage_clip_with_masks(frames, scale=2, seed=5, steps=())
        clean = damage.clean_clip(frames, 2)
        assert (np.mean([psnr(s, c) for s, c in zip(scan, clean)])
                > np.mean([psnr(f, c) for f, c in zip(full, clean)]) + 3.0)
        with pytest.raises(ValueError, match="unknown damage steps"):
            damage.damage_clip_with_masks(frames, scale=2, seed=5, steps=("tone", "weave"))

    def test_rejects_sides_not_divisible(self):
        with pytest.raises(ValueError, match="divisible by the scale 4"):
            damage.damage_clip(textured_frames(1, width=62, height=48), scale=4, seed=0)

    def test_no_training_damage_code(self):
        """Written apart: no import of vidstyle at all, so nothing of vidstyle.damage."""
        tree = ast.parse((PIPELINES / "independent_damage.py").read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom)}
        assert not any(name.startswith("vidstyle") for name in imported), imported
        code = ("import sys; sys.path.insert(0, sys.argv[1]); import independent_damage; "
                "print(sorted(m for m in sys.modules if m.startswith('vidstyle')))")
        out = subprocess.run([sys.executable, "-c", code, str(PIPELINES)], capture_output=True,
                             text=True, check=True)
        assert out.stdout.strip() == "[]"


class TestFigures:
    def test_colour_shift_of_a_shifted_image(self):
        rng = np.random.default_rng(0)
        clean = [rng.integers(20, 200, (16, 24, 3), dtype=np.uint8) for _ in range(2)]
        shifted = [(c.astype(np.int16) + np.array([3, -2, 0])).astype(np.uint8) for c in clean]
        shift = gen.colour_shift(shifted, clean)
        np.testing.assert_allclose(shift, [3.0, -2.0, 0.0], atol=1e-9)
        scores = gen.clip_scores(shifted, clean, border=2)
        assert scores["max_shift"] == pytest.approx(3.0)
        assert scores["shift"] == pytest.approx([3.0, -2.0, 0.0])

    def test_colour_shift_checks_sizes(self):
        a = np.zeros((8, 8, 3), np.uint8)
        with pytest.raises(ValueError, match="differ in size"):
            gen.colour_shift([a], [np.zeros((8, 6, 3), np.uint8)])

    def test_camera_motion_moves(self):
        image = textured_frames(1, width=96, height=80)[0]
        frames = footage.camera_motion(image, (48, 32), 3, zoom=(1.0, 1.1), start=(40, 40),
                                   end=(56, 44))
        assert [f.shape for f in frames] == [(32, 48, 3)] * 3
        assert not np.array_equal(frames[0], frames[-1])


class TestMeasure:
    def test_end_to_end_bicubic_only(self):
        """Two small frames, both conditions at x2, bicubic alone: rows, means and targets."""
        clip = footage.Clip("tiny", "made in the test", textured_frames(2), Fraction(25))
        settings = gen.Settings(scales=(2,), frames=2, carphone_frames=0, steadiness=False,
                                methods=("bicubic",))
        section = gen.measure(settings, material=[clip])
        keys = [c["key"] for c in section["conditions"]]
        assert keys == ["independent-x2", "clean-x2"]
        independent, clean = section["conditions"]
        row = independent["rows"]["bicubic"]
        assert set(row["clips"]) == {"tiny"}
        assert row["clips"]["tiny"]["gain"] == 0.0
        assert row["mean"]["psnr"] == pytest.approx(row["clips"]["tiny"]["psnr"])
        # Damage costs fidelity: the damaged input upscales worse than the clean one.
        assert row["mean"]["psnr"] < clean["rows"]["bicubic"]["mean"]["psnr"]
        assert abs(clean["rows"]["bicubic"]["mean"]["max_shift"]) < 1.0
        assert "ceiling" in independent["rows"] and "ceiling" not in clean["rows"]
        assert section["models"] == {"x2": None}
        assert section["peer"]["x2"]["available"] is False
        assert {t["status"] for t in section["targets"]} == {"not measured"}
        text = gen.render_text(section)
        assert "independent-x2" in text and "tiny" in text
        assert gen.render_markdown(section)[0] == "## Generalization"

    def test_steadiness_runs_the_clean_input_through_the_default_mode(self):
        """The steadiness part with the shipped x2 model on a tiny clip: the damaged runs, the clean input
        through bicubic, off, reuse and the defaults (--temporal auto, --repair auto), its table and its targets."""
        clip = footage.Clip("tiny", "made in the test", textured_frames(6, width=96, height=64), Fraction(25))
        settings = gen.Settings(scales=(2,), frames=6, carphone_frames=0, steadiness=True,
                                methods=("bicubic", "model"))
        section = gen.measure(settings, material=[clip])
        rows = section["steadiness"]["clips"]["tiny"]
        assert {"bicubic", "off", "reuse", "auto", "repair", "clean_bicubic", "clean_off", "clean_reuse",
                "clean_auto"} <= set(rows)
        # Frames between keyframes were reused, and a clean input upscales better than a damaged one.
        assert rows["reuse"]["temporal"]["reused_frames"] > 0
        assert rows["clean_off"]["psnr"] > rows["off"]["psnr"]
        # auto runs with the model's whole gate and reports it (what it does: tests/test_temporal_device.py)
        gate = rows["clean_auto"]["temporal"]["whole_gate"]
        assert gate["level"] == 2.5 and 0 <= gate["whole_frames"] <= rows["clean_auto"]["temporal"]["reused_frames"]
        assert "whole_gate" not in rows["clean_reuse"]["temporal"]
        # the defaults: --temporal auto and --repair auto, on the damaged input and the clean one
        assert section["steadiness"]["default_repair"] == "auto"
        for key, base, what, limit in (("auto", "bicubic", "independent damage x2 with the defaults (--temporal auto, "
                                        "--repair auto):", gen.INDEPENDENT_GAIN),
                                       ("clean_auto", "clean_bicubic", "clean x2 (do no harm) with the defaults "
                                        "(--temporal auto, --repair auto):", gen.CLEAN_GAIN),
                                       ("clean_reuse", "clean_bicubic", "with --temporal reuse:", gen.CLEAN_GAIN)):
            target = next(t for t in section["targets"] if what in t["name"])
            gain = rows[key]["psnr"] - rows[base]["psnr"]
            assert target["figures"] == f"tiny {gain:+.2f} dB" and target["passed"] == (gain >= limit)
        text = "\n".join(gen.render_markdown(section))
        assert "the defaults on clean input, x2" in text
        assert f"{rows['clean_reuse']['psnr'] - rows['clean_off']['psnr']:+.2f}" in text
        assert f"{rows['clean_auto']['psnr'] - rows['clean_off']['psnr']:+.2f}" in text

    def test_settings_need_bicubic(self):
        with pytest.raises(ValueError, match="bicubic"):
            gen.Settings(methods=("lanczos",))

    def test_weights_option(self):
        assert gen.parse_weights("x2=a/b.safetensors") == (2, Path("a/b.safetensors"))
        with pytest.raises(Exception, match="x1=PATH"):
            gen.parse_weights("2=a.safetensors")


class TestSteps:
    def test_generalization_steps_runs_on_the_test_s_clips(self, tmp_path):
        """pipelines/generalization_steps.py on one frame a clip: every variant scores every clip,
        its last variant is the test's damage itself, and the damage only lowers bicubic's figure.
        Without the Real-ESRGAN peer, which took three quarters of the time."""
        from pipelines import generalization_steps

        out = tmp_path / "steps.json"
        assert generalization_steps.main(["--frames", "1", "--no-peer", "--json", str(out)]) == 0
        figures = json.loads(out.read_text())["variants"]
        assert list(figures) == [name for name, _ in generalization_steps.VARIANTS]
        clips = footage.held_out_material(1) + footage.outside_material(1)[0]
        assert all(set(rows) == {c.name for c in clips} for rows in figures.values())
        for clip in clips:
            whole = damage.damage_clip(clip.frames, scale=2, seed=clip.seed)
            bicubic = gen.clip_scores(gen.baseline_methods(2)[0].run(whole), clip.frames, 2)["psnr"]
            assert figures["all (the test)"][clip.name]["bicubic"] == pytest.approx(bicubic)
            assert figures["scan only"][clip.name]["bicubic"] > figures["all but tone"][clip.name]["bicubic"]
            assert set(figures["all but tone"][clip.name]) == {"bicubic", "model"}  # the model's gain, no peer
            assert all(np.isfinite(v) for v in figures["all but tone"][clip.name].values())
