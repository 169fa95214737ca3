"""The repair stage at more than 8 bits: RGB uint16 frames are looked at through their 8-bit view
and mended at their own depth.

A uint16 frame built as ``uint8 * 257`` has the 8-bit frame as its 8-bit view, so it must give the
same masks and report, and pixels within one 8-bit level (257 of 65535) of the 8-bit result; a
picture with more than 8 bits must keep them outside the pixels the repair replaced, and in them.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_one_error, cli, file_hash, moving_crops, read_sequence, write_sequence
from skimage import data as skdata

from vidstyle.config import RepairConfig
from vidstyle.io.depth import to_8bit
from vidstyle.restore import RepairStage, column_candidates, find_spots, luma, repair_scratches, repair_spots
from vidstyle.restore.flicker import luma_small
from vidstyle.restore.grade import Grader, estimate_grade

#: One 8-bit level in 16-bit levels.
LEVEL = 257
PARTS = ("spots", "scratches", "flicker", "grain", "grade")
H, W = 96, 128


def panning(count: int, picture: np.ndarray, step: float = 1.5) -> list[np.ndarray]:
    """``count`` RGB uint8 (H, W, 3) frames of ``picture`` at half size, panning ``step`` pixels a frame."""
    still = cv2.resize(picture, (2 * W, 2 * H), interpolation=cv2.INTER_AREA)
    return moving_crops(still, count, (step, 0.0), W, H)


def damaged_clip(count: int = 12) -> list[np.ndarray]:
    """A panning still with +-8 % flicker, four specks a frame (each on one frame only), a scratch
    drifting a pixel every other frame, and a patch of full white and one of black (the corrections
    push past both ends there): RGB uint8 (H, W, 3)."""
    rng = np.random.default_rng(5)
    frames = []
    for t, frame in enumerate(panning(count, skdata.astronaut())):
        frame = np.clip(frame * rng.uniform(0.92, 1.08), 0, 255).astype(np.uint8)
        for _ in range(4):
            centre, radius = (int(rng.integers(10, W - 10)), int(rng.integers(10, H - 10))), int(rng.integers(2, 4))
            cv2.circle(frame, centre, radius, (250, 250, 250) if rng.random() < 0.5 else (5, 5, 5), -1)
        frame[:12, :16] = 255
        frame[-12:, -16:] = 0
        frame[:, 60 + t // 2] = 235
        frames.append(frame)
    return frames


def deepened(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The same pictures as uint16, each level widened to 16 bits (their 8-bit view is the input)."""
    return [frame.astype(np.uint16) * LEVEL for frame in frames]


def repaired(config: RepairConfig, frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict]:
    """(frames (T, H, W, 3), masks (T, H, W), report without its time) of one run of the stage."""
    stage = RepairStage(config)
    out = list(stage.frames(frames))
    report = stage.report()
    report.pop("seconds")
    return np.stack([f for f, _ in out]), np.stack([m for _, m in out]), report


class TestSameAsEightBits:
    """uint8 * 257 repairs to (the uint8 repair) * 257, part by part."""

    @pytest.mark.parametrize("part", PARTS)
    def test_one_part(self, part):
        frames = damaged_clip()
        config = RepairConfig("auto", **{p: p == part for p in PARTS})
        eight, eight_masks, eight_report = repaired(config, frames)
        deep, deep_masks, deep_report = repaired(config, deepened(frames))
        assert deep.dtype == np.uint16 and deep.shape == eight.shape
        assert not np.array_equal(eight, np.stack(frames))  # the part did something
        if part in ("spots", "scratches"):
            assert eight_masks.any()
        else:  # the corrections reach both ends of the range (on the white and the black patch)
            assert (deep == 65535).any() and (deep == 0).any()
        assert np.array_equal(deep_masks, eight_masks)
        assert deep_report == eight_report
        # Within one 8-bit level: the 8-bit path rounds to 8 bits where the 16-bit one rounds to 16
        # (a value that wrapped or was clipped to 255 would be tens of thousands off).
        difference = np.abs(deep.astype(np.int64) - eight.astype(np.int64) * LEVEL)
        assert difference.max() <= LEVEL, difference.max() / LEVEL

    def test_all_parts_together(self):
        frames = damaged_clip()
        config = RepairConfig("auto", grade=True)
        eight, eight_masks, eight_report = repaired(config, frames)
        deep, deep_masks, deep_report = repaired(config, deepened(frames))
        assert np.array_equal(deep_masks, eight_masks)
        # Flicker and grade measure the 8-bit view of frames already mended, at 16 bits here and
        # rounded to 8 in the 8-bit path: their statistics agree to a few hundredths of a level.
        measured = ("flicker", "grade")
        assert {k: v for k, v in deep_report.items() if k not in measured} == \
            {k: v for k, v in eight_report.items() if k not in measured}
        for deep_shot, eight_shot in zip(deep_report["flicker"]["shots"], eight_report["flicker"]["shots"]):
            assert deep_shot["frames_corrected"] == eight_shot["frames_corrected"]
            assert deep_shot["max_correction"] == pytest.approx(eight_shot["max_correction"], abs=0.05)
        for deep_shot, eight_shot in zip(deep_report["grade"]["shots"], eight_report["grade"]["shots"]):
            assert deep_shot["gains"] == pytest.approx(eight_shot["gains"], abs=0.005)
            assert deep_shot["levels"] == pytest.approx(eight_shot["levels"], abs=0.5)
        difference = np.abs(deep.astype(np.int64) - eight.astype(np.int64) * LEVEL)
        # Four parts in a row each round the 8-bit path to a level; the 16-bit path keeps the fractions.
        assert difference.max() <= 3 * LEVEL and difference.mean() < 0.5 * LEVEL, difference.max() / LEVEL

    def test_the_looking_functions_read_the_8_bit_view(self):
        before, frame, after = damaged_clip(3)
        deep = frame.astype(np.uint16) * LEVEL
        assert np.array_equal(luma(deep), luma(frame))
        assert np.array_equal(luma_small(deep, 64), luma_small(frame, 64))
        assert column_candidates(deep) == column_candidates(frame)
        assert np.array_equal(estimate_grade(deep), estimate_grade(frame))
        spots = find_spots(frame, before, after, None, None)
        deep_neighbours = [f.astype(np.uint16) * LEVEL for f in (before, after)]
        assert spots.any() and np.array_equal(find_spots(deep, *deep_neighbours, None, None), spots)


def gradient_with_a_speck(count: int = 5) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` frames of a still, smooth 16-bit picture (a diagonal ramp with a soft bump; most
    of its values are no multiple of 257) with a dark speck on the middle frame only; and the
    speck's mask."""
    h, w = 96, 128
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    picture = 12000 + 150 * x + 90 * y + 6000 * np.exp(-((x - 40) ** 2 + (y - 60) ** 2) / 900)
    still = np.stack([picture, picture * 0.9, picture * 0.8], axis=2).round().astype(np.uint16)
    speck = np.zeros((h, w), np.uint8)
    cv2.circle(speck, (80, 40), 3, 1, -1)
    frames = [still.copy() for _ in range(count)]
    frames[count // 2][speck.astype(bool)] = 1000
    return frames, speck.astype(bool)


class TestPrecisionKept:
    def test_a_speck_on_a_16_bit_gradient(self):
        frames, speck = gradient_with_a_speck()
        middle = len(frames) // 2
        out, masks, report = repaired(RepairConfig("auto", spots=True, scratches=False, flicker=False), frames)
        assert report["spots"] == 1
        mask = masks[middle]
        assert mask[speck].all() and mask.sum() < 4 * speck.sum()
        # The spot fill blends over a feathered rim outside the mask; beyond it the frame is untouched.
        touched = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        clean = frames[0]
        for t, frame in enumerate(frames):
            untouched = ~touched if t == middle else np.ones_like(mask)
            assert np.array_equal(out[t][untouched], frame[untouched])  # no trip through 8 bits
        # The speck is filled from the still neighbours at 16 bits: the ramp's own values, to a
        # fraction of an 8-bit level, and not rounded to multiples of 257.
        filled = out[middle][mask].astype(np.int64)
        assert np.abs(filled - clean[mask]).max() <= 16
        assert np.count_nonzero(filled % LEVEL) > 0.9 * filled.size
        assert np.count_nonzero(clean[mask] % LEVEL) > 0.9 * filled.size

    def test_values_stay_within_16_bits(self):
        """A dark speck on white and a bright one on black are filled with white and black, not with
        values that wrapped or stopped at 255."""
        for ground, speck in ((65535, 0), (0, 65535)):
            frame = np.full((24, 32, 3), ground, np.uint16)
            mask = np.zeros((24, 32), bool)
            mask[10:14, 12:16] = True
            frame[mask] = speck
            neighbour = np.full_like(frame, ground)
            out = repair_spots(frame, mask, neighbour, neighbour)
            assert out.dtype == np.uint16 and (out == ground).all()
            scratch = np.zeros((24, 32), bool)
            scratch[:, 15:18] = True
            scratched = np.full_like(frame, ground)
            scratched[scratch] = speck
            assert (repair_scratches(scratched, scratch) == ground).all()


class TestBadInput:
    def test_one_line_errors(self):
        frame = np.zeros((24, 32, 3), np.uint16)
        mask = np.ones((24, 32), bool)
        with pytest.raises(ValueError, match=r"^prev_w must be uint16 \(24, 32, 3\) like the frame, got uint8"):
            repair_spots(frame, mask, frame.astype(np.uint8), frame)
        for call in (lambda f: repair_spots(f, mask, f, f), lambda f: repair_scratches(f, mask),
                     lambda f: Grader().apply(f, True), lambda f: column_candidates(f)):
            with pytest.raises(ValueError, match=r"^frame must be an RGB uint8 or uint16 \(H, W, 3\) frame, got "
                                                 r"(float32|int32) ") as error:
                call(frame.astype(np.float32))
            assert "\n" not in str(error.value)
            with pytest.raises(ValueError, match="got int32"):
                call(frame.astype(np.int32))


def test_remaster_repairs_a_16_bit_tiff_sequence(capsys, tmp_path: Path):
    """16-bit TIFF frames in and out through the CLI with ``--repair auto``: the speck drawn on one
    frame is gone, the output is at 16 bits and the picture keeps more than 8 bits."""
    frames = [frame.astype(np.float64) for frame in panning(8, skdata.coffee(), step=1.0)]
    smooth = [(cv2.GaussianBlur(f, (0, 0), 1.2) * 240 + 1500).round().astype(np.uint16) for f in frames]
    dirty = [f.copy() for f in smooth]
    speck = np.zeros(smooth[0].shape[:2], np.uint8)
    cv2.circle(speck, (70, 50), 3, 1, -1)
    speck = speck.astype(bool)
    dirty[4][speck] = 64000
    (tmp_path / "scan").mkdir()
    pattern = write_sequence(tmp_path / "scan" / "s_%04d.tif", np.stack(dirty), "tiff", "rgb48le")
    before = {p: file_hash(p) for p in pattern.parent.iterdir()}
    report = tmp_path / "report.json"
    code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o_%04d.tif", "--fps", "24",
                       "--repair", "auto", "--temporal", "off", "--model", "bicubic", "--scale", "1", "-q",
                       "--report", report)
    assert code == 0, err
    out, written = read_sequence(tmp_path / "o_%04d.tif", 1)
    assert written == "rgb48le" and out.dtype == np.uint16 and len(out) == 8
    assert json.loads(report.read_text())["repair"]["spots"] >= 1
    # The speck (64000 on a picture of 1500-62700) is mended to within a few 8-bit levels.
    assert np.abs(dirty[4][speck].astype(np.int64) - smooth[4][speck]).max(axis=1).min() > 40 * LEVEL
    assert np.abs(out[4][speck].astype(np.int64) - smooth[4][speck]).max() < 6 * LEVEL
    # The rest keeps its 16-bit values (bicubic at x1 and the flicker of a clean pan change a little).
    difference = np.abs(out.astype(np.int64) - np.stack(smooth))
    assert np.median(difference) < 0.25 * LEVEL
    assert len(np.unique(out)) > 4 * len(np.unique(to_8bit(out)))  # not 8-bit values widened
    assert {p: file_hash(p) for p in pattern.parent.iterdir()} == before


def test_preview_draws_the_repair_of_a_16_bit_source_at_8_bits(capsys, tmp_path: Path):
    frames, _ = gradient_with_a_speck(6)
    (tmp_path / "scan").mkdir()
    pattern = write_sequence(tmp_path / "scan" / "g_%04d.png", np.stack(frames), "png", "rgb48be")
    code, _, err = cli(capsys, "preview", pattern, "-o", tmp_path / "p.mp4", "--fps", "24", "--model", "bicubic",
                       "--scale", "1", "--repair", "auto", "--show-repair", "-q")
    assert code == 0, err
    sheet = cv2.imread(str(tmp_path / "p-repair.png"), cv2.IMREAD_UNCHANGED)
    assert sheet is not None and sheet.dtype == np.uint8
    red = (sheet[..., 2] == 255) & (sheet[..., 1] == 0) & (sheet[..., 0] == 0)
    assert red.any()


def test_a_bad_repair_part_on_a_16_bit_source_is_still_one_line(capsys, tmp_path: Path):
    frames, _ = gradient_with_a_speck(3)
    (tmp_path / "scan").mkdir()
    pattern = write_sequence(tmp_path / "scan" / "g_%04d.tif", np.stack(frames), "tiff", "rgb48le")
    code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o.mkv", "--fps", "24", "--repair", "auto",
                       "--repair-parts", "dust")
    assert code == 2
    assert_one_error(err, "unknown repair part 'dust'")
    assert not (tmp_path / "o.mkv").exists()
