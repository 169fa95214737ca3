"""Film looks (vidstyle/finish): .cube files read and refused, the LUT applied, the bundled looks,
and --look through real runs and the CLI."""

from __future__ import annotations

import functools
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import decode_all, file_hash, make_clip

from vidstyle import remaster
from vidstyle.cli import run
from vidstyle.config import EncodeConfig, RemasterConfig, TemporalConfig
from vidstyle.errors import LookError
from vidstyle.finish import CubeLut, Look, bundled_looks, identity_cube, load_look, read_cube, write_cube
from vidstyle.io.depth import to_8bit

LOSSLESS = EncodeConfig(codec="ffv1", crf=None, preset=None, pix_fmt="bgr0")


def cube_text(size: int, rows: list[str], header: str = "") -> str:
    return header + f"LUT_3D_SIZE {size}\n" + "\n".join(rows) + "\n"


def identity_rows(size: int) -> list[str]:
    """Entries of an identity LUT in file order, red fastest."""
    steps = [i / (size - 1) for i in range(size)]
    return [f"{r:.6f} {g:.6f} {b:.6f}" for b, g, r in itertools.product(steps, repeat=3)]


def random_lut(size: int = 5, seed: int = 0, **kwargs) -> CubeLut:
    table = np.random.default_rng(seed).uniform(-0.1, 1.1, (size, size, size, 3)).astype(np.float32)
    return CubeLut("random", table, **kwargs)


def trilinear(lut: CubeLut, rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """One 8-bit colour through ``lut``, the textbook way: the 8 corners of its grid cell, each
    weighed by the product of its closeness along the three axes; plain Python floats."""
    n = lut.size
    corner, frac = [], []
    for value, low, high in zip(rgb, lut.domain_min, lut.domain_max):
        x = min(max((value / 255 - low) / (high - low), 0.0), 1.0) * (n - 1)
        i = min(int(math.floor(x)), n - 2)
        corner.append(i)
        frac.append(x - i)
    out = [0.0, 0.0, 0.0]
    for dr, dg, db in itertools.product((0, 1), repeat=3):
        weight = ((frac[0] if dr else 1 - frac[0]) * (frac[1] if dg else 1 - frac[1])
                  * (frac[2] if db else 1 - frac[2]))
        entry = lut.table[corner[0] + dr, corner[1] + dg, corner[2] + db]
        for c in range(3):
            out[c] += weight * float(entry[c])
    return tuple(out)


@functools.cache
def bundled(name: str) -> Look:
    """A bundled look, loaded once for the tests (its table takes a fraction of a second)."""
    return load_look(name)


def levels(value: float) -> int:
    return round(min(max(value, 0.0), 1.0) * 255)


class TestReadCube:
    def test_round_trip_keeps_everything(self, tmp_path):
        lut = random_lut(domain_min=(0.0, -0.1, 0.05), domain_max=(1.0, 1.2, 0.9),
                         comments=("a test look", "second line"))
        write_cube(tmp_path / "r.cube", lut)
        back = read_cube(tmp_path / "r.cube")
        assert back.title == "random" and back.comments == ("a test look", "second line")
        assert back.is_3d and back.size == 5
        assert back.domain_min == pytest.approx((0.0, -0.1, 0.05)) and back.domain_max == pytest.approx((1, 1.2, 0.9))
        np.testing.assert_allclose(back.table, lut.table, atol=1e-6)

    def test_file_order_is_red_fastest(self, tmp_path):
        # The second entry is grid point r=1, g=0, b=0; the third r=0, g=1, b=0.
        rows = ["0 0 0", "0.9 0.1 0.2", "0.3 0.8 0.4"] + ["0.5 0.5 0.5"] * 5
        (tmp_path / "o.cube").write_text(cube_text(2, rows))
        table = read_cube(tmp_path / "o.cube").table
        assert table[1, 0, 0] == pytest.approx([0.9, 0.1, 0.2])
        assert table[0, 1, 0] == pytest.approx([0.3, 0.8, 0.4])

    def test_resolve_spellings(self, tmp_path):
        text = ('# made elsewhere\n\nTITLE "Resolve export"\nLUT_3D_INPUT_RANGE 0.0 2.0\n'
                "LUT_3D_SIZE 2\n\n" + "\n".join(identity_rows(2)) + "  # a trailing comment\n")
        (tmp_path / "v.cube").write_text("\ufeff" + text)  # with a byte-order mark
        lut = read_cube(tmp_path / "v.cube")
        assert lut.title == "Resolve export" and lut.domain_max == (2.0, 2.0, 2.0)
        assert lut.comments == ("made elsewhere",)

    def test_a_1d_lut(self, tmp_path):
        (tmp_path / "c.cube").write_text("LUT_1D_SIZE 3\n0 0 0\n0.25 0.5 0.75\n1 1 1\n")
        lut = read_cube(tmp_path / "c.cube")
        assert not lut.is_3d and lut.table.shape == (3, 3)

    @pytest.mark.parametrize(("text", "message"), [
        (cube_text(3, identity_rows(3)[:-1]), "LUT_3D_SIZE 3 needs 27 table entries, the file has 26 (truncated?)"),
        (cube_text(2, identity_rows(2) + ["0 0 0"]), "LUT_3D_SIZE 2 needs 8 table entries, the file has 9"),
        ("\n".join(identity_rows(2)), "a table but no LUT_3D_SIZE (or LUT_1D_SIZE)"),
        ("# nothing\n", "no table and no LUT_3D_SIZE"),
        (cube_text(2, identity_rows(2)[:3] + ["nan 0 0"] + identity_rows(2)[4:]),
         "line 5: table entry 'nan 0 0' is not finite"),
        (cube_text(2, identity_rows(2)[:6] + ["1e999 0 0", "1 1 1"]), "line 8: table entry '1e999 0 0' is not finite"),
        (cube_text(2, identity_rows(2)[:7]) + "1.000000 1.0", "line 9: a table entry is 3 numbers, got 2 (truncated?)"),
        (cube_text(2, identity_rows(2)[:7] + ["1 one 1"]), "line 9: a table entry is 3 numbers, got '1 one 1'"),
        (cube_text(1, ["0 0 0"]), "LUT_3D_SIZE must be a whole number from 2 to 256, got 1"),
        (cube_text(300, ["0 0 0"]), "LUT_3D_SIZE must be a whole number from 2 to 256, got 300"),
        (cube_text(2, identity_rows(2), header="LUT_3D_SIZE 2\n"), "LUT_3D_SIZE is given twice"),
        (cube_text(2, identity_rows(2), header="LUT_IN_VIDEO_RANGE\n"), "unknown keyword LUT_IN_VIDEO_RANGE"),
        (cube_text(2, identity_rows(2)[:4] + ["TITLE \"late\""] + identity_rows(2)[4:]),
         "keyword TITLE after the table has begun"),
        (cube_text(2, identity_rows(2), header="DOMAIN_MIN 0 0 1\n"), "must be below DOMAIN_MAX"),
        (cube_text(2, identity_rows(2), header="DOMAIN_MAX 1 1\n"), "DOMAIN_MAX takes 3 number(s), got 2"),
        (cube_text(2, identity_rows(2), header="LUT_1D_SIZE 8\n"), "both LUT_1D_SIZE and LUT_3D_SIZE"),
    ])
    def test_malformed_files_get_one_line_errors(self, tmp_path, text, message):
        (tmp_path / "bad.cube").write_text(text)
        with pytest.raises(LookError) as info:
            read_cube(tmp_path / "bad.cube")
        assert message in str(info.value) and "\n" not in str(info.value)
        assert str(info.value).startswith("bad.cube: ")

    def test_missing_and_binary_files(self, tmp_path):
        with pytest.raises(LookError, match="not found"):
            read_cube(tmp_path / "gone.cube")
        (tmp_path / "b.cube").write_bytes(bytes(range(256)))
        with pytest.raises(LookError, match="b.cube: not a text file"):
            read_cube(tmp_path / "b.cube")


class TestLook:
    def test_identity_gives_every_colour_back(self):
        look = Look(identity_cube(17))
        every = np.arange(0, 2**24, 7, dtype=np.uint32)  # one colour in 7, every level of each channel
        colours = np.stack([every >> 16, (every >> 8) & 255, every & 255], axis=1).astype(np.uint8)
        assert np.array_equal(look(colours), colours)

    @pytest.mark.parametrize("domain", [((0, 0, 0), (1, 1, 1)), ((0.1, -0.2, 0.0), (0.8, 1.0, 1.3))])
    def test_matches_an_independent_trilinear(self, domain):
        lut = random_lut(size=6, seed=1, domain_min=domain[0], domain_max=domain[1])
        look = Look(lut)
        rng = np.random.default_rng(2)
        pixels = [tuple(int(v) for v in p) for p in rng.integers(0, 256, (300, 3))]
        pixels += [(0, 0, 0), (255, 255, 255), (255, 0, 128), (51, 102, 204)]  # 51 * 5 = 255: grid points
        got = look(np.array(pixels, np.uint8)[None])[0]
        expected = np.array([[levels(v) for v in trilinear(lut, p)] for p in pixels])
        # The table rounds a float32 separable interpolation, the reference a float64 one: a value
        # within float error of half a level may round the other way.
        assert np.abs(got.astype(int) - expected).max() <= 1
        assert np.mean(got == expected) > 0.99

    def test_a_1d_lut_is_a_curve_per_channel(self):
        curve = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.25], [1.0, 0.0, 1.0]], np.float32)
        look = Look(CubeLut("curves", curve))
        levels_in = np.arange(256, dtype=np.uint8)
        out = look(np.stack([levels_in] * 3, axis=1)[None])[0].astype(int)
        x = levels_in / 255 * 2
        for c in range(3):
            assert np.abs(out[:, c] - np.rint(np.interp(x, [0, 1, 2], curve[:, c]) * 255)).max() <= 1

    def test_frames_are_not_changed_in_place_and_must_be_rgb_bytes(self):
        frames = np.full((2, 4, 4, 3), 100, np.uint8)
        out = Look(random_lut())(frames)
        assert out.shape == frames.shape and (frames == 100).all() and not np.shares_memory(out, frames)
        with pytest.raises(ValueError, match="RGB uint8"):
            Look(random_lut())(frames.astype(np.float32))


def deep(frames: np.ndarray, seed: int = 0) -> np.ndarray:
    """8-bit frames widened to 16 bits (x 257), with detail below the 8-bit level added."""
    noise = np.random.default_rng(seed).integers(-128, 129, frames.shape)
    return np.clip(frames.astype(np.int64) * 257 + noise, 0, 65535).astype(np.uint16)


class TestSixteenBits:
    """Frames of a source of more than 8 bits keep their depth through a look."""

    @pytest.mark.parametrize("domain", [((0, 0, 0), (1, 1, 1)), ((0.1, -0.2, 0.0), (0.8, 1.0, 1.3))])
    def test_a_3d_lut_is_interpolated_at_each_pixel(self, domain):
        lut = random_lut(size=6, seed=3, domain_min=domain[0], domain_max=domain[1])
        pixels = np.random.default_rng(4).integers(0, 65536, (200, 3)).astype(np.uint16)
        pixels[:3] = [(0, 0, 0), (65535, 65535, 65535), (13107, 26214, 52428)]  # grid points (x 13107)
        got = Look(lut)(pixels[None])[0]
        assert got.dtype == np.uint16
        expected = np.array([[round(min(max(v, 0.0), 1.0) * 65535) for v in trilinear(lut, tuple(p / 257))]
                             for p in pixels.astype(float)])
        assert np.abs(got.astype(int) - expected).max() <= 1  # float32 against float64: a 16-bit level

    def test_identity_gives_every_value_back(self):
        frames = deep(np.random.default_rng(5).integers(0, 256, (2, 16, 24, 3)).astype(np.uint8))
        assert np.array_equal(Look(identity_cube(17))(frames), frames)

    @pytest.mark.parametrize("name", ["sepia-toning", "two-strip-technicolor"])
    def test_the_8_bit_picture_within_a_level(self, name):
        frames = np.random.default_rng(6).integers(0, 256, (2, 24, 32, 3)).astype(np.uint8)
        wide = frames.astype(np.uint16) * 257
        out = bundled(name)(wide)
        assert out.dtype == np.uint16 and out.shape == wide.shape
        assert np.abs(to_8bit(out).astype(int) - bundled(name)(frames)).max() <= 1

    def test_a_1d_lut_at_16_bits(self):
        curve = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.25], [1.0, 0.0, 1.0]], np.float32)
        values = np.arange(0, 65536, 5, dtype=np.uint16)
        out = Look(CubeLut("curves", curve))(np.stack([values] * 3, axis=1)[None])[0].astype(int)
        x = values / 65535 * 2
        for c in range(3):
            assert np.abs(out[:, c] - np.rint(np.interp(x, [0, 1, 2], curve[:, c]) * 65535)).max() <= 1


class TestBundledLooks:
    def test_five_looks_each_a_33_cube_with_a_summary(self):
        looks = {e.name: e for e in bundled_looks()}
        assert set(looks) == {"two-strip-technicolor", "bleach-bypass", "sepia-toning", "selenium-toning",
                              "faded-print-restore"}
        for entry in looks.values():
            lut = read_cube(entry.path)
            assert lut.is_3d and lut.size == 33 and entry.summary and entry.title == lut.title
            assert "pipelines/make_looks.py" in " ".join(lut.comments)

    def grey(self, name: str, level: int) -> np.ndarray:
        return bundled(name)(np.full((1, 1, 3), level, np.uint8))[0, 0].astype(int)

    def test_toning_keeps_white_and_warms_the_mid_tones(self):
        for name in ("sepia-toning", "selenium-toning"):
            assert (self.grey(name, 255) >= 253).all()
        r, g, b = self.grey("sepia-toning", 128)
        assert r > g + 10 > b + 20  # brown
        r, g, b = self.grey("selenium-toning", 40)
        assert r > g and b > g  # purple-brown shadows
        assert abs(int(self.grey("selenium-toning", 235)[0]) - int(self.grey("selenium-toning", 235)[1])) <= 2

    def test_two_strip_keeps_greys_grey_and_has_no_blue(self):
        for level in (40, 128, 220):
            assert np.ptp(self.grey("two-strip-technicolor", level)) <= 3
        blue = bundled("two-strip-technicolor")(np.array([[[30, 60, 230]]], np.uint8))[0, 0].astype(int)
        assert blue[2] < 160 and abs(blue[1] - blue[2]) < 25  # a dark teal, not a blue

    def test_faded_print_restore_brings_a_faded_grey_back(self):
        # A mid-grey print that kept 55%, 95% and 75% of its cyan, magenta and yellow dye:
        # each channel's density scaled by that share, in BT.1886 light.
        grey = 0.5**2.4
        faded = [round(255 * (grey**kept) ** (1 / 2.4)) for kept in (0.55, 0.95, 0.75)]
        assert faded[0] > faded[2] > faded[1]  # pink
        restored = bundled("faded-print-restore")(np.array([[faded]], np.uint8))[0, 0]
        assert np.abs(restored.astype(int) - 128).max() <= 3

    def test_bleach_bypass_raises_contrast_and_pales_colour(self):
        look = bundled("bleach-bypass")
        dark, light = self.grey("bleach-bypass", 50), self.grey("bleach-bypass", 200)
        assert dark[0] < 50 and light[0] > 200
        red = look(np.array([[[200, 60, 50]]], np.uint8))[0, 0].astype(int)
        assert red[0] - red[1] < 200 - 60


def config(**kwargs) -> RemasterConfig:
    defaults = dict(scale=1, model="bicubic", device="cpu", encode=LOSSLESS, temporal=TemporalConfig(mode="off"))
    return RemasterConfig(**{**defaults, **kwargs})


class TestThroughRuns:
    def test_identity_lut_equals_no_lut(self, tmp_path):
        src = make_clip(tmp_path / "in.mp4", frames=8, width=64, height=48)
        write_cube(tmp_path / "identity.cube", identity_cube(33))
        remaster(src, tmp_path / "plain.mkv", config(scale=2))
        remaster(src, tmp_path / "identity.mkv", config(scale=2, look=str(tmp_path / "identity.cube")))
        plain, _ = decode_all(tmp_path / "plain.mkv")
        same, _ = decode_all(tmp_path / "identity.mkv")
        rms = np.sqrt(np.mean((np.stack(plain).astype(float) - np.stack(same)) ** 2))
        assert len(same) == 8 and rms <= 0.5

    def test_a_look_is_its_lut_on_every_output_frame(self, tmp_path):
        src = make_clip(tmp_path / "in.mp4", frames=8, width=64, height=48)
        result = remaster(src, tmp_path / "sepia.mkv", config(look="sepia-toning"))
        remaster(src, tmp_path / "plain.mkv", config())
        plain, pts = decode_all(tmp_path / "plain.mkv")
        toned, toned_pts = decode_all(tmp_path / "sepia.mkv")
        assert toned_pts == pts and result.settings["look"] == "sepia-toning"
        assert np.array_equal(np.stack(toned), bundled("sepia-toning")(np.stack(plain)))

    def test_a_look_with_reuse_is_applied_once(self, tmp_path):
        # Feature reuse keeps its own outputs; the look goes on the frames written, once each.
        src = make_clip(tmp_path / "in.mp4", frames=8, width=64, height=48)
        reuse = TemporalConfig(mode="reuse", keyframe_interval=4)
        remaster(src, tmp_path / "plain.mkv", config(scale=2, model="auto", temporal=reuse))
        remaster(src, tmp_path / "look.mkv", config(scale=2, model="auto", temporal=reuse, look="bleach-bypass"))
        plain, _ = decode_all(tmp_path / "plain.mkv")
        looked, _ = decode_all(tmp_path / "look.mkv")
        assert np.array_equal(np.stack(looked), bundled("bleach-bypass")(np.stack(plain)))

    def test_bad_look_from_the_library(self, tmp_path):
        src = make_clip(tmp_path / "in.mp4", frames=4)
        with pytest.raises(LookError, match="unknown look 'nope'"):
            remaster(src, tmp_path / "out.mkv", config(look="nope"))
        assert not (tmp_path / "out.mkv").exists()


MALFORMED = {
    "wrong-size.cube": cube_text(3, identity_rows(2)),
    "no-size.cube": "\n".join(identity_rows(2)) + "\n",
    "nan.cube": cube_text(2, ["nan nan nan"] * 8),
    "truncated.cube": cube_text(3, identity_rows(3))[:200],
    "too-big.cube": cube_text(512, identity_rows(2)),
}


class TestCli:
    @pytest.mark.parametrize("name", sorted(MALFORMED))
    @pytest.mark.parametrize("command", ["remaster", "preview", "batch"])
    def test_malformed_cube_is_a_usage_error(self, tmp_path, capsys, name, command):
        src = make_clip(tmp_path / "in.mp4", frames=4)
        before = file_hash(src)
        (tmp_path / name).write_text(MALFORMED[name])
        out = tmp_path / ("out" if command == "batch" else "out.mp4")
        target = str(tmp_path / "films") if command == "batch" else str(src)
        if command == "batch":
            (tmp_path / "films").mkdir()
            src.rename(tmp_path / "films" / "in.mp4")
            src = tmp_path / "films" / "in.mp4"
        assert run([command, target, "-o", str(out), "--model", "bicubic", "--look", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: Invalid value for '--look': " + name)
        assert not out.exists() and file_hash(src) == before

    def test_styles_lists_the_looks(self, capsys):
        assert run(["styles"]) == 0
        out = capsys.readouterr().out
        for entry in bundled_looks():
            assert entry.name in out and entry.summary in out
        assert "--look NAME|FILE.cube" in out

    def test_remaster_with_a_look_file_and_preview_with_a_name(self, tmp_path):
        src = make_clip(tmp_path / "in.mp4", frames=6, width=64, height=48)
        write_cube(tmp_path / "mine.cube", random_lut())
        assert run(["remaster", str(src), "-o", str(tmp_path / "a.mkv"), "--model", "bicubic", "--scale", "1",
                    "--look", str(tmp_path / "mine.cube"), "--codec", "ffv1", "--pix-fmt", "bgr0",
                    "--temporal", "off", "-q"]) == 0
        remaster(src, tmp_path / "plain.mkv", config())
        looked, _ = decode_all(tmp_path / "a.mkv")
        plain, _ = decode_all(tmp_path / "plain.mkv")
        assert np.array_equal(np.stack(looked), Look(read_cube(tmp_path / "mine.cube"))(np.stack(plain)))
        assert run(["preview", str(src), "-o", str(tmp_path / "p.mp4"), "--model", "bicubic", "--frames", "4",
                    "--look", "sepia-toning", "-q"]) == 0
        assert (tmp_path / "p.mp4").is_file() and Path(tmp_path / "p.png").is_file()
