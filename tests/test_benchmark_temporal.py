"""The temporal section of the benchmark (pipelines/benchmark/temporal.py): inputs, targets and Markdown;
no model runs."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from pipelines.benchmark import harness
from pipelines.benchmark import plan as plans
from pipelines.benchmark import temporal as temporal_section
from vidstyle import VideoReader


def row(psnr, warp, flicker=0.5, mode=None, keyframes=0, frames=12):
    """One output's figures as bench_temporal stores them; ``mode`` None for bicubic / the floor."""
    temporal = {"mode": mode}
    if mode in ("blend", "reuse"):
        reused = frames - keyframes if mode == "reuse" else 0
        temporal.update(keyframes=keyframes, reused_frames=reused, scene_cuts=[], flow_failures=0)
    return {"psnr": psnr, "ssim": 0.9 if psnr else None, "warping_error": warp,
            "flicker": flicker, "temporal": temporal}


def speed_row(fps, mode, frames=250):
    keyframes = {"off": 0, "blend": 1, "reuse": frames // 4}[mode]
    return {"frames": frames, "fps": fps, "fps_runs": [fps], "seconds": frames / fps,
            "cores": 1.9, "flow_seconds": 1.0, "stage_seconds": {"model": 10.0, "encode": 5.0},
            "temporal": row(None, 0, mode=mode, keyframes=keyframes, frames=frames)["temporal"]}


def report(*, reuse_warp=0.6e-3, reuse_psnr=29.9, reuse_fps=15.0):
    rows = {"reference": row(None, 0.1e-3), "bicubic": row(27.0, 1.5e-3),
            "off": row(30.0, 1.0e-3, mode="off"), "blend": row(30.0, 0.9e-3, mode="blend"),
            "reuse": row(reuse_psnr, reuse_warp, mode="reuse", keyframes=3)}
    settings = {"grain_strength": 0.1, "dust_density": 0.0, "scratch_count": 2,
                "flicker_amplitude": 0.0}
    clip = {"frames": [175, 250], "size": "320x136 -> 640x272", "settings": "DegradeSettings()",
            "settings_fields": settings, "black_and_white": False, "rows": rows}
    damaged = {"bikes.mp4": clip, "bigbuckbunny.mp4": {**clip, "frames": [92, 132]}}
    speed = {"off": speed_row(8.0, "off"), "blend": speed_row(6.0, "blend"),
             "reuse": speed_row(reuse_fps, "reuse")}
    for s in speed.values():
        s["ratio_vs_off"] = s["fps"] / 8.0
        s["round_ratios"] = [s["ratio_vs_off"]]
    return {
        "machine": {"cores_available": 2},
        "plan": {"quick": False},
        "learned": {"2": {"label": "remaster-x2", "origin": "shipped", "path": "w.safetensors",
                          "architecture": "RemasterGenerator", "hparams": {}, "parameters": 1,
                          "sha256": "0" * 64}},
        "temporal": {
            "model": "remaster-x2", "modes": ["off", "blend", "reuse"], "reuse": True,
            "keyframe_interval": 4, "damaged": damaged,
            "damaged_mean": temporal_section.mean_rows([c["rows"] for c in damaged.values()]),
            "motion": {"clip": "bikes.mp4", "frames": [175, 250], "size": "640x272 -> 1280x544",
                       "rows": {k: v for k, v in rows.items() if k != "reference"}},
            "speed": {"clip": "bikes.mp4", "frames_note": "all frames",
                      "size": "640x272 -> 1280x544", "repeats": 3, "rows": speed,
                      "other_load_cores": 0.0},
        },
    }


class TestSections:
    def test_temporal_alone_and_in_all(self):
        assert plans.parse_sections("temporal") == ("temporal",)
        assert "temporal" in plans.parse_sections("all")
        assert "temporal" not in plans.parse_sections("models")


class TestInputs:
    def test_write_lossless_round_trip(self, tmp_path):
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (16, 32, 3), dtype=np.uint8) for _ in range(3)]
        path = harness.write_lossless(tmp_path / "a.mkv", frames, Fraction(25))
        with VideoReader(path) as reader:
            decoded = [f for batch in reader for f in batch.frames]
        assert len(decoded) == 3
        for a, b in zip(frames, decoded):
            np.testing.assert_array_equal(a, b)

    def test_damage_is_reproducible_and_moves(self):
        clip = temporal_section.damage_clip("bikes.mp4", 3)
        again = temporal_section.damage_clip("bikes.mp4", 3)
        assert clip.first == 175 and len(clip.damaged) == 3
        assert clip.damaged[0].shape == (136, 320, 3) and clip.reference[0].shape == (272, 640, 3)
        for a, b in zip(clip.damaged, again.damaged):
            np.testing.assert_array_equal(a, b)
        assert clip.settings == temporal_section.REEL_DAMAGE
        # Grain and flicker are new in every frame: the damage differs from frame to frame more
        # than the clean pictures do.
        step = lambda frames: np.abs(frames[1].astype(float) - frames[0]).mean()  # noqa: E731
        small = [cv2.resize(f, (320, 136), interpolation=cv2.INTER_AREA) for f in clip.reference]
        assert step(clip.damaged) > step(small) + 2


class TestTargets:
    def test_pass(self):
        targets = temporal_section.temporal_targets(report())
        assert [t["passed"] for t in targets] == [True, True, True]
        assert "40% lower" in targets[0]["figures"]

    def test_each_can_fail(self):
        targets = temporal_section.temporal_targets(report(reuse_warp=0.8e-3, reuse_psnr=29.6,
                                                reuse_fps=14.0))
        assert [t["passed"] for t in targets] == [False, False, False]

    def test_higher_warping_error_reads_higher(self):
        targets = temporal_section.temporal_targets(report(reuse_warp=1.2e-3))
        assert "20% higher" in targets[0]["figures"]

    def test_model_without_reuse(self):
        r = report()
        r["temporal"]["reuse"] = False
        assert {t["status"] for t in temporal_section.temporal_targets(r)} == {"no reuse"}

    def test_not_shipped(self):
        targets = temporal_section.temporal_targets({"temporal": {"skipped": "remaster-x2 is not shipped"}})
        assert {t["status"] for t in targets} == {"not shipped"}


class TestMarkdown:
    def test_tables(self):
        md = "\n".join(temporal_section.render_temporal(report()))
        assert "### Mean over the 2 damaged clips" in md
        assert "| remaster-x2 `--temporal reuse`, K=4 | 29.90 | 0.9000 | **0.600** | -40% |" in md
        assert "| remaster-x2 `--temporal reuse`, K=4 | 250 | **15.00** | **1.88x** |" in md
        assert "test_first_frame_after_a_cut_equals_off" in md
        assert "bikes.mp4: grain, 2 scratch(es)" in md

    def test_without_reuse_and_not_shipped(self):
        r = report()
        t = r["temporal"]
        t["reuse"], t["modes"] = False, ["off", "blend"]
        for rows in (*(c["rows"] for c in t["damaged"].values()), t["motion"]["rows"]):
            rows.pop("reuse", None)  # the clips share one dict of rows
        del t["speed"]["rows"]["reuse"]
        t["damaged_mean"] = temporal_section.mean_rows([c["rows"] for c in t["damaged"].values()])
        md = "\n".join(temporal_section.render_temporal(r))
        assert "has no feature reuse" in md and "`--temporal reuse`, K=4" not in md
        skipped = {"temporal": {"skipped": "remaster-x2 is not shipped"}}
        md = "\n".join(temporal_section.render_temporal(skipped))
        assert "Not measured: remaster-x2 is not shipped." in md
