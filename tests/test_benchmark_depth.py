"""The depth section of the benchmark (pipelines/benchmark/depth.py): its place, its 10-bit material,
and its Markdown from a recorded report."""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import numpy as np

from pipelines.benchmark import depth, sections
from pipelines.benchmark import plan as plans
from pipelines.benchmark.harness import REPO_ROOT
from pipelines.benchmark.library import VideoReader, probe


def test_depth_is_a_section():
    assert sections.BY_NAME["depth"] is depth.SECTION
    assert plans.parse_sections("depth") == ("depth",)
    assert "depth" in plans.parse_sections("all") and "depth" not in plans.parse_sections("models")


def test_the_ten_bit_copy_holds_the_same_pictures(tmp_path):
    frames = list(np.random.default_rng(0).integers(0, 256, (3, 48, 64, 3)).astype(np.uint8))
    path = depth.write_ten_bit(tmp_path / "ten.mkv", frames, Fraction(25))
    assert probe(path).bit_depth == 10
    with VideoReader(path) as reader:
        decoded = np.concatenate([batch.frames for batch in reader])
    assert decoded.dtype == np.uint16
    # Each 8-bit value became the nearest 10-bit code: within an eighth of an 8-bit level.
    assert np.abs(decoded / 257 - np.stack(frames)).max() <= 0.2


def test_render_reads_the_recorded_report():
    report = json.loads((REPO_ROOT / "docs" / "benchmarks.json").read_text())
    lines = depth.render(report)
    assert lines[0] == "## High bit depth"
    table = [line for line in lines if line.startswith("| remaster-x2") or line.startswith("| bicubic")]
    assert len(table) == 2 and all("yuv420p10le" in line for line in table)
    without_network = copy.deepcopy(report)
    without_network["depth"]["network"] = None  # remaster-x2 not shipped: no line on the network
    assert not any("network alone" in line for line in depth.render(without_network))
