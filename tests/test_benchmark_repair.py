"""The repair section of the benchmark (pipelines/benchmark/repair.py): its material, its measures,
its targets and Markdown from a recorded report, its place among the sections, and short real runs
through ``RepairConfig``."""

from __future__ import annotations

import copy
import dataclasses
from fractions import Fraction

import cv2
import numpy as np
import pytest

from pipelines import independent_damage
from pipelines.benchmark import footage, harness, repair, sections
from pipelines.benchmark import plan as plans
from pipelines.benchmark import temporal as temporal_section
from pipelines.benchmark.library import FilmDegrader, RepairConfig, VideoReader


def textured(count: int, width: int = 64, height: int = 48, seed: int = 0, noise: float = 8.0) -> list[np.ndarray]:
    """Blocks of colour with fine texture (``noise``: its standard deviation, levels), shifted one
    pixel a frame: RGB uint8 (height, width, 3)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 210, (height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    big = np.kron(base, np.ones((8, 8, 1), np.float32)) + rng.normal(0, noise, (height + 16, width + 16, 3))
    canvas = np.clip(big, 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(canvas[i:i + height, i:i + width]) for i in range(count)]


class TestSections:
    def test_repair_is_a_section(self):
        assert sections.BY_NAME["repair"] is repair.SECTION
        assert plans.parse_sections("repair") == ("repair",)
        assert "repair" in plans.parse_sections("all")
        assert "repair" not in plans.parse_sections("models")
        assert repair.SECTION.uses_learned


class TestMeasures:
    def test_upscale_mask_is_nearest(self):
        mask = np.array([[True, False], [False, False]])
        up = repair.upscale_mask(mask, 2)
        assert up.shape == (4, 4) and up[:2, :2].all() and up.sum() == 4

    def test_rms_at_counts_only_the_mask(self):
        clean = [np.zeros((4, 4, 3), np.uint8)] * 2
        out = [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)]
        out[0][0, 0] = 30
        out[1][3, 3] = 200  # outside the mask: not counted
        masks = [np.zeros((2, 2), bool), np.zeros((2, 2), bool)]
        masks[0][0, 0] = True  # -> the 2x2 block at the top left
        # One pixel of four in the block is off by 30 in each channel.
        assert repair.rms_at(out, clean, masks) == pytest.approx(np.sqrt(30**2 / 4))
        assert np.isnan(repair.rms_at(out, clean, [np.zeros((2, 2), bool)] * 2))
        with pytest.raises(ValueError, match="as many"):
            repair.rms_at(out, clean, masks[:1])

    def test_changed_share(self):
        a = [np.zeros((10, 10, 3), np.uint8)] * 2
        b = [a[0].copy(), a[1].copy()]
        b[1][0, 0, 2] = 1 + repair.CHANGED_LEVELS
        b[0][5, 5, 0] = repair.CHANGED_LEVELS  # a small move (flicker's) is not a change
        assert repair.changed_share(b, a) == pytest.approx(1 / 200)
        assert repair.changed_share(a, a) == 0

    def test_error_at_the_drawn_damage_is_the_damage(self):
        """On real damage the mask holds what dust and scratches changed: the same degrader
        without them (its other random streams unchanged) differs from it there and little
        elsewhere."""
        clean = textured(3, 128, 96)
        dirty = FilmDegrader(temporal_section.REEL_DAMAGE, seed=4, height=96, width=128)
        without = FilmDegrader(dataclasses.replace(temporal_section.REEL_DAMAGE, dust_density=0.0,
                                                   scratch_count=0), seed=4, height=96, width=128)
        low, base, drawn = [], [], []
        for frame in clean:
            low.append(dirty.degrade(frame))
            base.append(without.degrade(frame))
            drawn.append(dirty.damage_mask())
        assert sum(m.sum() for m in drawn) > 20
        up = lambda frames: [np.repeat(np.repeat(f, 2, axis=0), 2, axis=1) for f in frames]  # noqa: E731
        assert repair.rms_at(up(low), up(base), drawn) > 5 * repair.rms_at(up(low), up(base), [~m for m in drawn])
        strong = [np.abs(a.astype(int) - b).max(axis=2) > 40 for a, b in zip(low, base)]
        assert sum((s & m).sum() for s, m in zip(strong, drawn)) >= 0.95 * sum(s.sum() for s in strong)


class TestPerfectRepair:
    def test_replaces_the_damage_with_the_clean_picture_at_the_frames_tone(self):
        clean = textured(2, 128, 96, noise=0.0)
        small = [cv2.resize(f, (64, 48), interpolation=cv2.INTER_AREA) for f in clean]
        # A faded, brighter print: the tone a repair keeps.
        faded = [np.clip(np.rint(0.8 * f.astype(float) + 20), 0, 255).astype(np.uint8) for f in small]
        low, drawn = [], []
        for k, frame in enumerate(faded):
            frame, mask = frame.copy(), np.zeros((48, 64), bool)
            mask[10:14, 20 + 10 * k:25 + 10 * k] = True
            frame[mask] = 250
            low.append(frame)
            drawn.append(mask)
        out = repair.perfect_repair(low, clean, drawn)
        for frame, fixed, mask, want in zip(low, out, drawn, faded):
            grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            np.testing.assert_array_equal(fixed[~grown], frame[~grown])
            assert np.abs(fixed[grown].astype(int) - want[grown]).max() <= 1
            assert np.abs(frame[mask].astype(int) - want[mask]).mean() > 50

    def test_without_damage_nothing_changes(self):
        frames = textured(2, 64, 48)
        low = independent_damage.clean_clip(frames, 2)
        out = repair.perfect_repair(low, frames, [np.zeros((24, 32), bool)] * 2)
        for a, b in zip(out, low):
            np.testing.assert_array_equal(a, b)

    def test_counts_must_match(self):
        frames = textured(2, 64, 48)
        with pytest.raises(ValueError, match="as many"):
            repair.perfect_repair(independent_damage.clean_clip(frames, 2), frames[:1], [np.zeros((24, 32), bool)] * 2)


class TestMaterial:
    def test_fast_motion_is_deterministic_and_moves(self):
        a = footage.fast_motion_frames(4, size=(128, 96))
        b = footage.fast_motion_frames(4, size=(128, 96))
        assert [f.shape for f in a] == [(96, 128, 3)] * 4 and a[0].dtype == np.uint8
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
        assert not np.array_equal(a[0], footage.fast_motion_frames(1, size=(128, 96), seed=2)[0])
        # Beyond the pan of the background (3 px right, 1 down), small things move: frame 1
        # shifted back onto frame 0 still differs on a few scattered pixels, not everywhere.
        moved = np.abs(a[1][:-1, :-3].astype(int) - a[0][1:, 3:]).max(axis=2) > 40
        assert 0.002 < moved.mean() < 0.3

    def test_fast_motion_over_a_still_background(self):
        panning = footage.fast_motion_frames(3, size=(128, 96), seed=5)
        still = footage.fast_motion_frames(3, size=(128, 96), seed=5, pan=False)
        np.testing.assert_array_equal(still[0], panning[0])
        # Frame 1 against frame 0 as it is: only the small things moved, as much as in the panning clip once its
        # pan is undone (3 px right, 1 down), less than in the panning clip as it is.
        def moved(a: np.ndarray, b: np.ndarray) -> float:
            return float((np.abs(a.astype(int) - b).max(axis=2) > 40).mean())

        assert abs(moved(still[1], still[0]) - moved(panning[1][:-1, :-3], panning[0][1:, 3:])) < 0.05
        assert moved(still[1], still[0]) < moved(panning[1], panning[0]) - 0.03

    def test_fast_motion_clip_sides_divide_by_eight(self):
        clip = footage.fast_motion_clip(2)
        height, width = clip.frames[0].shape[:2]
        assert height % 8 == 0 and width % 8 == 0 and clip.name == "fast_motion"

    def test_independent_masks_leave_the_damage_unchanged(self):
        frames = textured(3, 96, 64)
        for seed in range(6):
            plain = independent_damage.damage_clip(frames, scale=2, seed=seed)
            damaged, masks = independent_damage.damage_clip_with_masks(frames, scale=2, seed=seed)
            for a, b in zip(plain, damaged):
                np.testing.assert_array_equal(a, b)
            assert [m.shape for m in masks] == [(32, 48)] * 3 and masks[0].dtype == bool

    def test_independent_masks_mark_the_dirt(self):
        # Mid-grey blocks: the family's fading and cast barely move them, its specks do.
        frames = [np.repeat((100 + f.mean(axis=2, keepdims=True) / 4).astype(np.uint8), 3, axis=2)
                  for f in textured(4, 128, 96, noise=0.0)]
        clean = independent_damage.clean_clip(frames, 2)
        marked = 0
        for seed in range(8):
            damaged, masks = independent_damage.damage_clip_with_masks(frames, scale=2, seed=seed)
            for out, ref, mask in zip(damaged, clean, masks):
                if mask.sum() < 5:
                    continue
                error = np.abs(out.astype(int) - ref).mean(axis=2)
                assert error[mask].mean() > 2 * error[~mask].mean()
                marked += 1
        assert marked >= 4

    def test_film_damage_records_where_it_drew(self):
        clip = temporal_section.damage_clip("bikes.mp4", 2)
        assert len(clip.drawn) == 2 and clip.drawn[0].shape == clip.damaged[0].shape[:2]
        assert clip.drawn[0].any()


def clip_record(kind: str, *, bicubic_rms=20.0, auto_rms=5.0, off_psnr=30.0, auto_psnr=31.0,
                touched=0.001, flicker=0.6, clean_flicker=0.5, flickers=True) -> dict:
    """One clip as measure_input records it."""
    def row(psnr, rms, repair_report=None):
        r = {"psnr": psnr, "flicker": flicker, "repair": repair_report or {}, "touched": None}
        if kind != "clean":
            r["rms_damage"] = rms
        return r
    rows = {"bicubic": row(27.0, bicubic_rms), "off": row(off_psnr, 12.0),
            "auto": row(auto_psnr, auto_rms, {"pixels_touched": 10, "pixels": 100})}
    rows["auto"]["touched"] = touched
    if kind == "clean":
        rows["auto"]["changed"] = touched
    return {"kind": kind, "origin": "test", "frames": 4, "size": "32x24 -> 64x48", "flickers": flickers,
            "clean_flicker": clean_flicker, "drawn_share": None if kind == "clean" else 0.01, "rows": rows}


def recorded(**clean_kw) -> dict:
    """A tiny recorded report of the section, passing every target."""
    speed_row = lambda fps, ratio: {"frames": 8, "fps": fps, "fps_runs": [fps], "seconds": 8 / fps,  # noqa: E731
                                    "cores": 1.9, "stage_seconds": {"model": 1.0, "decode": 0.1, "encode": 0.5},
                                    "ratio_vs_off": ratio, "round_ratios": [ratio], "repair": {}}
    return {
        "machine": {"cores_available": 2},
        "learned": {"2": None},
        "repair": {
            "model": "remaster-x2",
            "clips": {"film: bikes.mp4": clip_record("film"), "independent: bikes.mp4": clip_record("independent"),
                      "clean: bikes.mp4": clip_record("clean", auto_psnr=29.95, **clean_kw),
                      "clean: fast_motion": clip_record("clean", auto_psnr=30.0)},
            "speed": {"clip": "bikes.mp4", "frames_note": "first 8 frames", "size": "640x272 -> 1280x544",
                      "repeats": 1, "rows": {"off": speed_row(10.0, 1.0), "auto": speed_row(9.0, 0.9)},
                      "other_load_cores": 0.0},
        },
    }


class TestTargets:
    def test_all_pass(self):
        targets = repair.repair_targets(recorded())
        assert [t["passed"] for t in targets] == [True] * 6
        assert "0.25x" in targets[0]["figures"] and "off 0.60x" in targets[0]["figures"]

    @pytest.mark.parametrize("change, failing", [
        (lambda c: c["film: bikes.mp4"]["rows"]["auto"].update(rms_damage=7.0), 0),
        (lambda c: c["clean: fast_motion"]["rows"]["auto"].update(psnr=29.8), 1),
        (lambda c: c["clean: bikes.mp4"]["rows"]["auto"].update(touched=0.003), 2),
        (lambda c: c["independent: bikes.mp4"]["rows"]["auto"].update(flicker=0.8), 3),
        (lambda c: [c[k]["rows"]["auto"].update(psnr=30.4) for k in ("film: bikes.mp4", "independent: bikes.mp4")], 4),
    ])
    def test_each_fails_alone(self, change, failing):
        report = copy.deepcopy(recorded())
        change(report["repair"]["clips"])
        passed = [t["passed"] for t in repair.repair_targets(report)]
        assert passed == [i != failing for i in range(6)]

    def test_speed_fails_below_the_limit(self):
        report = recorded()
        report["repair"]["speed"]["rows"]["auto"]["ratio_vs_off"] = 0.7
        assert repair.repair_targets(report)[5]["passed"] is False

    def test_clip_without_flicker_is_not_judged_on_flicker(self):
        report = recorded()
        clip = report["repair"]["clips"]["film: bikes.mp4"]
        clip.update(flickers=False)
        clip["rows"]["auto"]["flicker"] = 5.0
        assert repair.repair_targets(report)[3]["passed"] is True

    def test_touched_falls_back_to_the_measured_share(self):
        report = recorded()
        for clip in repair.of_kind(report["repair"], "clean").values():
            clip["rows"]["auto"].update(touched=None, changed=0.01)
        assert repair.repair_targets(report)[2]["passed"] is False

    def test_skipped(self):
        targets = repair.repair_targets({"repair": {"skipped": "no stage"}})
        assert len(targets) == 6 and {t["status"] for t in targets} == {"not measured"}


class TestRender:
    def test_a_table_per_target_with_status(self):
        text = "\n".join(repair.render_repair(recorded()))
        for heading in ("RMS error at the damaged pixels", "No harm on clean motion", "Flicker",
                        "PSNR-Y on damaged clips", "End-to-end speed"):
            assert f"### {heading}" in text
        assert "| PASS |" in text and "**0.25x**" in text and "0.100%" in text

    def test_the_floor_shows_where_it_was_measured(self):
        report = recorded()
        assert "perfect / bicubic" in "\n".join(repair.render_repair(report))
        clip = report["repair"]["clips"]["film: bikes.mp4"]
        clip["rows"]["perfect"] = {**clip["rows"]["auto"], "rms_damage": 3.0}
        text = "\n".join(repair.render_repair(report))
        assert "| 5.0 | 3.0 |" in text and "| 0.15x |" in text
        targets = repair.repair_targets(report)
        assert "film: bikes.mp4 0.25x (off 0.60x, perfect repair 0.15x)" in targets[0]["figures"]
        assert [t["passed"] for t in targets] == [t["passed"] for t in repair.repair_targets(recorded())]

    def test_failure_shows(self):
        report = recorded(touched=0.004)
        assert "**FAIL**" in "\n".join(repair.render_repair(report))

    def test_skipped(self):
        assert "Not measured: no stage." in repair.render_repair({"repair": {"skipped": "no stage"}})

    def test_peak_memory_shows_what_the_repair_adds(self):
        report = recorded()
        assert "### Peak memory" not in "\n".join(repair.render_repair(report))  # sections measured before it
        row = lambda mode, hwm: {"clip": "c", "size": "1920x1080", "repair": mode, "hwm_before": 500 * 2**20,  # noqa: E731
                                 "hwm": hwm * 2**20, "frames": 40, "fps": 4.0}
        report["repair"]["memory"] = {"frames": 40, "runs": {"c, off": row("off", 900), "c, auto": row("auto", 1250)}}
        text = "\n".join(repair.render_repair(report))
        assert "### Peak memory" in text and "| c | 1920x1080 | auto | **1250** | 500 | 350 | 4.0 |" in text


class TestRuns:
    """Runs of the library with --repair off / auto (after the repair stage is merged)."""

    def test_peak_rss_of_a_fresh_process(self, tmp_path):
        src = harness.write_lossless(tmp_path / "in.mkv", textured(6, 64, 48), Fraction(24))
        data = repair.peak_rss(src, tmp_path / "out.mp4", model="bicubic", scale=1, mode="auto")
        assert data["frames"] == 6 and data["hwm"] >= data["hwm_before"] > 0
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]  # its output and report are gone

    def test_measure_input_on_clean_motion(self, tmp_path):
        frames = textured(4, 64, 48)
        inp = repair.RepairInput("t.mkv", "clean", "test", independent_damage.clean_clip(frames, 2), frames,
                                 Fraction(24), [])
        record = repair.measure_input(inp, "bicubic", tmp_path)
        assert set(record["rows"]) == {"bicubic", "off", "auto"}
        assert 0.0 <= record["rows"]["auto"]["changed"] < 0.5
        assert "pixels" in record["rows"]["auto"]["repair"]
        assert list(tmp_path.iterdir()) == []

    def test_measure_input_on_film_damage(self, tmp_path):
        clean = textured(4, 128, 96)
        degrader = FilmDegrader(temporal_section.REEL_DAMAGE, seed=1, height=96, width=128)
        low, drawn = [], []
        for frame in clean:
            low.append(degrader.degrade(frame))
            drawn.append(degrader.damage_mask())
        inp = repair.RepairInput("t.mkv", "film", "test", low, clean, Fraction(24), drawn, flickers=True)
        record = repair.measure_input(inp, "bicubic", tmp_path)
        assert record["rows"]["auto"]["rms_damage"] < record["rows"]["off"]["rms_damage"]
        # The floor: the same upscaler on a flawless repair leaves less at the damage than the stage does.
        assert record["rows"]["perfect"]["rms_damage"] < record["rows"]["auto"]["rms_damage"]
        assert list(tmp_path.iterdir()) == []

    def test_end_to_end_keeps_the_repair_report(self, tmp_path):
        src = harness.write_lossless(tmp_path / "in.mkv", textured(4), Fraction(24))
        run = harness.measure_end_to_end(src, tmp_path / "out.mp4", None, "bicubic",
                                         repair=RepairConfig(mode="auto"))
        assert run.frames == 4 and "pixels" in run.extra["repair"]
        with VideoReader(tmp_path / "out.mp4") as reader:
            assert reader.info.width == 128


class TestInputs:
    def test_the_three_kinds(self):
        film = repair.film_inputs(2)
        independent = repair.independent_inputs(2)
        clean = repair.clean_inputs(2, 3)
        assert [i.kind for i in film] == ["film", "film"] and film[0].flickers
        assert [i.kind for i in independent] == ["independent", "independent"]
        assert [i.name for i in clean] == ["bikes.mp4", "fast_motion"]
        for inp in film + independent + clean:
            low_h, low_w = inp.low[0].shape[:2]
            assert inp.clean[0].shape[:2] == (2 * low_h, 2 * low_w)
            assert len(inp.drawn) == (0 if inp.kind == "clean" else len(inp.low))
            assert all(m.shape == (low_h, low_w) for m in inp.drawn)
        assert len(clean[1].low) == 3

    def test_output_figures(self):
        frames = textured(3, 64, 48)
        inp = repair.RepairInput("t", "film", "test", independent_damage.clean_clip(frames, 2), frames,
                                 Fraction(24), [np.ones((24, 32), bool)] * 3)
        figures = repair.output_figures(frames, inp)
        assert figures["psnr"] == float("inf") and figures["rms_damage"] == 0.0
        assert figures["flicker"] >= 0.0
