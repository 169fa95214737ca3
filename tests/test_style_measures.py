"""What a person sees (vidstyle/style/measures.py): structure, edge agreement, grid energy and a
line along the border on hand-made frames whose answers can be reasoned out."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidstyle.style.measures import (
    EdgeAgreement,
    border_line,
    edge_agreement,
    edges,
    fine_bands,
    grid_energy,
    middle_chroma,
    picture_measures,
    structure,
)
from vidstyle.train.dead_leaves import dead_leaves


def step(x: int, *, width: int = 96, height: int = 64, dark: int = 60, light: int = 190) -> np.ndarray:
    """Grey luma (H, W): dark left of column ``x``, light from it on: one vertical edge."""
    image = np.full((height, width), dark, np.float64)
    image[:, x:] = light
    return image


def square(offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """An RGB frame, a light square on a darker ground, moved by ``offset`` (dy, dx)."""
    frame = np.full((80, 96, 3), (70, 80, 90), np.uint8)
    dy, dx = offset
    frame[20 + dy : 60 + dy, 30 + dx : 70 + dx] = (200, 190, 170)
    return frame


def natural(size: int = 192, seed: int = 3) -> np.ndarray:
    """A dead-leaves picture: edges, corners and texture at every scale, RGB uint8."""
    return dead_leaves(np.random.default_rng(seed), size)


class TestStructure:
    def test_identical_frames_score_one(self):
        frame = natural()
        assert structure(frame, frame) == pytest.approx(1.0, abs=1e-12)

    def test_fine_noise_does_not_count_but_lost_shapes_do(self):
        frame = natural()
        rng = np.random.default_rng(0)
        grain = np.clip(frame + rng.normal(0, 12, frame.shape), 0, 255).astype(np.uint8)
        flat = np.full_like(frame, int(frame.mean()))
        assert structure(grain, frame) > 0.95  # pixel noise: the blur of sigma 2 removes it
        # Nothing of the shapes left: what remains is the share of the picture flat itself.
        assert structure(flat, frame) < 0.5
        other = natural(seed=11)
        assert structure(other, frame) < structure(grain, frame) - 0.5

    def test_rgb_and_luma_agree(self):
        frame = natural()
        luma = 16 + (65.481 * frame[..., 0] + 128.553 * frame[..., 1] + 24.966 * frame[..., 2]) / 255
        shifted = np.roll(frame, 3, axis=1)
        luma_shifted = np.roll(luma, 3, axis=1)
        assert structure(shifted, frame) == pytest.approx(structure(luma_shifted, luma), abs=1e-9)

    def test_sizes_must_match(self):
        with pytest.raises(ValueError, match="differs from clean size"):
            structure(np.zeros((32, 32, 3), np.uint8), np.zeros((32, 36, 3), np.uint8))


class TestEdges:
    def test_identical_frames_agree_fully(self):
        frame = square()
        assert edges(frame).sum() > 100  # the square's outline
        agreement = edge_agreement(frame, frame)
        assert (agreement.precision, agreement.recall, agreement.f_score) == (1.0, 1.0, 1.0)

    @pytest.mark.parametrize("shift", [1, 2])
    def test_an_edge_moved_within_the_tolerance_is_found(self, shift):
        assert edge_agreement(step(48 + shift), step(48)).f_score == 1.0

    @pytest.mark.parametrize("shift", [4, 8])
    def test_an_edge_moved_beyond_the_tolerance_is_not(self, shift):
        agreement = edge_agreement(step(48 + shift), step(48))
        assert (agreement.precision, agreement.recall, agreement.f_score) == (0.0, 0.0, 0.0)

    def test_a_square_moved_sideways_keeps_its_top_and_bottom(self):
        # Moved 8 px right: the left and right sides (40 rows each) are lost, the top and bottom
        # (40 columns, of which 8 at each end now miss) mostly kept: F between 0.3 and 0.7.
        f = edge_agreement(square((0, 8)), square()).f_score
        assert 0.3 < f < 0.7

    def test_invented_edges_cost_precision_and_lost_ones_recall(self):
        clean = square()
        busy = clean.copy()
        busy[5:15, 5:90] = 255  # a stripe the clean frame lacks
        agreement = edge_agreement(busy, clean)
        assert agreement.recall == 1.0 and agreement.precision < 0.8
        agreement = edge_agreement(clean, busy)
        assert agreement.precision == 1.0 and agreement.recall < 0.8

    def test_pictures_without_edges(self):
        flat = np.full((48, 64, 3), 100, np.uint8)
        assert edge_agreement(flat, flat) == EdgeAgreement(1.0, 1.0)
        assert edge_agreement(flat, square()[:48, :64]).f_score == 0.0
        assert EdgeAgreement(0.0, 0.0).f_score == 0.0


class TestGridEnergy:
    def test_a_fixed_pattern_scores_its_share(self):
        """White noise with a zero-mean 4-px pattern added: the high pass (less a blur of sigma
        3) keeps all of the pattern (the blur passes 1e-5 of it) and most of the noise, so the
        share is the pattern's power over both."""
        rng = np.random.default_rng(1)
        noise = rng.normal(0, 10, (256, 256))
        pattern = rng.normal(0, 1, (4, 4))
        pattern = 5 * (pattern - pattern.mean()) / pattern.std()  # power 25
        noise_power = (noise - cv2.GaussianBlur(noise, (0, 0), 3, borderType=cv2.BORDER_REFLECT)).var()
        expected = 25 / (25 + noise_power)  # about 0.2
        frame = 128 + noise + np.tile(pattern, (64, 64))
        assert grid_energy(frame) == pytest.approx(expected, abs=0.01)

    def test_noise_alone_is_near_one_over_the_cells(self):
        # Without a pattern, each position's mean over 4096 cells keeps 1/4096 of the noise power.
        noise = 128 + np.random.default_rng(2).normal(0, 10, (256, 256))
        assert grid_energy(noise) == pytest.approx(15 / 16 / 4096, rel=0.3)

    def test_clean_and_bicubic_pictures_score_about_1e_4(self):
        frame = natural(256)
        low = cv2.resize(frame, (128, 128), interpolation=cv2.INTER_AREA)
        bicubic = cv2.resize(low, (256, 256), interpolation=cv2.INTER_CUBIC)
        assert grid_energy(frame) < 5e-4 and grid_energy(bicubic) < 5e-4
        pattern = np.tile(np.array([[6, -2, -2, -2]] * 2 + [[-2, -2, -2, 6]] * 2), (64, 64))
        gridded = np.clip(bicubic + pattern[..., None], 0, 255).astype(np.uint8)
        # The same picture under a faint grid (3.5 levels RMS): over 10x the target of 0.001.
        assert grid_energy(gridded) > 0.01

    def test_another_period_does_not_count_as_the_cell(self):
        rng = np.random.default_rng(4)
        five = np.tile(rng.normal(0, 5, (5, 5)), (52, 52))[:256, :256]
        frame = 128 + rng.normal(0, 10, (256, 256)) + five
        assert grid_energy(frame, cell=4) < 2e-3
        assert grid_energy(frame, cell=5) > 0.05

    def test_a_flat_picture_has_no_grid(self):
        assert grid_energy(np.full((32, 32, 3), 90, np.uint8)) == 0.0
        with pytest.raises(ValueError, match="no whole 4x4 cell"):
            grid_energy(np.zeros((3, 40), np.uint8))


class TestBorderLine:
    @pytest.mark.parametrize("side", ["top", "bottom", "left", "right"])
    def test_a_line_along_an_edge_reads_its_height(self, side):
        clean = cv2.cvtColor(natural(), cv2.COLOR_RGB2GRAY).astype(np.float64)
        output = clean.copy()
        view = {"top": output, "bottom": output[::-1], "left": output.T, "right": output.T[::-1]}[side]
        view[1] += 40.0  # a light line one pixel in, with a dark band under it
        view[2:4] -= 20.0
        assert border_line(output, clean) == pytest.approx(40.0, abs=0.1)  # the palette fit moves it a hair

    def test_strokes_grain_and_a_palette_shift_are_no_line(self):
        clean = cv2.cvtColor(natural(), cv2.COLOR_RGB2GRAY).astype(np.float64)
        rng = np.random.default_rng(5)
        output = clean + 15.0 + rng.normal(0.0, 10.0, clean.shape)  # brighter, and grainy everywhere
        rows, columns = np.indices(clean.shape)
        output[(rows + columns) % 6 == 0] -= 30.0  # diagonal hatching over the whole picture, edges included
        assert border_line(output, clean) < 3.0
        assert border_line(clean, clean) < 1e-9

    def test_a_line_further_in_is_seen_too(self):
        clean = cv2.cvtColor(natural(), cv2.COLOR_RGB2GRAY).astype(np.float64)
        output = clean.copy()
        output[:, -20:-17] -= 25.0  # a dark band three pixels wide, 17 pixels in from the right
        assert border_line(output, clean) == pytest.approx(25.0, abs=0.1)

    def test_a_line_in_colour_is_read_in_its_channel(self):
        clean = natural()
        output = clean.astype(np.float64)
        output[:, 10:12] += np.array([-12.0, 24.0, -12.0])  # a green line, 10 px in: luma moves by 8
        assert border_line(output, clean) == pytest.approx(24.0, abs=0.2)
        assert border_line(cv2.cvtColor(np.clip(output, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY),
                           cv2.cvtColor(clean, cv2.COLOR_RGB2GRAY)) < 12.0

    def test_a_recoloured_picture_is_no_line(self):
        clean = natural()
        grey = clean.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        sepia = np.clip(grey[..., None] * np.array([1.07, 0.95, 0.75]) + 10.0, 0, 255).astype(np.uint8)
        assert border_line(sepia, clean) < 3.0  # the film drawn in sepia: a palette, no line

    def test_too_small_a_picture_is_refused(self):
        with pytest.raises(ValueError, match="too small"):
            border_line(np.zeros((15, 40)), np.zeros((15, 40)))
        assert border_line(np.zeros((16, 40)), np.zeros((16, 40))) == 0.0


def test_picture_measures_together():
    frame = natural()
    figures = picture_measures(frame, frame)
    assert figures["structure"] == pytest.approx(1.0) and figures["edge_f"] == 1.0
    assert figures["edge_precision"] == figures["edge_recall"] == 1.0
    assert figures["grid_energy"] == grid_energy(frame) and figures["border_line"] < 1e-9
    assert figures["fine_chroma"] == fine_bands(frame)[1] and figures["middle_chroma"] == middle_chroma(frame)


def test_fine_bands_tell_coloured_speckle_from_grey_texture():
    rng = np.random.default_rng(4)
    ramp = np.linspace(30, 220, 128, dtype=np.float32)
    smooth = np.stack([np.tile(ramp, (128, 1)), np.tile(ramp[:, None], (1, 128)), np.full((128, 128), 90.0)], -1)
    grey_texture = smooth + rng.normal(0, 12, (128, 128, 1))
    speckle = smooth + rng.normal(0, 12, (128, 128, 3))
    bands = {name: fine_bands(np.clip(p, 0, 255).astype(np.uint8)) for name, p in
             (("smooth", smooth), ("grey texture", grey_texture), ("speckle", speckle))}
    assert max(bands["smooth"]) < 0.5, bands
    assert bands["grey texture"][0] > 5.0 and bands["grey texture"][1] < 0.5, bands
    assert bands["speckle"][1] > 4.0, bands
    assert fine_bands(np.full((16, 16, 3), 77, np.uint8)) == (0.0, 0.0)



def test_style_bands_script_reads_a_shipped_style(capsys):
    pytest.importorskip("skimage")
    from pipelines import style_bands
    from vidstyle.models.registry import shipped_weights

    style_bands.main([str(shipped_weights("style-ink-x2"))])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("bicubic x2: fine luma") and "(6 training frames)" in lines[0]
    assert lines[1].startswith("style-ink-x2: fine luma") and "exemplar" in lines[1]
    chroma = float(lines[1].split("fine chroma ")[1].split()[0])
    middle = float(lines[1].split("middle chroma ")[1].split()[0])
    assert 0.0 < chroma < 50.0 and 0.0 < middle < 50.0
