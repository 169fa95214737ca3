"""The README's style gallery (pipelines/style_gallery.py): its pictures, its figures and its table.

No model runs here: the script draws with the shipped styles, which is the lead's run to make.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import style_gallery as gallery
from vidstyle.train.data import HELD_OUT_CLIP_FRAMES, TRAINING_IMAGES
from vidstyle.train.evaluate import held_out_pair


def picture(structure, edge_f, grid):
    return {"structure": structure, "edge_f": edge_f, "edge_precision": edge_f, "edge_recall": edge_f,
            "grid_energy": grid, "frames": 5}


def style_entry(sha256="aa", structure=0.7, edge_f=0.65, grid=2e-3, distance=0.3, warp=0.6):
    """A style of the benchmark's styles section, as bench_styles stores it (means only)."""
    mean = {"distance_ratio": distance, "warp_ratio": warp,
            "picture": None if structure is None else picture(structure, edge_f, grid)}
    return {"sha256": sha256, "mean": mean}


def report(styles, *, measured=("styles",), merged_from=None):
    """A benchmark report with a styles section over two clips."""
    section = {"styles": styles, "clips": {"bikes.mp4": {"bicubic_picture": picture(0.92, 0.70, 1e-5)},
                                           "bigbuckbunny.mp4": {"bicubic_picture": picture(0.90, 0.72, 3e-5)}}}
    out = {"command": "python -m pipelines.benchmark", "machine": {"date": "2026-12-06T10:00:00+00:00"},
           "sections": ["quality", "styles"], "measured_sections": list(measured), "styles": section}
    if merged_from is not None:
        out["merged_from"] = merged_from
    return out


class TestPictures:
    def test_no_picture_was_trained_on(self):
        kinds = {p.kind for p in gallery.PICTURES}
        assert kinds == {"face", "street", "landscape"}
        for p in gallery.PICTURES:
            if p.source in HELD_OUT_CLIP_FRAMES:
                first, end = HELD_OUT_CLIP_FRAMES[p.source]
                assert first <= p.index < end, p
            else:
                assert p.source.removesuffix(".jpg") not in TRAINING_IMAGES

    def test_a_training_frame_is_refused(self):
        with pytest.raises(SystemExit, match=r"bikes.mp4 #10 was trained on.*\[175, 250\)"):
            gallery.clean_picture(gallery.Picture("street", "bikes.mp4", 10, (0, 0, 8, 8)))

    def test_crop_and_a_window_outside(self):
        image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
        assert np.array_equal(gallery.crop(image, (2, 1, 4, 3)), image[1:4, 2:6])
        with pytest.raises(ValueError, match="outside a 8x6 picture"):
            gallery.crop(image, (6, 0, 4, 3))

    def test_an_outside_picture_is_damaged_as_the_held_out_ones(self):
        clean = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        a = held_out_pair("grace_hopper.jpg", 0, clean, 2)
        b = held_out_pair("grace_hopper.jpg", 0, clean, 2)
        other = held_out_pair("grace_hopper.jpg", 1, clean, 2)
        assert a.degraded.shape == (24, 32, 3) and a.target.shape == (48, 64, 3)
        assert np.array_equal(a.degraded, b.degraded) and np.array_equal(a.target, b.target)
        assert not np.array_equal(a.degraded, other.degraded)


class TestFigures:
    def test_the_run_that_measured_the_styles(self):
        # This run measured the section itself.
        assert gallery.styles_run(report({}))["date"] == "2026-12-06T10:00:00+00:00"
        # A merge of a merge: the styles were measured two runs back, and carried since.
        older = {"sections": ["quality"], "command": "python -m pipelines.benchmark --sections quality",
                 "date": "2026-12-01"}
        styles_run = {"sections": ["quality", "styles"], "command": "--sections styles --merge",
                      "date": "2026-12-04", "merged_from": older}
        top = {"sections": ["styles"], "command": "--sections repair --merge", "date": "2026-12-05",
               "merged_from": styles_run}
        merged = report({}, measured=("outside",), merged_from=top)
        assert gallery.styles_run(merged) == {"date": "2026-12-04", "command": "--sections styles --merge"}

    def test_figures_come_from_the_report_and_name_other_weights(self):
        measured, bicubic = gallery.report_figures(report({"ink": style_entry(sha256="aa"),
                                                           "pencil": style_entry(sha256="bb")}))
        assert bicubic["structure"] == pytest.approx(0.91)
        ink = gallery.style_row("ink", "aa", measured, [])
        assert ink.origin == "benchmark"
        assert ink.values == {"structure": 0.7, "edge_f": 0.65, "grid_energy": 2e-3, "distance_ratio": 0.3,
                              "warp_ratio": 0.6}
        assert gallery.style_row("pencil", "cc", measured, []).origin == "benchmark, other weights"

    def test_without_the_report_the_tiles_measure(self):
        tiles = [{"structure": 0.5, "edge_f": 0.4, "grid_energy": 0.01},
                 {"structure": 0.7, "edge_f": 0.6, "grid_energy": 0.03}]
        alone = gallery.style_row("glass", "dd", {}, tiles)
        assert alone.origin == "on these frames"
        assert alone.values["structure"] == pytest.approx(0.6) and alone.values["grid_energy"] == pytest.approx(0.02)
        assert alone.values["distance_ratio"] is None and alone.values["warp_ratio"] is None
        # A report from before the picture measures: its distance and warping kept, the rest measured here.
        measured, _ = gallery.report_figures(report({"glass": style_entry(structure=None)}))
        older = gallery.style_row("glass", "aa", measured, tiles)
        assert older.origin == "on these frames"
        assert older.values["distance_ratio"] == 0.3 and older.values["edge_f"] == pytest.approx(0.5)


class TestTable:
    def test_markdown_marks_what_missed_and_says_whence(self):
        rows = {"ink": gallery.Figures({"structure": 0.80, "edge_f": 0.55, "grid_energy": 2.1e-3,
                                        "distance_ratio": 0.47, "warp_ratio": 0.71}, "benchmark"),
                "glass": gallery.Figures({"structure": 0.76, "edge_f": 0.61, "grid_energy": 4e-4,
                                          "distance_ratio": None, "warp_ratio": None}, "on these frames")}
        run = {"date": "2026-12-04T23:26:52+00:00", "command": "python -m pipelines.benchmark --sections styles"}
        lines = gallery.figures_table(rows, picture(0.92, 0.71, 9.6e-6), run)
        assert "run of 2026-12-04 23:26 UTC" in lines[0] and "--sections styles" in lines[0]
        assert "glass: not measured by the benchmark" in lines[0]
        table = lines[2:]
        assert table[0] == ("| style | structure (>= 0.75) | edge F (>= 0.6) | grid energy (<= 0.001) | "
                            "style distance, output / input (<= 0.5) | warping error, reuse / off (<= 0.7) |")
        assert table[2] == "| ink | 0.80 | 0.55 (missed) | 2.1e-03 (missed) | 0.47 | 0.71 (missed) |"
        assert table[3] == "| glass (on these frames) | 0.76 | 0.61 | 4.0e-04 | not measured | not measured |"
        assert table[4] == "| bicubic x2, for context | 0.92 | 0.71 | 9.6e-06 |  |  |"

    def test_the_panel_beside_the_exemplar(self):
        figures = gallery.Figures({"structure": 0.40, "edge_f": 0.65, "grid_energy": 2e-3,
                                   "distance_ratio": 0.23, "warp_ratio": 0.6}, "benchmark, other weights")
        lines = gallery.panel_lines("engraving", figures, {"date": "2026-12-04T23:26:52+00:00"})
        texts = {text: colour for text, _, colour, _ in lines}
        assert "(styles run of 2026-12-04)" in texts and "measured on other weights!" in texts
        assert texts["0.40  (target >= 0.75)"] == gallery.MISSED
        assert texts["0.65  (target >= 0.6)"] == gallery.INK
        assert texts["2.0e-03  (target <= 0.001)"] == gallery.MISSED
        assert "(styles run of unknown date)" in {text for text, *_ in gallery.panel_lines("engraving", figures, {})}
        panel = gallery.figures_panel("engraving", figures, {}, (270, 600))
        assert panel.shape == (600, 270, 3)
        red = (panel[..., 0] > 150) & (panel[..., 1] < 90)
        assert red.sum() > 50  # the missed figures are drawn in red
