"""The procedurally drawn style exemplars: shape, determinism, richness, distinctness, files."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidstyle.style.exemplars import (
    EXEMPLARS,
    MAX_SIZE,
    MIN_SIZE,
    Exemplar,
    draw_exemplar,
    save_exemplars,
)

SIZE = 160
REQUIRED = ("pencil", "ink", "halftone", "glass")
NAMES = tuple(EXEMPLARS)


@pytest.fixture(scope="module")
def drawn() -> dict[str, np.ndarray]:
    """Every exemplar drawn once at SIZE, seed 0, shared by the tests that only look."""
    return {name: draw_exemplar(name, size=SIZE, seed=0) for name in NAMES}


def grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def grey_histogram(rgb: np.ndarray, bins: int = 32) -> np.ndarray:
    """Grey-level histogram normalised to sum 1."""
    counts = np.bincount(grey(rgb).ravel() // (256 // bins), minlength=bins).astype(np.float64)
    return counts / counts.sum()


class TestRegistry:
    def test_required_styles_present(self) -> None:
        assert set(REQUIRED) <= set(EXEMPLARS)

    @pytest.mark.parametrize("name", NAMES)
    def test_entry_is_consistent(self, name: str) -> None:
        exemplar = EXEMPLARS[name]
        assert isinstance(exemplar, Exemplar)
        assert exemplar.name == name
        assert exemplar.description and "\n" not in exemplar.description

    def test_descriptions_differ(self) -> None:
        assert len({e.description for e in EXEMPLARS.values()}) == len(EXEMPLARS)


class TestDraw:
    @pytest.mark.parametrize("name", NAMES)
    def test_shape_and_dtype(self, drawn: dict[str, np.ndarray], name: str) -> None:
        rgb = drawn[name]
        assert rgb.shape == (SIZE, SIZE, 3)
        assert rgb.dtype == np.uint8
        assert rgb.flags["C_CONTIGUOUS"]

    @pytest.mark.parametrize("name", NAMES)
    def test_deterministic(self, drawn: dict[str, np.ndarray], name: str) -> None:
        np.testing.assert_array_equal(draw_exemplar(name, size=SIZE, seed=0), drawn[name])
        np.testing.assert_array_equal(EXEMPLARS[name].draw(SIZE, 0), drawn[name])

    @pytest.mark.parametrize("name", NAMES)
    def test_seed_changes_the_drawing(self, drawn: dict[str, np.ndarray], name: str) -> None:
        other = draw_exemplar(name, size=SIZE, seed=1)
        assert np.abs(other.astype(np.int16) - drawn[name]).mean() > 5

    @pytest.mark.parametrize("name", NAMES)
    def test_rich_everywhere(self, drawn: dict[str, np.ndarray], name: str) -> None:
        """Contrast overall, and no flat patch: every tenth-of-the-side block has texture."""
        rgb = drawn[name]
        assert rgb.reshape(-1, 3).std(axis=0).min() > 20
        block = SIZE // 10
        g = grey(rgb).astype(np.float32).reshape(10, block, 10, block)
        assert g.std(axis=(1, 3)).min() > 2

    @pytest.mark.parametrize("name", NAMES)
    def test_scale_aware(self, name: str) -> None:
        """Twice the size is the same picture with finer marks, not a different layout."""
        small = draw_exemplar(name, size=128, seed=3).astype(np.float32)
        large = draw_exemplar(name, size=256, seed=3)
        large = cv2.resize(large, (128, 128), interpolation=cv2.INTER_AREA)
        small, large = (cv2.GaussianBlur(im.astype(np.float32), (0, 0), 3) for im in (small, large))
        assert np.corrcoef(small.ravel(), large.ravel())[0, 1] > 0.8


class TestDistinct:
    @pytest.mark.parametrize("a,b", list(itertools.combinations(NAMES, 2)))
    def test_pairwise_different(self, drawn: dict[str, np.ndarray], a: str, b: str) -> None:
        """Grey-level histograms differ by a clear L1 margin (1.0 would be half the mass moved)."""
        distance = np.abs(grey_histogram(drawn[a]) - grey_histogram(drawn[b])).sum()
        assert distance > 0.3, f"{a} and {b} have near-identical tones ({distance:.2f})"


class TestErrors:
    def test_unknown_name_lists_known(self) -> None:
        with pytest.raises(ValueError, match="watercolour") as info:
            draw_exemplar("watercolour")
        for name in NAMES:
            assert name in str(info.value)

    @pytest.mark.parametrize("size", [MIN_SIZE - 1, MAX_SIZE + 1, 0, 200.0, True])
    def test_bad_size(self, size: object) -> None:
        with pytest.raises(ValueError, match="size"):
            draw_exemplar("pencil", size=size)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="size"):
            EXEMPLARS["glass"].draw(size, 0)  # type: ignore[arg-type]

    @pytest.mark.parametrize("seed", [-1, 1.5])
    def test_bad_seed(self, seed: object) -> None:
        with pytest.raises(ValueError, match="seed"):
            draw_exemplar("ink", size=MIN_SIZE, seed=seed)  # type: ignore[arg-type]


class TestSave:
    def test_writes_readable_pngs(self, tmp_path: Path) -> None:
        folder = tmp_path / "thumbs"
        paths = save_exemplars(folder, size=MIN_SIZE)
        assert [p.name for p in paths] == [f"{name}.png" for name in NAMES]
        for name, path in zip(NAMES, paths):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            assert bgr is not None, f"{path} is not a readable image"
            expected = draw_exemplar(name, size=MIN_SIZE)
            np.testing.assert_array_equal(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), expected)
