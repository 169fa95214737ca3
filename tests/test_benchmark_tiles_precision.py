"""The benchmark's tiles and precision sections: their targets and their Markdown, on recorded reports."""

from __future__ import annotations

import copy

import pytest

from pipelines.benchmark import precision, tiles
from pipelines.benchmark.sections import BY_NAME

MIB = 2**20


def tiles_report() -> dict:
    run = lambda peak, before, size: {"peak": peak * MIB, "before": before * MIB, "seconds": 1.0,  # noqa: E731
                                      "output": size}
    return {"machine": {"cores_available": 2}, "tiles": {
        "model": "remaster-x2", "clip": "bigbuckbunny.mp4", "frame": 40, "memory_tile": 512,
        "seams": {"size": "1001x563", "tiling": {"size": 256, "overlap": 80, "context": 32, "ramp": 16, "asked": 256},
                  "tiles": 18, "work": 2.1, "rms": 0.0019, "max": 1, "changed": 1e-5},
        "memory": {"1280x720 tiles": run(755, 560, [2560, 1440]), "1280x720 whole": run(928, 560, [2560, 1440]),
                   "3840x2160 tiles": run(952, 581, [7680, 4320])},
        "ratio": 952 / 755}}


def precision_report() -> dict:
    def row(scale: int, bf16: float, fp16: float, bf16_allowed: bool = True) -> dict:
        cell = lambda db, allowed: {"min": db, "mean": db + 0.1, "max_diff": 2, "allowed": allowed}  # noqa: E731
        return {"scale": scale, "bf16": cell(bf16, bf16_allowed), "fp16": cell(fp16, True)}

    speed = lambda fps, ratio: {"fps": fps, "ratio_vs_fp32": ratio, "ms_per_frame": 1000 / fps,  # noqa: E731
                                "cores": 0.6, "round_ratios": [ratio]}
    return {"machine": {"cores_available": 2}, "precision": {
        "clip": "bigbuckbunny.mp4", "size": "320x180", "frames": 8, "stride": 16, "cpu_bf16": True, "auto_cpu": "bf16",
        "models": {"remaster-x2": row(2, 54.8, 62.4), "engraving": row(2, 47.1, 54.5, bf16_allowed=False)},
        "speed": {"model": "remaster-x2", "repeats": 3, "other_load_cores": 0.1,
                  "rows": {"fp32": speed(6.0, 1.0), "bf16": speed(8.2, 1.36), "fp16": speed(1.0, 0.16)}}}}


class TestTiles:
    def test_targets_pass_and_fail(self):
        report = tiles_report()
        assert [t["passed"] for t in tiles.targets(report)] == [True, True]
        assert "1.26x" in tiles.targets(report)[1]["figures"]
        worse = copy.deepcopy(report)
        worse["tiles"]["seams"]["rms"] = 0.7
        worse["tiles"]["ratio"] = 1.6
        assert [t["passed"] for t in tiles.targets(worse)] == [False, False]

    def test_markdown(self):
        md = "\n".join(tiles.render(tiles_report()))
        assert "## Tiles" in md and "images/tiles.png" in md and "**1.26x**" in md
        assert "| 3840x2160 tiles | 7680x4320 | **952** | 581 | 371 |" in md


class TestPrecision:
    def test_a_model_refused_bf16_is_listed_not_judged(self):
        bf16, fp16 = precision.targets(precision_report())
        assert bf16["passed"] and "refused bf16 (measured): engraving 47.1" in bf16["figures"]
        assert fp16["passed"] and "lowest 54.50 dB (engraving)" in fp16["figures"]

    def test_an_allowed_model_below_the_floor_fails(self):
        report = precision_report()
        report["precision"]["models"]["remaster-x2"]["bf16"]["min"] = 49.0
        assert precision.targets(report)[0]["passed"] is False

    def test_markdown(self):
        md = "\n".join(precision.render(precision_report()))
        assert "| engraving | x2 | **47.10** / 47.20 (2) | **54.50** / 54.60 (2) | fp32, fp16 | PASS |" in md
        assert "chooses **bf16** here" in md and "| bf16 | **8.20** | **1.36x**" in md


@pytest.mark.parametrize("name", ["tiles", "precision"])
def test_sections_are_registered(name):
    assert BY_NAME[name].key == name
