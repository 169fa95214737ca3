"""The batch section of the benchmark (pipelines/benchmark/batch.py): planner arithmetic, targets and Markdown.

Nothing here runs a model, a worker pool or Ray.
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from pipelines.benchmark import batch as batch_section
from pipelines.benchmark import harness, markdown
from pipelines.benchmark import plan as plans
from pipelines.benchmark import report as reports
from vidstyle.batch.runner import BatchConfig, segments_for


def backend_run(backend, round_, fps, frames=200):
    return {"round": round_, "backend": backend, "films": 4, "frames": frames,
            "seconds": frames / fps, "fps": fps, "cores": 1.9, "other_cores": 0.05,
            "descendants_cores": 0.02 if backend == "local" else 1.5}


def report(*, local=(8.0, 8.4), ray=(7.6, 8.0), ray_available=True, quick=False):
    """A report as bench_batch leaves it; the planned overhead is the real arithmetic."""
    runs = [backend_run("local", 1, local[0]), backend_run("ray", 1, ray[0]),
            backend_run("ray", 2, ray[1]), backend_run("local", 2, local[1])]
    medians = {name: {"frames": 200, "seconds": 200 / float(np.median(fps)),
                      "fps": float(np.median(fps))} for name, fps in (("local", local), ("ray", ray))}
    backends = {
        "ray": {"available": True, "version": "2.9.0", "start_seconds": 4.0},
        "jobs": 2, "clip_frames": 50, "films": 4, "ranges": [[0, 50], [60, 110]],
        "size": "640x272 -> 1280x544", "other_load_cores": 0.05, "runs": runs,
        "medians": medians, "ratio": medians["ray"]["fps"] / medians["local"]["fps"],
        "round_ratios": [ray[0] / local[0], ray[1] / local[1]],
        "ratio_with_start": 200 / (medians["ray"]["seconds"] + 4.0) / medians["local"]["fps"],
    }
    if not ray_available:
        backends = {"ray": {"available": False, "error": "--backend ray needs Ray, which is not "
                            "installed: pip install 'vidstyle[ray]'"},
                    "jobs": 2, "clip_frames": 50}
    chunked = {
        "clip": "bikes.mp4", "keyframes": [0, 30, 76, 137, 187, 242],
        "plan": [{"first_frame": 0, "frames": 76, "warmup": 0},
                 {"first_frame": 76, "frames": 61, "warmup": 4},
                 {"first_frame": 137, "frames": 50, "warmup": 4},
                 {"first_frame": 187, "frames": 63, "warmup": 4}],
        "segments": 4, "frames": 250, "warmup_frames": 12, "overhead": 12 / 250,
        "model": {"name": "remaster-x2"}, "keyframe_interval": 4, "temporal": {"mode": "reuse"},
        "unchunked": {"frames": 250, "seconds": 22.0, "fps": 250 / 22, "cores": 1.9,
                      "other_cores": 0.1},
        "chunked": {"frames": 250, "segments": 4, "seconds": 30.0, "fps": 250 / 30, "cores": 1.8,
                    "other_cores": 0.1},
        "comparison": {"frames": [250, 250], "frames_equal": True, "pts_equal": True,
                       "identical_frames": 240, "differing": [[76, 80], [137, 143]],
                       "psnr": 45.0, "lowest_frame_psnr": 33.0},
    }
    return {
        "machine": {"cores_available": 2, "cpu_count": 2},
        "plan": {"quick": quick},
        "batch": {"planned": batch_section.bench_planned_overhead(), "chunked": chunked,
                  "backends": backends},
    }


class TestSections:
    def test_batch_alone_and_in_all(self):
        assert plans.parse_sections("batch") == ("batch",)
        assert "batch" in plans.parse_sections("all")
        assert "batch" not in plans.parse_sections("models")

    def test_quick_plan_is_smaller(self):
        quick, full = plans.make_plan(True).batch, plans.make_plan(False).batch
        assert full.chunk_frames is None and full.rounds == 2
        assert quick.clip_frames < full.clip_frames and quick.rounds == 1


class TestPlanner:
    def test_the_runners_rule(self):
        keyframes = list(range(0, 129600, 48))
        # Up to 1.5 x chunk_seconds a film stays whole; beyond, segments of about chunk_seconds.
        assert len(segments_for(900, keyframes, 24.0, BatchConfig(chunk_seconds=25.0), 4)) == 1
        split = segments_for(1000, keyframes, 24.0, BatchConfig(chunk_seconds=25.0), 4)
        assert len(split) == 2 and [s.warmup for s in split] == [0, 4]
        # --chunks wins over the length rule; warmup None is the keyframe interval.
        chunks = segments_for(129600, keyframes, 24.0, BatchConfig(chunks=4, warmup=None), 6)
        assert len(chunks) == 4 and {s.warmup for s in chunks[1:]} == {6}

    def test_feature_film_at_the_defaults(self):
        film = batch_section.planned_film("feature", 90, Fraction(24), 2)
        # 129600 frames in segments of 600 s = 14400 frames: 9 of them, 8 cuts of 4 warm-up frames.
        assert (film["frames"], film["segments"], film["warmup_frames"]) == (129600, 9, 32)
        assert film["segment_frames"] == [14400] * 9
        assert film["overhead"] == pytest.approx(32 / 129600)

    def test_a_reel_is_not_split(self):
        film = batch_section.planned_film("reel", 10, Fraction(25), 2)
        assert (film["frames"], film["segments"], film["warmup_frames"]) == (15000, 1, 0)
        assert film["overhead"] == 0

    def test_every_planned_film(self):
        planned = batch_section.bench_planned_overhead()
        assert (planned["chunk_seconds"], planned["warmup"]) == (600.0, 4)
        assert [f["name"] for f in planned["films"]] == [f[0] for f in batch_section.PLANNED_FILMS]

    def test_measured_chunks_of_bikes(self):
        # bikes.mp4's keyframes: the 4 chunks of the measured run, 3 cuts of 4 warm-up frames.
        segments = segments_for(250, [0, 30, 76, 137, 187, 242], 25.0,
                                          BatchConfig(chunks=4, jobs=2), 4)
        assert [(s.first_frame, s.frames, s.warmup) for s in segments] == [
            (0, 76, 0), (76, 61, 4), (137, 50, 4), (187, 63, 4)]
        assert batch_section.chunking_overhead(segments)["overhead"] == pytest.approx(12 / 250)


class TestHelpers:
    def test_overhead_pct(self):
        assert markdown.overhead_pct(0) == "0%"
        assert markdown.overhead_pct(32 / 129600) == "0.025%"
        assert markdown.overhead_pct(12 / 250) == "4.8%"

    def test_index_ranges(self):
        assert batch_section.index_ranges([]) == []
        assert batch_section.index_ranges([3, 4, 5, 9]) == [[3, 6], [9, 10]]

    def test_compare_outputs(self, tmp_path):
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (16, 32, 3), dtype=np.uint8) for _ in range(5)]
        whole = harness.write_lossless(tmp_path / "whole.mkv", frames, Fraction(25))
        same = batch_section.compare_outputs(whole, harness.write_lossless(tmp_path / "same.mkv", frames,
                                                                 Fraction(25)))
        assert same["frames_equal"] and same["pts_equal"]
        assert (same["identical_frames"], same["differing"], same["psnr"]) == (5, [], "inf")
        changed = [f.copy() for f in frames]
        changed[3][0, 0] ^= 1
        other = batch_section.compare_outputs(whole, harness.write_lossless(tmp_path / "other.mkv", changed,
                                                                  Fraction(25)))
        assert other["identical_frames"] == 4 and other["differing"] == [[3, 4]]
        assert other["lowest_frame_psnr"] < other["psnr"] < float("inf")
        shorter = batch_section.compare_outputs(whole, harness.write_lossless(tmp_path / "short.mkv",
                                                                    frames[:4], Fraction(25)))
        assert shorter["frames"] == [5, 4] and not shorter["frames_equal"]
        assert not shorter["pts_equal"]

    def test_descendants_cpu_seconds(self):
        spin = ("import sys, time\n"
                "while time.process_time() < 0.3: pass\n"
                "print('ready', flush=True)\n"
                "sys.stdin.read()\n")
        child = subprocess.Popen([sys.executable, "-c", spin], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            assert harness.descendants_cpu_seconds() >= 0.25
        finally:
            child.communicate("")


class TestTargets:
    def test_pass(self):
        overhead, ray = batch_section.batch_targets(report())
        assert overhead["passed"] and ray["passed"]
        assert overhead["figures"].startswith("worst 0.026%")
        assert "feature film: 9 segment(s), 32 / 129600 frames = 0.025%" in overhead["figures"]
        assert "(context): 12 / 250 = 4.8%" in overhead["figures"]
        # Medians 7.8 / 8.2 fps; round by round 95%, 95%.
        assert ray["figures"].startswith("7.80 fps / 8.20 fps = 95% on 200 frames")
        assert "round by round 95%, 95%" in ray["figures"]

    def test_ray_too_slow(self):
        _, ray = batch_section.batch_targets(report(ray=(6.0, 7.0)))
        assert ray["passed"] is False

    def test_overhead_over_target(self):
        r = report()
        r["batch"]["planned"]["films"][0]["overhead"] = 0.06
        overhead, _ = batch_section.batch_targets(r)
        assert overhead["passed"] is False

    def test_without_ray(self):
        r = report(ray_available=False)
        targets = reports.targets(r)
        assert [t["status"] for t in targets] == ["PASS", "not measured"]
        assert "pip install" in targets[1]["figures"]


class TestMarkdown:
    def test_tables(self):
        md = "\n".join(batch_section.render_batch(report()))
        assert "| feature film | 90 | 24.000 | 2 s | 129600 | 9 | 32 | **0.025%** |" in md
        assert "| reel (not split) | 10 | 25.000 | 2 s | 15000 | 1 | 0 | **0%** |" in md
        assert "**12 warm-up frames of 250 = 4.8%**" in md
        assert "| --chunks 4 --jobs 2 | 250 | 4 | 30.0 | 8.33 |" in md
        assert "timestamps (seconds from the first frame, exact) equal." in md
        assert "240 of 250 frames are identical bit for bit; frames [76, 80), [137, 143)" in md
        assert "| 1 | local | 200 | 25.0 | **8.00** | 1.90 | 0.02 | 0.05 |" in md
        assert "| 2 | ray | 200 | 25.0 | **8.00** | 1.90 |  | 0.05 |" in md
        assert "**95%** (round by round: 95%, 95%)" in md
        assert "**4.0 s**" in md and "Quick run" not in md

    def test_mismatch_is_loud(self):
        r = report()
        r["batch"]["chunked"]["comparison"].update(frames=[250, 249], frames_equal=False,
                                                   pts_equal=False)
        md = "\n".join(batch_section.render_batch(r))
        assert "**not equal**" in md and "does not match the unchunked one" in md

    def test_without_ray(self):
        md = "\n".join(batch_section.render_batch(report(ray_available=False, quick=True)))
        assert "Not measured: --backend ray needs Ray" in md
        assert "### Chunking overhead" in md
