"""Tiling (``--tile``): the layout, its weights, tiled against untiled output, and runs end to end."""

from __future__ import annotations

import json
import logging

import av
import numpy as np
import pytest
from conftest import decode_all, file_hash, make_clip, write_lossless

from vidstyle import RemasterConfig, remaster
from vidstyle.cli import run
from vidstyle.config import EncodeConfig, TemporalConfig
from vidstyle.errors import ConfigError
from vidstyle.models import ModelDescriptor, load_model
from vidstyle.models.baseline import Bicubic
from vidstyle.models.descriptor import run_frames
from vidstyle.models.tiles import fade_weights, least_tile, plan_tiling, tile_spans
from vidstyle.samples import sample_clip
from vidstyle.temporal.blend import BlendRunner
from vidstyle.temporal.reuse import ReuseRunner

#: The ``--tile`` promise: a tiled run within this RMS of the untiled one, in levels of 255.
RMS_LIMIT = 0.5


@pytest.fixture(scope="module")
def film_frame() -> np.ndarray:
    """A real picture (a frame of the sample reel: grain, dust, edges), 203x141: an odd size that
    no tile divides."""
    with av.open(str(sample_clip())) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 40:
                return np.ascontiguousarray(frame.to_ndarray(format="rgb24")[60:201, 150:353])
    raise AssertionError("the sample reel has fewer than 41 frames")


def weights_sum(length: int, tile: int, *, context: int, ramp: int, multiple: int, scale: int) -> np.ndarray:
    """The tiles' weights added up over every output pixel of an axis."""
    total = np.zeros(length * scale)
    for span in tile_spans(length, tile, context=context, ramp=ramp, multiple=multiple):
        total[scale * span.keep_start : scale * span.keep_stop] += fade_weights(span, scale, ramp).numpy()
    return total


class TestLayout:
    @pytest.mark.parametrize("multiple,context", [(1, 2), (4, 32), (8, 16)])
    @pytest.mark.parametrize("scale", [1, 2, 4])
    def test_weights_add_up_to_one_everywhere(self, multiple, context, scale):
        ramp = max(16, multiple)
        least = 2 * context + 3 * ramp
        for tile in (least, least + multiple, least + 7 * multiple, 2 * least):
            for length in (1, tile - 1, tile, tile + 1, tile + multiple - 1, 2 * tile - 5, 3 * tile + 11, 517):
                total = weights_sum(length, tile, context=context, ramp=ramp, multiple=multiple, scale=scale)
                np.testing.assert_allclose(total, 1.0, atol=1e-6, err_msg=f"tile {tile}, length {length}")

    def test_tiles_see_their_context_and_start_on_the_multiple(self):
        spans = tile_spans(1000, 200, context=32, ramp=16, multiple=4)
        assert spans[0].start == 0 and spans[-1].stop == 1000
        for span in spans:
            assert span.start % 4 == 0 and span.stop - span.start >= 200
            if span.fade_in:  # an inner edge: 32 px seen and not kept
                assert span.keep_start - span.start >= 32
            if span.fade_out:
                assert span.stop - span.keep_stop >= 32
        assert not spans[0].fade_in and not spans[-1].fade_out

    def test_a_short_axis_is_one_tile(self):
        spans = tile_spans(90, 128, context=32, ramp=16, multiple=4)
        assert [(s.start, s.stop, s.keep_start, s.keep_stop, s.fade_in, s.fade_out) for s in spans] == [
            (0, 90, 0, 90, False, False)]

    def test_a_tile_below_the_overlap_rule_is_refused(self):
        with pytest.raises(ValueError, match="at least 2 context"):
            tile_spans(500, 100, context=32, ramp=16, multiple=4)


class TestPlan:
    def test_off_and_a_frame_within_one_tile_are_not_tiled(self):
        model = load_model("remaster-x2", scale=2)
        assert plan_tiling(0, model, width=640, height=480) is None
        assert plan_tiling(512, model, width=512, height=300) is None
        assert plan_tiling(512, model, width=513, height=300).size == 512

    def test_sizes_round_down_to_the_size_multiple(self):
        model = load_model("remaster-x2", scale=2)  # size multiple 4, reach 48
        assert model.context == 48 and least_tile(model) == 144
        assert plan_tiling(150, model, width=400, height=300).size == 148

    def test_a_tile_below_the_least_is_raised_to_it_with_a_warning(self, caplog):
        model = load_model("remaster-x2", scale=2)
        with caplog.at_level(logging.WARNING):
            tiling = plan_tiling(40, model, width=400, height=300)
        assert tiling.size == least_tile(model) == 144 and tiling.asked == 40
        assert "below the least tile" in tiling.note and tiling.note in caplog.text

    def test_auto_tiles_only_what_does_not_fit(self):
        model = load_model("remaster-x2", scale=2)
        per_pixel = 4 * model.memory_per_pixel  # a batch of 4 frames
        fits = 4 * 1280 * 720 * per_pixel  # the share auto allows is a quarter of the free memory
        assert plan_tiling("auto", model, width=1280, height=720, batch=4, free_bytes=fits) is None
        tiling = plan_tiling("auto", model, width=3840, height=2160, batch=4, free_bytes=fits)
        assert tiling is not None and tiling.asked == "auto" and tiling.size % 4 == 0
        assert tiling.size ** 2 * per_pixel <= fits / 4 < (tiling.size + 4) ** 2 * per_pixel
        tiny = plan_tiling("auto", model, width=3840, height=2160, batch=4, free_bytes=1 << 20)
        assert tiny.size == least_tile(model)

    @pytest.mark.parametrize("bad", [-1, 1.5, "big", True])
    def test_bad_sizes(self, bad):
        with pytest.raises(ValueError):
            plan_tiling(bad, load_model("bicubic", scale=2), width=400, height=300)
        with pytest.raises(ConfigError, match="tile must be"):
            RemasterConfig(tile=bad)


def tiled_against_untiled(model: ModelDescriptor, frames: np.ndarray, tile: int) -> tuple[float, int]:
    """RMS and largest difference (levels) of ``model`` run in tiles of ``tile`` against whole frames."""
    whole = run_frames(model, frames).astype(np.float64)
    model.tiling = plan_tiling(tile, model, width=frames.shape[2], height=frames.shape[1])
    assert model.tiling is not None
    try:
        tiled = run_frames(model, frames).astype(np.float64)
    finally:
        model.tiling = None
    return float(np.sqrt(np.mean((tiled - whole) ** 2))), int(np.abs(tiled - whole).max())


class TestTiledMatchesUntiled:
    @pytest.mark.parametrize("tile", [40, 150])  # 40: below the overlap rule (144 px is used)
    def test_remaster_x2(self, film_frame, tile):
        model = load_model("remaster-x2", scale=2)
        rms, worst = tiled_against_untiled(model, film_frame[None], tile)
        # The model's reach is counted from its layers: tiles change nothing but float rounding.
        assert rms <= RMS_LIMIT and worst <= 2, (rms, worst)

    @pytest.mark.parametrize("cpu_frames", [True, False])  # OpenCV's uint8 path, and the torch module
    def test_bicubic(self, film_frame, cpu_frames):
        model = load_model("bicubic", scale=2) if cpu_frames else ModelDescriptor(
            "bicubic", Bicubic(scale=2), 2, context=2)
        frames = np.stack([film_frame, film_frame[::-1, ::-1]])  # a batch of two frames
        rms, worst = tiled_against_untiled(model, frames, 60)
        assert rms <= RMS_LIMIT and worst <= 1, (rms, worst)

    def test_a_model_that_reaches_past_its_context_leaves_no_step(self, film_frame):
        # remaster-x2 told it reaches 4 px (it reaches 48): the cross-fade spreads what the tiles
        # miss over the ramp, and the picture stays within the promise.
        model = load_model("remaster-x2", scale=2)
        model.context = 4
        rms, worst = tiled_against_untiled(model, film_frame[None], 96)
        assert rms <= RMS_LIMIT, (rms, worst)

    @pytest.mark.parametrize("name", ["remaster-x2", "bicubic"])  # the network, and OpenCV's CPU path
    def test_sixteen_bit_frames(self, film_frame, name):
        # A source of more than 8 bits: uint16 in, uint16 out, within the promise in 8-bit levels.
        noise = np.random.default_rng(0).integers(0, 257, film_frame.shape)
        frames = (film_frame.astype(np.int64) * 257 + noise).astype(np.uint16)[None]
        model = load_model(name, scale=2)
        model.tiling = plan_tiling(96, model, width=frames.shape[2], height=frames.shape[1])
        try:
            tiled = run_frames(model, frames)
        finally:
            model.tiling = None
        whole = run_frames(model, frames)
        assert tiled.dtype == whole.dtype == np.uint16
        difference = (tiled.astype(np.float64) - whole) / 257
        assert np.sqrt(np.mean(difference**2)) <= RMS_LIMIT and np.abs(difference).max() <= 2

    def test_blend_of_a_tiled_model_runs_its_tiles_even_where_it_would_batch(self):
        # The batched blend (the default off the CPU) calls the network on whole frames: a tiled
        # model keeps the per-frame path, which tiles.
        model = load_model("remaster-x2", scale=2)
        model.tiling = plan_tiling(128, model, width=400, height=300)
        assert not BlendRunner(model, batched=True).batched
        model.tiling = None
        assert BlendRunner(model, batched=True).batched

    def test_feature_reuse_refuses_a_tiled_model(self):
        model = load_model("remaster-x2", scale=2)
        model.tiling = plan_tiling(128, model, width=400, height=300)
        with pytest.raises(ValueError, match="whole frames"):
            ReuseRunner(model)


def lossless_config(**kw) -> RemasterConfig:
    return RemasterConfig(scale=2, model="remaster-x2", device="cpu", precision="fp32",
                          encode=EncodeConfig(codec="ffv1", crf=None, preset=None, pix_fmt="bgr0"), **kw)


class TestEndToEnd:
    def test_tiled_remaster_of_a_real_clip(self, film_frame, tmp_path):
        frames = [np.ascontiguousarray(np.roll(film_frame, 3 * i, axis=1)) for i in range(4)]
        src = write_lossless(tmp_path / "pan.mkv", frames)
        before = file_hash(src)
        blend = TemporalConfig(mode="blend")
        whole = remaster(src, tmp_path / "whole.mkv", lossless_config(temporal=blend))
        tiled = remaster(src, tmp_path / "tiled.mkv", lossless_config(temporal=blend, tile=160))
        assert tiled.model["tiles"]["size"] == 160 and whole.model["tiles"] is None
        assert tiled.frames == 4 and tiled.output_size == (406, 282)
        a, _ = decode_all(tmp_path / "whole.mkv")
        b, _ = decode_all(tmp_path / "tiled.mkv")
        diff = np.stack(a).astype(float) - np.stack(b)
        assert np.sqrt(np.mean(diff**2)) <= RMS_LIMIT
        assert file_hash(src) == before

    def test_reuse_runs_as_blend_on_tiles_and_says_so(self, tmp_path, caplog):
        src = make_clip(tmp_path / "in.mp4", frames=5, width=150, height=98)
        report = tmp_path / "r.json"
        with caplog.at_level(logging.WARNING):
            code = run(["remaster", str(src), "-o", str(tmp_path / "o.mp4"), "--tile", "144", "--temporal", "reuse",
                        "--report", str(report), "-q"])
        assert code == 0
        data = json.loads(report.read_text())
        assert data["temporal"]["mode"] == "blend" and "runs as blend" in data["temporal"]["note"]
        assert data["model"]["tiles"]["size"] == 144 and data["frames"] == 5
        assert "--temporal reuse runs as blend" in caplog.text  # the warning line
        with av.open(str(tmp_path / "o.mp4")) as c:
            assert (c.streams.video[0].width, c.streams.video[0].height) == (300, 196)

    def test_preview_takes_tiles(self, tmp_path):
        src = make_clip(tmp_path / "in.mp4", frames=4, width=150, height=98)
        report = tmp_path / "r.json"
        assert run(["preview", str(src), "-o", str(tmp_path / "p.mp4"), "--frames", "3", "--tile", "120",
                    "--model", "bicubic", "--report", str(report)]) == 0
        assert json.loads(report.read_text())["frames"] == 3
        assert (tmp_path / "p.png").exists()

    @pytest.mark.parametrize("command", ["remaster", "preview", "batch"])
    @pytest.mark.parametrize("bad", ["big", "-8", "1.5", ""])
    def test_bad_tile_is_a_usage_error(self, tmp_path, capsys, command, bad):
        src = make_clip(tmp_path / "in.mp4", frames=3)
        before = file_hash(src)
        target = tmp_path / ("out" if command == "batch" else "o.mp4")
        args = [command, str(src if command != "batch" else tmp_path), "-o", str(target), "--tile", bad]
        assert run(args) == 2
        err = capsys.readouterr().err
        assert err.count("error:") == 1 and "--tile" in err and "Traceback" not in err
        assert not target.exists() and file_hash(src) == before
