"""The command line: success paths, and one clear `error:` line for each kind of bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import assert_one_error, cli, file_hash, make_audio_only, make_clip

from vidstyle import probe


class TestCommands:
    def test_remaster_with_report(self, capsys, clip, tmp_path):
        dst, report = tmp_path / "hd.mkv", tmp_path / "report.json"
        code, out, err = cli(capsys, "remaster", clip, "-o", dst, "--scale", "2", "--report", report, "-q")
        assert code == 0, err
        assert probe(dst).width == 128
        data = json.loads(report.read_text())
        assert data["frames"] == 30 and data["input"] == str(clip) and data["output"] == str(dst)
        assert data["fps"] > 0 and data["seconds"] > 0 and data["settings"]["scale"] == 2
        assert out == ""  # --quiet

    def test_remaster_range_codec_options(self, capsys, clip, tmp_path):
        dst = tmp_path / "part.mp4"
        code, out, err = cli(
            capsys, "remaster", clip, "-o", dst, "--start", "00:00:00.200", "--end", "00:00:00.800",
            "--codec", "libx265", "--crf", "24", "--preset", "ultrafast", "-x", "x265-params=log-level=error",
        )
        assert code == 0, err
        assert "wrote" in out and "15 frames" in out
        assert probe(dst).codec == "hevc" and probe(dst).frame_count == 15

    def test_info_json(self, capsys, clip):
        code, out, _ = cli(capsys, "info", clip, "--json")
        data = json.loads(out)
        assert code == 0 and data["width"] == 64 and data["frame_count"] == 30 and data["audio"][0]["codec"] == "aac"
        code, out, _ = cli(capsys, "info", clip)
        assert code == 0 and "64x48" in out

    def test_models(self, capsys):
        code, out, _ = cli(capsys, "models", "--json")
        assert code == 0 and {m["name"] for m in json.loads(out)} >= {"bicubic", "lanczos"}

    def test_preview(self, capsys, clip, tmp_path):
        dst = tmp_path / "try.mp4"
        code, out, err = cli(capsys, "preview", clip, "--start", "f5", "--frames", "8", "-o", dst, "-q")
        assert code == 0, err
        assert (tmp_path / "try.png").is_file() and probe(dst).width == 256
        assert "fps" in out and "30 frames in about" in out

    def test_help_teaches(self, capsys):
        code, out, _ = cli(capsys, "remaster", "--help")
        assert code == 0 and "--start" in out and "f1200" in out and "--overwrite" in out

    def test_python_m_entry_point(self, clip):
        proc = subprocess.run([sys.executable, "-m", "vidstyle", "info", str(clip)], capture_output=True, text=True)
        assert proc.returncode == 0 and "64x48" in proc.stdout


def _zero_frame_video(path: Path) -> Path:
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    out.start_encoding()
    out.close()
    return path


def _truncated(path: Path) -> Path:
    full = make_clip(path.with_name("full.mp4"), frames=50)
    data = full.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.3)])
    full.unlink()
    return path


BAD_INPUTS = {
    # name: (make input, extra args, output name, expected message part, exit codes)
    "missing": (lambda d: d / "nope.mp4", [], "o.mp4", "input not found", {1}),
    "directory": (lambda d: (d / "folder").mkdir() or d / "folder", [], "o.mp4", "is a directory", {1}),
    "empty": (lambda d: (d / "e.mp4").write_bytes(b"") and None or d / "e.mp4", [], "o.mp4", "empty", {1}),
    "text": (lambda d: (d / "t.mp4").write_text("not a video\n" * 50) and d / "t.mp4", [], "o.mp4", "cannot open", {1}),
    "truncated": (lambda d: _truncated(d / "cut.mp4"), [], "o.mp4", "cut.mp4", {1}),
    "audio only": (lambda d: make_audio_only(d / "a.m4a"), [], "o.mp4", "no video stream", {1}),
    "zero frames": (lambda d: _zero_frame_video(d / "z.mp4"), [], "o.mp4", "no video stream with frames", {1}),
    "odd size 420": (
        lambda d: make_clip(d / "odd.mkv", width=177, height=143, pix_fmt="yuv444p", audio=False),
        ["--scale", "1", "--model", "bicubic"], "o.mp4", "even width and height", {1},
    ),
    "start after end": (lambda d: make_clip(d / "c.mp4"), ["--start", "00:00:09"], "o.mp4", "after the end", {1}),
    "end before start": (  # a usage error: the options contradict each other, whatever the file
        lambda d: make_clip(d / "c.mp4"), ["--start", "0.8", "--end", "0.4"], "o.mp4", "must come after", {2},
    ),
    "malformed timecode": (lambda d: make_clip(d / "c.mp4"), ["--start", "1:2:3:4"], "o.mp4", "malformed", {2}),
    "missing folder": (lambda d: make_clip(d / "c.mp4"), [], "no/such/dir/o.mp4", "output folder does not exist", {1}),
    "unknown codec": (lambda d: make_clip(d / "c.mp4"), ["--codec", "nope264"], "o.mp4", "libx264", {1}),
    "unknown pix fmt": (lambda d: make_clip(d / "c.mp4"), ["--pix-fmt", "yuv999p"], "o.mp4", "yuv420p", {1}),
    "unknown model": (lambda d: make_clip(d / "c.mp4"), ["--model", "magic"], "o.mp4", "known models", {1}),
    "bad -x": (lambda d: make_clip(d / "c.mp4"), ["-x", "novalue"], "o.mp4", "key=value", {2}),
    "bad scale": (lambda d: make_clip(d / "c.mp4"), ["--scale", "3"], "o.mp4", "--scale", {2}),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_one_error_line(capsys, tmp_path, case):
    make, extra, out_name, message, codes = BAD_INPUTS[case]
    src = make(tmp_path)
    before = file_hash(src) if src.is_file() else None
    listing = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = cli(capsys, "remaster", src, "-o", tmp_path / out_name, *extra)
    assert code in codes, (code, err)
    assert_one_error(err, message)
    if before is not None:
        assert file_hash(src) == before  # the input is never modified
    assert sorted(p.name for p in tmp_path.rglob("*")) == listing  # no output, no temp file


def test_output_equal_to_input_refused(capsys, clip):
    before = file_hash(clip)
    code, _, err = cli(capsys, "remaster", clip, "-o", clip, "--overwrite")
    assert code == 1
    assert_one_error(err, "must not be the input")
    assert file_hash(clip) == before


def test_existing_output_kept(capsys, clip, tmp_path):
    dst = tmp_path / "o.mp4"
    dst.write_bytes(b"precious")
    code, _, err = cli(capsys, "remaster", clip, "-o", dst)
    assert code == 1
    assert_one_error(err, "--overwrite")
    assert dst.read_bytes() == b"precious"
    code, _, err = cli(capsys, "remaster", clip, "-o", dst, "--overwrite", "-q")
    assert code == 0 and probe(dst).frame_count == 30


def test_ctrl_c_leaves_no_output(tmp_path):
    src = make_clip(tmp_path / "long.mp4", frames=300, width=320, height=240, audio=False)
    dst = tmp_path / "out.mkv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidstyle", "remaster", str(src), "-o", str(dst), "--scale", "4",
         "--model", "lanczos", "--preset", "slow"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A test run started in the background (`cmd &` in a script) ignores SIGINT, and a child
        # would inherit that: give the child the default disposition, as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.partial-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]


class TestDegrade:
    def test_degrade_downscales_keeps_sound_and_is_seeded(self, capsys, tmp_path):
        src = make_clip(tmp_path / "clean.mp4", frames=20, width=96, height=64)
        a, b, c = tmp_path / "a.mkv", tmp_path / "b.mkv", tmp_path / "c.mkv"
        for dst, seed in ((a, 7), (b, 7), (c, 8)):
            code, _, err = cli(capsys, "degrade", src, "-o", dst, "--seed", str(seed), "--downscale", "2", "-q",
                               "--crf", "0")
            assert code == 0, err
        info = probe(a)
        assert (info.width, info.height) == (48, 32) and info.frame_count == 20 and info.audio
        from conftest import decode_all

        fa, fb, fc = (np.stack(decode_all(p)[0]) for p in (a, b, c))
        assert np.array_equal(fa, fb)  # same seed, same damage
        assert np.abs(fa.astype(int) - fc.astype(int)).mean() > 1  # another seed, other damage

    def test_degrade_indivisible_size(self, capsys, tmp_path):
        src = make_clip(tmp_path / "odd.mkv", width=66, height=50, audio=False)
        before = file_hash(src)
        code, _, err = cli(capsys, "degrade", src, "-o", tmp_path / "o.mkv", "--scale", "4")
        assert code == 1
        assert_one_error(err, "divisible by 4")
        assert not (tmp_path / "o.mkv").exists()
        assert file_hash(src) == before and sorted(p.name for p in tmp_path.iterdir()) == ["odd.mkv"]
