"""Film grain (vidstyle/finish/grain.py): its size, strength and independence, and --grain in real
runs, whole and in segments."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import decode_all, file_hash, make_clip

from vidstyle import remaster
from vidstyle.batch.segments import Segment, render_segment
from vidstyle.cli import run
from vidstyle.config import EncodeConfig, GrainConfig, RemasterConfig, RepairConfig, TemporalConfig
from vidstyle.errors import ConfigError
from vidstyle.finish.grain import FilmGrain, grain_field, midtone_weight
from vidstyle.io.depth import to_8bit

LOSSLESS = EncodeConfig(codec="ffv1", crf=None, preset=None, pix_fmt="bgr0")


def autocorrelation(field: np.ndarray, lags: range) -> np.ndarray:
    """Correlation of ``field`` with itself shifted by each lag, along rows and columns, averaged."""
    f = field - field.mean()
    var = np.mean(f * f)
    return np.array([(np.mean(f[:, lag:] * f[:, :-lag]) + np.mean(f[lag:] * f[:-lag])) / (2 * var) for lag in lags])


class TestGrainField:
    def test_unit_variance_and_zero_mean(self):
        field = grain_field(np.random.default_rng(0), 256, 320, 1.5)
        assert field.dtype == np.float32 and field.shape == (256, 320)
        assert abs(field.mean()) < 0.05 and field.std() == pytest.approx(1.0, rel=0.05)

    @pytest.mark.parametrize("size", [1.0, 2.0, 3.0])
    def test_its_width_follows_the_size(self, size):
        """Noise shaped by a Gaussian of sigma s has the autocorrelation exp(-d^2 / (4 s^2)): a
        Gaussian of sigma sqrt(2) s. Fitted on lags up to 3 s, the width found is the size asked."""
        field = grain_field(np.random.default_rng(1), 384, 384, size)
        lags = range(1, int(3 * size) + 1)
        rho = autocorrelation(field, lags)
        d2 = np.array(lags, float) ** 2
        found = np.sqrt(np.sum(d2 * d2) / np.sum(d2 * -np.log(rho)) / 4)  # least squares on -ln rho = d^2 / 4s^2
        assert found == pytest.approx(size, rel=0.1)

    def test_as_strong_at_the_border_as_inside(self):
        fields = np.stack([grain_field(np.random.default_rng(i), 40, 40, 3.0) for i in range(200)])
        assert fields[:, :3, :3].std() == pytest.approx(fields[:, 18:21, 18:21].std(), rel=0.1)


class TestFilmGrain:
    def grain(self, **kwargs) -> FilmGrain:
        return FilmGrain(GrainConfig(**{"strength": 6.0, **kwargs}))

    def test_a_frame_gets_the_same_grain_whoever_asks(self):
        grain = self.grain()
        frames = np.full((6, 24, 32, 3), 128, np.uint8)
        pts = np.arange(6) * 512
        whole = grain(frames, pts)
        parts = np.concatenate([grain(frames[:2], pts[:2]), grain(frames[2:], pts[2:])])
        assert np.array_equal(whole, parts)
        assert not np.array_equal(whole[0], whole[1])  # new in every frame
        assert not np.array_equal(whole, self.grain(seed=1)(frames, pts))  # another seed, another grain

    def test_strength_is_the_rms_at_mid_grey_and_less_towards_black_and_white(self):
        grain = self.grain(strength=8.0)
        # 0.25 + 3 y (1 - y) at grey y: 1 at 128, 0.73 at 51 (y 0.2), 0.52 at 230 (y 0.9).
        for level, share in ((128, 1.0), (51, 0.73), (230, 0.515)):
            frames = np.full((4, 64, 64, 3), level, np.uint8)
            added = grain(frames, np.arange(4)).astype(float) - level
            assert added.std() == pytest.approx(8.0 * share, rel=0.1)
            assert np.array_equal(added[..., 0], added[..., 2])  # one field for the three channels
        assert midtone_weight(np.array([0.0, 127.5, 255.0])) == pytest.approx([0.25, 1.0, 0.25])

    def test_negative_timestamps(self):
        out = self.grain()(np.full((2, 8, 8, 3), 128, np.uint8), np.array([-1024, -512]))
        assert out.shape == (2, 8, 8, 3) and not np.array_equal(out[0], out[1])


    def test_16_bit_frames_get_the_same_grain_in_16_bit_levels(self):
        frames = np.random.default_rng(0).integers(0, 256, (3, 32, 40, 3)).astype(np.uint8)
        pts = np.arange(3) * 512
        eight = self.grain()(frames, pts)
        sixteen = self.grain()(frames.astype(np.uint16) * 257, pts)
        assert sixteen.dtype == np.uint16 and not np.array_equal(sixteen, frames.astype(np.uint16) * 257)
        difference = np.abs(to_8bit(sixteen).astype(int) - eight)
        assert difference.max() <= 1 and difference.mean() < 0.1  # rounding, at 8 bits
        assert len(np.unique(sixteen)) > 10 * len(np.unique(eight))  # not 8-bit grain widened


class TestGrainConfig:
    @pytest.mark.parametrize(("text", "strength", "size"), [("4", 4.0, 1.0), ("6:1.5", 6.0, 1.5), ("0", 0.0, 1.0)])
    def test_parse(self, text, strength, size):
        config = GrainConfig.parse(text)
        assert (config.strength, config.size) == (strength, size)
        assert config.active == (strength > 0)

    @pytest.mark.parametrize(("text", "message"), [
        ("x", "STRENGTH or STRENGTH:SIZE"), ("4:", "STRENGTH or STRENGTH:SIZE"), ("4:1:2", "STRENGTH or"),
        ("-1", "strength must be from 0 to 64 levels, got -1"), ("100", "got 100"),
        ("4:0.1", "size must be from 0.5 to 8 pixels, got 0.1"), ("nan", "finite"), ("4:inf", "finite"),
    ])
    def test_bad_values(self, text, message):
        with pytest.raises(ConfigError, match=message):
            GrainConfig.parse(text)


def config(**kwargs) -> RemasterConfig:
    defaults = dict(scale=1, model="bicubic", device="cpu", encode=LOSSLESS, temporal=TemporalConfig(mode="off"),
                    repair=RepairConfig("off"))
    return RemasterConfig(**{**defaults, **kwargs})


@pytest.fixture
def grey_clip(tmp_path):
    """12 frames of 160x120 whose pictures are mostly mid-tones (the clip's gradients and bar)."""
    return make_clip(tmp_path / "in.mp4", frames=12, width=160, height=120, gop=4)


class TestThroughRuns:
    def test_strength_zero_equals_no_grain(self, tmp_path, grey_clip):
        remaster(grey_clip, tmp_path / "none.mkv", config())
        remaster(grey_clip, tmp_path / "zero.mkv", config(grain=GrainConfig(strength=0.0, size=3.0)))
        none, pts = decode_all(tmp_path / "none.mkv")
        zero, zero_pts = decode_all(tmp_path / "zero.mkv")
        assert zero_pts == pts and np.array_equal(np.stack(zero), np.stack(none))

    def test_grain_is_independent_from_frame_to_frame(self, tmp_path, grey_clip):
        remaster(grey_clip, tmp_path / "none.mkv", config())
        remaster(grey_clip, tmp_path / "grain.mkv", config(grain=GrainConfig(strength=6.0, size=1.0)))
        none, _ = decode_all(tmp_path / "none.mkv")
        grainy, _ = decode_all(tmp_path / "grain.mkv")
        added = (np.stack(grainy).astype(float) - np.stack(none))[..., 1]
        assert 2.0 < added.std() < 6.5  # mid-tones mostly, darker and lighter parts less
        between = [np.corrcoef(added[i].ravel(), added[i + 1].ravel())[0, 1] for i in range(len(added) - 1)]
        within = np.corrcoef(added[0, :, :-1].ravel(), added[0, :, 1:].ravel())[0, 1]  # neighbours in a frame
        # Grain of size 1 has about 19200 / (4 pi) independent values a frame here: a correlation
        # of unrelated frames is 0 within about 0.03 (one standard error).
        assert max(abs(c) for c in between) < 0.1 and abs(np.mean(between)) < 0.03 and within > 0.5

    def test_a_segment_gets_the_grain_of_the_whole_run(self, tmp_path, grey_clip):
        """A long film cut into segments: frames 4-11 rendered apart, after 2 warm-up frames, have
        the grain they have in the whole run."""
        cfg = config(grain=GrainConfig(strength=6.0, size=1.5, seed=7))
        remaster(grey_clip, tmp_path / "whole.mkv", cfg)
        render_segment(grey_clip, tmp_path / "part.mkv", cfg, Segment(index=1, first_frame=4, frames=8, warmup=2))
        whole, _ = decode_all(tmp_path / "whole.mkv")
        part, _ = decode_all(tmp_path / "part.mkv")
        assert len(part) == 8 and np.array_equal(np.stack(part), np.stack(whole[4:]))

    def test_grain_after_the_look(self, tmp_path, grey_clip):
        cfg = config(look="sepia-toning", grain=GrainConfig(strength=4.0))
        result = remaster(grey_clip, tmp_path / "both.mkv", cfg)
        assert result.settings["grain"] == {"strength": 4.0, "size": 1.0, "seed": 0}
        toned, _ = decode_all(tmp_path / "both.mkv")
        assert np.mean(np.stack(toned)[..., 0].astype(float) - np.stack(toned)[..., 2]) > 10  # still brown


class TestCli:
    @pytest.mark.parametrize("value", ["strong", "4:x", "-2", "4:100"])
    def test_bad_grain_is_a_usage_error(self, tmp_path, capsys, grey_clip, value):
        before = file_hash(grey_clip)
        assert run(["remaster", str(grey_clip), "-o", str(tmp_path / "out.mp4"), "--grain", value]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: Invalid value for '--grain'") and err.count("\n") == 1
        assert not (tmp_path / "out.mp4").exists() and file_hash(grey_clip) == before

    def test_grain_from_the_command_line(self, tmp_path, grey_clip):
        assert run(["remaster", str(grey_clip), "-o", str(tmp_path / "g.mkv"), "--model", "bicubic", "--scale", "1",
                    "--temporal", "off", "--repair", "off", "--codec", "ffv1", "--pix-fmt", "bgr0", "--grain", "5:2",
                    "-q"]) == 0
        remaster(grey_clip, tmp_path / "lib.mkv", config(grain=GrainConfig(strength=5.0, size=2.0)))
        cli_frames, _ = decode_all(tmp_path / "g.mkv")
        lib_frames, _ = decode_all(tmp_path / "lib.mkv")
        assert np.array_equal(np.stack(cli_frames), np.stack(lib_frames))
