"""Image sequences in and out, and sources of more than 8 bits kept at their depth, end to end.

Sequences are written with PyAV's image2 muxer (DPX, TIFF, PNG), read back with its demuxer, and
compared with what went in: at ``--model bicubic --scale 1`` the pixels must come back within one
10-bit code value.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import (
    assert_one_error,
    cli,
    file_hash,
    frame_pattern,
    make_clip,
    moving_crops,
    read_sequence,
    write_sequence,
)

from vidstyle import probe
from vidstyle.config import EncodeConfig
from vidstyle.errors import InputError, SequenceError
from vidstyle.io.depth import to_8bit
from vidstyle.io.reader import VideoReader
from vidstyle.io.sequence import dpx_frame_rate, find_sequence
from vidstyle.io.writer import VideoWriter

W, H = 64, 48
#: One 10-bit code value in 16-bit levels.
CODE = 65535 / 1023
BICUBIC = ["--model", "bicubic", "--scale", "1", "-q"]




def widen(codes: np.ndarray) -> np.ndarray:
    """10-bit code values as the 16-bit levels libav widens them to (the top bits repeated)."""
    codes = codes.astype(np.uint16)
    return (codes << 6) | (codes >> 4)


def ten_bit_codes(count: int, seed: int = 0) -> np.ndarray:
    """(count, H, W, 3) 10-bit code values, every one of 0..1023 likely to appear."""
    return np.random.default_rng(seed).integers(0, 1024, (count, H, W, 3)).astype(np.uint16)


def with_dpx_rate(path: Path, rate: float) -> None:
    """Give a DPX file written by libav (a 1664-byte header) the film header's frame rate (offset 1724),
    as a scanner writes it: the header grows to 2048 bytes, its offsets follow."""
    data = path.read_bytes()
    order = ">" if data[:4] == b"SDPX" else "<"
    (offset,) = struct.unpack(order + "I", data[4:8])
    header = bytearray(data[:offset] + b"\xff" * (2048 - offset))
    header[1724:1728] = struct.pack(order + "f", rate)
    header[4:8] = header[808:812] = struct.pack(order + "I", 2048)
    header[16:20] = struct.pack(order + "I", 2048 + len(data) - offset)
    path.write_bytes(bytes(header) + data[offset:])


def panning_texture(count: int) -> np.ndarray:
    """(count, H, W, 3) uint8: a smooth seeded texture under a camera pan of (1, 0.5) pixels a frame,
    which the optical flow follows (so blending and feature reuse take place)."""
    noise = np.random.default_rng(7).random((H + 40, W + 40, 3)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 3.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min()) * 255
    return np.stack(moving_crops(np.round(texture).astype(np.uint8), count, (1.0, 0.5), W, H))


@pytest.fixture
def dpx10(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """8 frames of 10-bit DPX, ``scan/reel_000001.dpx`` ..., and their code values."""
    (tmp_path / "scan").mkdir()
    codes = ten_bit_codes(8)
    return write_sequence(tmp_path / "scan" / "reel_%06d.dpx", widen(codes), "dpx", "gbrp10le"), codes


class TestRoundTrip:
    """The target: 10-bit DPX in, 16-bit TIFF and 10-bit DPX out; 16-bit TIFF in and out; within one
    10-bit code value at --model bicubic --scale 1."""

    @pytest.mark.parametrize("ext, pix_fmt", [("tif", "rgb48le"), ("dpx", "gbrp10le"), ("exr", "gbrpf32le")])
    def test_ten_bit_dpx_in(self, capsys, tmp_path, dpx10, ext, pix_fmt):
        pattern, codes = dpx10
        before = {p: file_hash(p) for p in pattern.parent.iterdir()}
        (tmp_path / "out").mkdir()
        code, _, err = cli(capsys, "remaster", pattern.parent, "-o", tmp_path / "out" / f"r_%06d.{ext}",
                           "--fps", "24", *BICUBIC)
        assert code == 0, err
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"r_{n:06d}.{ext}" for n in range(1, 9)]
        frames, written = read_sequence(tmp_path / "out" / f"r_%06d.{ext}", 1)
        assert written == pix_fmt  # 16-bit TIFF, 10-bit DPX
        assert np.abs(frames / CODE - codes).max() <= 1.0
        assert {p: file_hash(p) for p in pattern.parent.iterdir()} == before

    def test_sixteen_bit_tiff_in_and_out(self, capsys, tmp_path):
        levels = np.random.default_rng(1).integers(0, 65536, (6, H, W, 3)).astype(np.uint16)
        (tmp_path / "scan").mkdir()
        write_sequence(tmp_path / "scan" / "s_%04d.tif", levels, "tiff", "rgb48le", first=86400)
        code, _, err = cli(capsys, "remaster", tmp_path / "scan" / "s_%04d.tif", "-o", tmp_path / "o_%04d.tif",
                           "--fps", "24", *BICUBIC)
        assert code == 0, err
        frames, written = read_sequence(tmp_path / "o_%04d.tif", 86400)  # the source's numbers
        assert written == "rgb48le" and frames.shape == levels.shape
        assert np.abs(frames.astype(int) - levels).max() <= CODE

    def test_exr_in_sixteen_bit_tiff_out(self, capsys, tmp_path):
        levels = np.random.default_rng(2).integers(0, 65536, (6, H, W, 3)).astype(np.uint16)
        (tmp_path / "scan").mkdir()
        write_sequence(tmp_path / "scan" / "e_%04d.exr", levels, "exr", "gbrpf32le")
        # --repair off: the random levels read as grain, which the repair would average with the neighbours.
        code, _, err = cli(capsys, "remaster", tmp_path / "scan", "-o", tmp_path / "o_%04d.tif", "--fps", "24",
                           "--repair", "off", *BICUBIC)
        assert code == 0, err
        frames, _ = read_sequence(tmp_path / "o_%04d.tif", 1)
        assert np.abs(frames.astype(int) - levels).max() <= CODE


def test_ten_bit_h264_keeps_more_than_8_bits_of_a_gradient(capsys, tmp_path):
    """A smooth grey ramp, 0.40 to 0.45 of full scale across 160 pixels, in lossless 10-bit H.264:
    about 45 luma levels, 12 in 8 bits. Through vidstyle (lossless FFV1 out) every level stays;
    through 8-bit frames, as before, the ramp bands."""
    width, height = 160, 120
    ramp = np.linspace(0.40, 0.45, width)
    grey = np.broadcast_to(np.round(ramp * 65535).astype(np.uint16)[None, :, None], (height, width, 3)).copy()
    src = tmp_path / "ramp.mkv"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p10le"
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(grey, format="rgb48le").reformat(
                format="yuv420p10le", dst_colorspace=5, dst_color_range=1)
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)

    def luma(path: Path) -> np.ndarray:
        """The 10-bit luma codes of the first frame's middle row."""
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            assert frame.format.name == "yuv420p10le"
            plane = np.frombuffer(frame.planes[0], np.uint16).reshape(height, -1)
            return plane[height // 2, :width].astype(float)

    deep = tmp_path / "deep.mkv"
    code, _, err = cli(capsys, "remaster", src, "-o", deep, "--codec", "ffv1", *BICUBIC)
    assert code == 0, err
    eight = tmp_path / "eight.mkv"  # the 8-bit path: frames as uint8, written at 10 bits
    with VideoReader(src, eight_bit=True) as reader, VideoWriter(
            eight, source=reader.info, width=width, height=height,
            encode=EncodeConfig(codec="ffv1", pix_fmt="yuv420p10le")) as writer:
        for batch in reader:
            writer.write(batch.frames, batch.pts)
        writer.commit()
    truth = luma(src)
    runs = {"source": src, "deep": deep, "8-bit": eight}
    levels = {name: len(np.unique(luma(path))) for name, path in runs.items()}
    rms = {name: float(np.sqrt(np.mean((luma(path) - truth) ** 2))) for name, path in runs.items()}
    assert levels["deep"] == levels["source"] >= 40, levels
    assert levels["8-bit"] <= 13 and rms["8-bit"] > 1.0, (levels, rms)
    assert rms["deep"] < 0.5, rms
    code, out, err = cli(capsys, "metrics", deep, "--flow-from", src, "--json", "-q")  # measured at 8 bits
    assert code == 0 and json.loads(out)["frames"] == 6, err
    # The default encoder (x264) also writes such a source at 10 bits.
    default = tmp_path / "default.mkv"
    assert cli(capsys, "remaster", src, "-o", default, *BICUBIC)[0] == 0
    assert probe(default).pix_fmt == "yuv420p10le" and probe(default).bit_depth == 10
    assert len(np.unique(luma(default))) > 2 * levels["8-bit"]


class TestFinding:
    def test_folder_pattern_and_unpadded_numbers(self, tmp_path, dpx10):
        pattern, _ = dpx10
        (pattern.parent / "notes.txt").write_text("scanner log")  # not numbered: left alone
        (pattern.parent / "cover.png").write_bytes(b"")
        assert find_sequence(pattern.parent) == find_sequence(pattern)
        assert find_sequence(pattern.parent).pattern == pattern and (find_sequence(pattern).first, find_sequence(
            pattern).count) == (1, 8)
        frames = np.stack([frame_pattern(i, W, H) for i in range(11)])
        write_sequence(tmp_path / "f%d.png", frames, "png", "rgb24", first=0)  # f0.png ... f10.png
        found = find_sequence(tmp_path / "f%d.png")
        assert (found.first, found.count, found.label) == (0, 11, "f#.png")

    def test_info_on_a_sequence(self, capsys, dpx10):
        pattern, _ = dpx10
        code, out, err = cli(capsys, "info", pattern.parent, "--fps", "23.976", "--json")
        assert code == 0, err
        info = json.loads(out)
        assert info["frame_count"] == 8 and info["frame_count_source"] == "files"
        assert info["fps"] == "24000/1001" and info["bit_depth"] == 10 and info["pix_fmt"] == "gbrp10le"
        assert info["sequence"] == {"pattern": str(pattern), "first": 1, "last": 8}
        code, out, _ = cli(capsys, "info", pattern, "--fps", "24")
        assert "reel_######.dpx, frames 1-8" in out and "10-bit" in out

    def test_the_dpx_header_gives_the_rate(self, capsys, tmp_path, dpx10):
        pattern, _ = dpx10
        for number in range(1, 9):
            with_dpx_rate(find_sequence(pattern).frame_path(number), 23.976)
        assert dpx_frame_rate(find_sequence(pattern).frame_path(1)) == Fraction(24000, 1001)
        assert probe(pattern).fps == Fraction(24000, 1001)  # no --fps needed
        assert probe(pattern, fps=Fraction(25)).fps == 25  # --fps overrides it
        code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o.mkv", *BICUBIC)
        assert code == 0, err
        assert probe(tmp_path / "o.mkv").fps == Fraction(24000, 1001)


class TestRanges:
    def test_a_range_of_a_sequence_is_frame_exact_and_keeps_its_numbers(self, capsys, tmp_path, dpx10):
        pattern, codes = dpx10
        code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o_%03d.dpx", "--fps", "24",
                           "--start", "f2", "--frames", "3", *BICUBIC)
        assert code == 0, err
        assert sorted(p.name for p in tmp_path.glob("o_*")) == ["o_003.dpx", "o_004.dpx", "o_005.dpx"]
        frames, _ = read_sequence(tmp_path / "o_%03d.dpx", 3)
        assert np.array_equal(np.round(frames / CODE), codes[2:5])

    def test_a_video_to_a_sequence_numbers_frames_from_their_index(self, capsys, tmp_path):
        clip = make_clip(tmp_path / "clip.mp4", frames=12)  # with sound
        code, _, err = cli(capsys, "remaster", clip, "-o", tmp_path / "v_%04d.png", "--start", "f5", *BICUBIC)
        assert code == 0, err
        assert sorted(p.name for p in tmp_path.glob("v_*")) == [f"v_{n:04d}.png" for n in range(5, 12)]
        assert "the sound of clip.mp4 is not written" in err and "error" not in err
        frames, written = read_sequence(tmp_path / "v_%04d.png", 5)
        assert written == "rgb24"  # an 8-bit source gives 8-bit PNG
        assert not list(tmp_path.glob(".*partial*"))


BAD = {
    # name: (make the input in folder d, give --fps, message)
    "gap": (lambda d: _numbered(d, [1, 2, 3, 5, 6, 9]), True, "gap in its numbering: frame 4, 7-8 missing"),
    "mixed sizes": (lambda d: _numbered(d, range(1, 7), odd=4), True, "mixes frame sizes: p_0004.png is 32x48"),
    "empty folder": (lambda d: d, True, "no numbered frames"),
    "no rate": (lambda d: _numbered(d, range(1, 7), ext="tif"), False, "needs a frame rate: TIFF files hold"),
    "two sequences": (lambda d: _numbered(_numbered(d, range(3), prefix="a_"), range(3), prefix="b_"), True,
                      "holds 2 image sequences"),
    "no match": (lambda d: d / "x_%04d.png", True, "no frame matches"),
    "mixed padding": (lambda d: _numbered(_numbered(d, range(1, 4)), range(10, 12), width=3), True,
                      "mix their padding"),
}


def _numbered(folder: Path, numbers, *, prefix: str = "p_", ext: str = "png", width: int = 4,
              odd: int | None = None) -> Path:
    """8-bit frames named ``{prefix}{n:0width}.{ext}`` in ``folder``; frame ``odd`` half as wide."""
    for n in numbers:
        frame = frame_pattern(n, W // 2 if n == odd else W, H)
        write_sequence(folder / f"{prefix}{n:0{width}d}.{ext}", frame[None], {"png": "png", "tif": "tiff"}[ext],
                       "rgb24")
    return folder


@pytest.mark.parametrize("case", list(BAD))
def test_bad_sequences_one_error_line(capsys, tmp_path, case):
    make, fps, message = BAD[case]
    (tmp_path / "in").mkdir()
    src = make(tmp_path / "in")
    before = {p: file_hash(p) for p in (tmp_path / "in").iterdir()}
    rate = ["--fps", "24"] if fps else []
    code, _, err = cli(capsys, "remaster", src, "-o", tmp_path / "o.mkv", *rate, *BICUBIC)
    assert code == 1
    assert_one_error(err, message)
    assert sorted(tmp_path.iterdir()) == [tmp_path / "in"]  # no output, no temporary
    assert {p: file_hash(p) for p in (tmp_path / "in").iterdir()} == before


class TestOutputs:
    def test_existing_frames_are_kept_unless_overwrite_which_replaces_the_sequence(self, capsys, tmp_path, dpx10):
        pattern, codes = dpx10
        out = tmp_path / "o_%02d.tif"
        old = [tmp_path / f"o_{n:02d}.tif" for n in (1, 20)]
        for path in old:
            path.write_bytes(b"precious")
        code, _, err = cli(capsys, "remaster", pattern, "-o", out, "--fps", "24", *BICUBIC)
        assert code == 1
        assert_one_error(err, "output frames exist: 2 of o_##.tif")
        assert all(p.read_bytes() == b"precious" for p in old)
        code, _, err = cli(capsys, "remaster", pattern, "-o", out, "--fps", "24", "--overwrite", *BICUBIC)
        assert code == 0, err
        assert sorted(p.name for p in tmp_path.glob("o_*")) == [f"o_{n:02d}.tif" for n in range(1, 9)]

    def test_the_input_frames_are_never_written_over(self, capsys, dpx10):
        pattern, _ = dpx10
        before = {p: file_hash(p) for p in pattern.parent.iterdir()}
        code, _, err = cli(capsys, "remaster", pattern.parent, "-o", pattern, "--fps", "24", "--overwrite", *BICUBIC)
        assert code == 1
        assert_one_error(err, "must not be the input")
        assert {p: file_hash(p) for p in pattern.parent.iterdir()} == before

    def test_a_codec_that_is_no_image_encoder_is_refused(self, capsys, tmp_path, dpx10):
        pattern, _ = dpx10
        code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o_%04d.tif", "--fps", "24",
                           "--codec", "ffv1", *BICUBIC)
        assert code == 1
        assert_one_error(err, "--codec ffv1 cannot write .tif frames")


class TestLeftovers:
    """A sequence's hidden folder follows io/atomic.py's rule for temporaries: claimed with a lock,
    a dead run's swept by the next run on the same output, a live run's left alone and refused."""

    def test_a_killed_runs_folder_is_swept(self, capsys, tmp_path, dpx10):
        pattern, _ = dpx10
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
        stale = tmp_path / f".o_####.partial-{dead}.tif"  # as a run killed half-way leaves it
        stale.mkdir()
        (stale / "00000000.tif").write_bytes(b"half a frame")
        other = tmp_path / f".p_####.partial-{dead}.tif"  # another output's: not this run's to judge
        other.mkdir()
        code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o_%04d.tif", "--fps", "24", *BICUBIC)
        assert code == 0, err
        assert not stale.exists() and other.is_dir()
        assert sorted(p.name for p in tmp_path.glob("o_*")) == [f"o_{n:04d}.tif" for n in range(1, 9)]

    def test_a_live_runs_folder_is_refused_and_kept(self, capsys, tmp_path, dpx10):
        pattern, _ = dpx10
        code = ("import sys, time; from pathlib import Path; from vidstyle.io.atomic import claim_output; "
                "claim = claim_output(Path(sys.argv[1]), folder=True); print(claim.tmp, flush=True); time.sleep(120)")
        holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "o_####.tif")], stdout=subprocess.PIPE,
                                  text=True)
        try:
            live = Path(holder.stdout.readline().strip())
            assert live.is_dir()
            status, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o_%04d.tif", "--fps", "24", *BICUBIC)
            assert status == 1
            assert_one_error(err, f"another vidstyle run (PID {holder.pid}) is writing")
            assert live.is_dir() and not list(tmp_path.glob("o_*"))
        finally:
            holder.kill()  # kill -9: its folder stays, unlocked
            holder.wait()
        status, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o_%04d.tif", "--fps", "24", *BICUBIC)
        assert status == 0, err
        assert not live.exists() and len(list(tmp_path.glob("o_*"))) == 8


def deep_and_eight(capsys, tmp_path: Path, count: int, *options: str) -> tuple[np.ndarray, np.ndarray]:
    """The same picture (:func:`panning_texture`) as 10-bit DPX and as 8-bit PNG, each remastered with
    ``options`` into 16-bit TIFF: the outputs (T, H, W, 3) uint16, of the 10-bit one first."""
    frames = panning_texture(count)
    (tmp_path / "dpx").mkdir()
    (tmp_path / "png").mkdir()
    write_sequence(tmp_path / "dpx" / "f_%04d.dpx", widen(np.round(frames / 255 * 1023)), "dpx", "gbrp10le")
    write_sequence(tmp_path / "png" / "f_%04d.png", frames, "png", "rgb24")
    outputs = {}
    for kind in ("dpx", "png"):
        code, _, err = cli(capsys, "remaster", tmp_path / kind, "-o", tmp_path / f"{kind}_%04d.tif", "--fps", "24",
                           *[option.replace("{kind}", kind) for option in options])
        assert code == 0, err
        outputs[kind] = read_sequence(tmp_path / f"{kind}_%04d.tif", 1)[0]
    return outputs["dpx"], outputs["png"]


def assert_deeper_and_the_same(deep: np.ndarray, eight: np.ndarray) -> None:
    """``deep`` holds more than 8 bits, and is ``eight``'s picture within rounding."""
    assert len(np.unique(deep)) > 4 * len(np.unique(to_8bit(deep)))  # not 8-bit values widened
    difference = np.abs(to_8bit(deep).astype(int) - to_8bit(eight).astype(int))
    assert difference.mean() < 0.5 and np.percentile(difference, 99) <= 2, (difference.mean(), difference.max())


class TestHighDepthStages:
    """The temporal stage and the other commands at 16 bits."""

    @pytest.mark.parametrize("temporal", ["reuse", "blend"])
    def test_temporal_stage_at_16_bits_matches_8_bits(self, capsys, tmp_path, temporal):
        """The same picture as 10-bit DPX and as 8-bit PNG, through remaster-x1 with feature reuse or
        blending: the 16-bit path gives the 8-bit path's picture, with more precision."""
        deep, eight = deep_and_eight(capsys, tmp_path, 8, "--scale", "1", "--temporal", temporal,
                                     "--report", str(tmp_path / "{kind}.json"), "-q")
        for kind in ("dpx", "png"):
            stats = json.loads((tmp_path / f"{kind}.json").read_text())["temporal"]
            assert stats["flow_failures"] == 0 and stats["keyframes"] == (2 if temporal == "reuse" else 1), stats
        assert_deeper_and_the_same(deep, eight)

    def test_look_and_grain_at_16_bits(self, capsys, tmp_path):
        """A look and grain on a 10-bit source keep its depth, and give the 8-bit picture within
        rounding."""
        deep, eight = deep_and_eight(capsys, tmp_path, 4, "--look", "sepia-toning", "--grain", "4",
                                     "--temporal", "off", *BICUBIC)
        assert_deeper_and_the_same(deep, eight)

    def test_tiles_at_16_bits_and_no_bf16(self, capsys, tmp_path, dpx10):
        pattern, codes = dpx10
        code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "t_%04d.dpx", "--fps", "24", "--tile", "32",
                           *BICUBIC)
        assert code == 0, err
        frames, _ = read_sequence(tmp_path / "t_%04d.dpx", 1)
        assert np.abs(frames / CODE - codes).max() <= 1.0  # tiles of a 1:1 resampler change nothing
        code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "b.mkv", "--fps", "24",
                           "--precision", "bf16", *BICUBIC)
        assert code == 1
        assert_one_error(err, "--precision bf16 keeps 8 significant bits, fewer than the source's 10")
        assert not (tmp_path / "b.mkv").exists()

    def test_a_pixel_format_of_the_image_encoder_is_taken(self, capsys, tmp_path, dpx10):
        # Checked before the work against the extension's encoder (DPX), not the default libx264.
        pattern, codes = dpx10
        code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o_%04d.dpx", "--fps", "24",
                           "--pix-fmt", "gbrp12le", *BICUBIC)
        assert code == 0, err
        frames, written = read_sequence(tmp_path / "o_%04d.dpx", 1)
        assert written == "gbrp12le" and np.abs(frames / CODE - codes).max() <= 1.0

    def test_a_damaged_frame_is_counted_and_concealed_at_16_bits(self, capsys, tmp_path, dpx10):
        pattern, codes = dpx10
        broken = find_sequence(pattern).frame_path(4)
        broken.write_bytes(broken.read_bytes()[:3000])  # a file cut short
        code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o_%04d.tif", "--fps", "24",
                           "--on-damage", "conceal", *BICUBIC)
        assert code == 0, err
        assert "1 failed to decode (repeated from a neighbour)" in err
        frames, _ = read_sequence(tmp_path / "o_%04d.tif", 1)
        assert len(frames) == 8
        assert np.abs(frames[3] / CODE - codes[2]).max() <= 1.0  # frame 4 is frame 3 again, at 16 bits
        assert np.abs(np.delete(frames, 3, axis=0) / CODE - np.delete(codes, 3, axis=0)).max() <= 1.0

    def test_repair_works_at_more_than_8_bits(self, capsys, tmp_path, dpx10):
        """The repair stage takes the 16-bit frames (it refused them once): noise has no specks,
        scratches or flicker to mend, so the codes come back as they went in."""
        pattern, codes = dpx10
        code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o_%04d.dpx", "--fps", "24",
                           "--repair", "auto", "--grade", "off", *BICUBIC)
        assert code == 0, err
        frames, written = read_sequence(tmp_path / "o_%04d.dpx", 1)
        assert written == "gbrp10le" and np.abs(frames / CODE - codes).max() <= 1.0

    def test_preview_and_degrade_read_a_sequence(self, capsys, tmp_path, dpx10):
        pattern, _ = dpx10
        code, out, err = cli(capsys, "preview", pattern.parent, "-o", tmp_path / "p.mp4", "--fps", "24",
                             "--frames", "4", "--temporal", "blend", *BICUBIC)
        assert code == 0, err
        assert probe(tmp_path / "p.mp4").frame_count == 4 and (tmp_path / "p.png").exists()
        code, _, err = cli(capsys, "degrade", pattern.parent, "-o", tmp_path / "d.mkv", "--fps", "24", "-q")
        assert code == 0, err
        assert probe(tmp_path / "d.mkv").frame_count == 8

    def test_fps_on_a_video_is_ignored_with_a_warning(self, capsys, tmp_path):
        clip = make_clip(tmp_path / "c.mp4", frames=6, audio=False)
        code, _, err = cli(capsys, "remaster", clip, "-o", tmp_path / "o.mkv", "--fps", "24", *BICUBIC)
        assert code == 0
        assert "--fps 24 is ignored: c.mp4 is a video file with its own rate (25 fps)" in err
        assert probe(tmp_path / "o.mkv").fps == 25

    def test_chunks_refuse_a_sequence(self, capsys, tmp_path, dpx10):
        pattern, _ = dpx10
        code, _, err = cli(capsys, "remaster", pattern, "-o", tmp_path / "o.mkv", "--fps", "24", "--chunks", "2",
                           *BICUBIC)
        assert code == 1
        assert_one_error(err, "an image sequence runs in one piece")


def test_batch_takes_a_folder_of_frames_as_one_film_and_resumes(capsys, tmp_path):
    archive = tmp_path / "archive"
    (archive / "scan1").mkdir(parents=True)
    make_clip(archive / "a.mp4", frames=10)
    _numbered(archive / "scan1", range(1, 7), prefix="scan1_")
    out = tmp_path / "hd"
    code, _, err = cli(capsys, "batch", archive, "-o", out, "--fps", "24", *BICUBIC)
    assert code == 0, err
    report = json.loads((out / "vidstyle-batch.json").read_text())
    assert report["counts"]["done"] == 2 and not report["skipped"]
    assert probe(out / "scan1" / "scan1.mkv").frame_count == 6 and probe(out / "a.mkv").frame_count == 10
    stamps = {p: p.stat().st_mtime_ns for p in (out / "a.mkv", out / "scan1" / "scan1.mkv")}
    # A frame changes: that film, and only that one, is done again.
    write_sequence(archive / "scan1" / "scan1_0003.png", np.zeros((1, H, W, 3), np.uint8), "png", "rgb24", first=3)
    code, _, err = cli(capsys, "batch", archive, "-o", out, "--fps", "24", "--resume", *BICUBIC)
    assert code == 0, err
    assert (out / "a.mkv").stat().st_mtime_ns == stamps[out / "a.mkv"]
    assert (out / "scan1" / "scan1.mkv").stat().st_mtime_ns != stamps[out / "scan1" / "scan1.mkv"]


def test_find_sequence_errors_are_typed(tmp_path):
    with pytest.raises(InputError, match="no numbered frames"):
        find_sequence(tmp_path)
    with pytest.raises(InputError, match="not an image sequence"):
        find_sequence(tmp_path / "x_%04d.jpg")
    with pytest.raises(SequenceError, match="no frame matches"):
        find_sequence(tmp_path / "x_%04d.png")
    (tmp_path / "100%done.mp4").write_bytes(b"")  # a video with a % in its name is a file
    with pytest.raises(InputError, match="not an image sequence"):
        find_sequence(tmp_path / "100%done.mp4")
