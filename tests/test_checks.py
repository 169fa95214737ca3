"""Everything is checked before the work: output paths, encoder options, seeds and ranges; and
batch and remaster say the same things.

Each bad option ends the command with one ``error:`` line before a frame is decoded: exit 2 for
a usage error (a malformed or contradictory option, an encoder option the encoder does not
know), 1 for a path that cannot be written; no file appears and the input is untouched.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import file_hash, make_clip

from vidstyle.batch import discover
from vidstyle.batch.manifest import MANIFEST_NAME, Manifest
from vidstyle.cli import run
from vidstyle.config import EncodeConfig
from vidstyle.degrade import degrade_video
from vidstyle.errors import ConfigError, EncodeError
from vidstyle.io.writer import check_encoder

FAST = ["--model", "bicubic", "--quiet"]


def cli(capsys, *args: object) -> tuple[int, str, str]:
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """8 frames in a folder of their own (a batch source)."""
    (tmp_path / "in").mkdir()
    return make_clip(tmp_path / "in" / "c.mp4", frames=8, audio=False)


def untouched(tmp_path: Path, clip: Path):
    """A check that the run left ``tmp_path`` as it was and did not change ``clip``."""
    listing, digest = sorted(tmp_path.rglob("*")), file_hash(clip)

    def check() -> None:
        assert sorted(tmp_path.rglob("*")) == listing
        assert file_hash(clip) == digest

    return check


class TestOutputPaths:
    @pytest.mark.parametrize("command", ["remaster", "preview", "degrade", "batch"])
    def test_report_in_a_missing_folder(self, capsys, tmp_path, clip, command):
        check = untouched(tmp_path, clip)
        out = tmp_path / ("hd" if command == "batch" else "o.mkv")
        extra = [] if command == "degrade" else FAST
        source = clip.parent if command == "batch" else clip
        code, _, err = cli(capsys, command, source, "-o", out, *extra, "--report", tmp_path / "no" / "r.json")
        assert code == 1
        assert "output folder does not exist" in one_error(err)
        check()  # refused before the work: no video left behind

    @pytest.mark.parametrize("target", ["input", "output"])
    def test_report_over_the_input_or_the_output(self, capsys, tmp_path, clip, target):
        check = untouched(tmp_path, clip)
        out = tmp_path / "o.mkv"
        report = clip if target == "input" else out
        code, _, err = cli(capsys, "remaster", clip, "-o", out, *FAST, "--report", report, "--overwrite")
        assert code == 1
        assert ("must not be the input" if target == "input" else "over the output") in one_error(err)
        check()

    def test_sheet_in_a_missing_folder(self, capsys, tmp_path, clip):
        check = untouched(tmp_path, clip)
        code, _, err = cli(capsys, "preview", clip, "-o", tmp_path / "p.mp4", "--sheet", tmp_path / "no" / "s.png",
                           *FAST)
        assert code == 1 and "output folder does not exist" in one_error(err)
        check()

    def test_an_unwritable_folder_reads_the_same_for_batch_and_remaster(self, capsys, tmp_path, clip):
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            if os.access(folder, os.W_OK):  # root writes anywhere: take a folder nobody can write to
                folder = Path("/proc/sys")
                if not folder.is_dir() or os.access(folder, os.W_OK):
                    pytest.skip("no folder here that this user cannot write to")
            code, _, err = cli(capsys, "remaster", clip, "-o", folder / "o.mkv", *FAST)
            assert code == 1 and f"output folder is not writable: {folder}" in one_error(err)
            code, _, err = cli(capsys, "batch", clip.parent, "-o", folder, *FAST)
            assert code == 1 and f"output folder is not writable: {folder}" in one_error(err)
        finally:
            (tmp_path / "locked").chmod(0o755)

    def test_batch_output_under_a_file(self, capsys, tmp_path, clip):
        (tmp_path / "notes.txt").write_text("a file, not a folder\n")
        code, _, err = cli(capsys, "batch", clip.parent, "-o", tmp_path / "notes.txt" / "hd", *FAST)
        assert code == 1 and "cannot make the output folder" in one_error(err)


class TestEncoderOptions:
    @pytest.mark.parametrize("args, message", [
        (["-x", "nosuchopt=1"], "libx264 has no option -x nosuchopt=1"),
        (["-x", "presett=fast"], "did you mean preset?"),
        (["-x", "preset=nonsense"], "libx264 refuses -x preset=nonsense"),
        (["--preset", "nonsense"], "libx264 refuses --preset nonsense"),
        (["--codec", "libx265", "-x", "x265-params=log-level=error", "-x", "bogus=2"], "libx265 has no option"),
    ])
    def test_refused_before_the_work(self, capsys, tmp_path, clip, args, message):
        check = untouched(tmp_path, clip)
        for command, out in (("remaster", tmp_path / "o.mkv"), ("batch", tmp_path / "hd")):
            source = clip.parent if command == "batch" else clip
            code, _, err = cli(capsys, command, source, "-o", out, *FAST, *args)
            assert code == 2 and message in one_error(err)
            assert "x264 [" not in err and "x265 [" not in err  # the encoders' own chatter is kept quiet
        check()

    def test_allowed_unknown_options_are_passed_on(self, capsys, tmp_path, clip):
        out = tmp_path / "o.mkv"
        code, _, err = cli(capsys, "remaster", clip, "-o", out, *FAST, "-x", "nosuchopt=1",
                           "--allow-unknown-encoder-options")
        assert code == 0 and out.is_file()
        assert "does not know -x nosuchopt=1" in err

    def test_library(self):
        assert check_encoder(EncodeConfig(options=(("tune", "grain"), ("g", "12")))) == []
        assert check_encoder(EncodeConfig(options=(("zz", "1"),)), allow_unknown=True) == ["-x zz=1"]
        with pytest.raises(ConfigError, match="has no option -x zz=1"):
            check_encoder(EncodeConfig(options=(("zz", "1"),)))

    def test_unknown_codec_names_a_few(self, capsys, tmp_path, clip):
        code, _, err = cli(capsys, "remaster", clip, "-o", tmp_path / "o.mkv", *FAST, "--codec", "libx246")
        line = one_error(err)
        assert code == 1 and "libx264" in line.partition("did you mean")[2].partition("?")[0]
        assert line.count(",") < 12  # a few names, not the ~120 encoders of the build
        code, _, err = cli(capsys, "remaster", clip, "-o", tmp_path / "o.mkv", *FAST, "--codec", "aac")
        assert code == 1 and "is an audio encoder" in one_error(err)
        with pytest.raises(EncodeError, match="common video encoders here: libx264"):
            check_encoder(EncodeConfig(codec="nope"))


class TestNumbers:
    @pytest.mark.parametrize("seed", ["-1", str(2**63), "x"])
    def test_degrade_seed(self, capsys, tmp_path, clip, seed):
        check = untouched(tmp_path, clip)
        code, _, err = cli(capsys, "degrade", clip, "-o", tmp_path / "o.mkv", "--seed", seed)
        assert code == 2 and "--seed" in one_error(err)
        check()

    def test_degrade_seed_library(self, tmp_path, clip):
        with pytest.raises(ConfigError, match="--seed must be an integer from 0"):
            degrade_video(clip, tmp_path / "o.mkv", seed=-1)
        assert not (tmp_path / "o.mkv").exists()

    @pytest.mark.parametrize("command, args, message", [
        ("remaster", ["--start", "0.2", "--end", "0.1"], "must come after"),
        ("degrade", ["--start", "f5", "--end", "f2"], "must come after"),
        ("preview", ["--frames", "0"], "--frames"),
        ("remaster", ["--batch-size", "0"], "--batch-size"),
        ("batch", ["--jobs", "0"], "--jobs"),
        ("batch", ["--chunk-seconds", "0"], "--chunk-seconds"),
    ])
    def test_ranges_and_sizes(self, capsys, tmp_path, clip, command, args, message):
        check = untouched(tmp_path, clip)
        source = clip.parent if command == "batch" else clip
        code, _, err = cli(capsys, command, source, "-o", tmp_path / "o.mkv", *args)
        assert code == 2 and message in one_error(err)
        check()


class TestBatchAndRemasterAgree:
    def test_batch_leaves_out_an_earlier_batchs_output(self, capsys, tmp_path):
        source = tmp_path / "reels"
        source.mkdir()
        make_clip(source / "a.mp4", frames=6, audio=False)
        earlier = source / "hd_old"  # an earlier `batch reels -o reels/hd_old`, with its outputs
        earlier.mkdir()
        make_clip(earlier / "a.mkv", frames=6, audio=False)
        with Manifest.open(earlier / MANIFEST_NAME):
            pass
        found = discover(source, tmp_path / "hd2")
        assert [job.name for job in found.jobs] == ["a.mp4"] and found.earlier_batches == [earlier]
        # (--report may go into the output folder the batch makes)
        code, out, err = cli(capsys, "batch", source, "-o", tmp_path / "hd2", "--model", "bicubic",
                             "--report", tmp_path / "hd2" / "report.json")
        assert code == 0, err
        assert f"left out: {earlier} (an earlier batch's output folder" in out
        assert not (tmp_path / "hd2" / "hd_old").exists() and (tmp_path / "hd2" / "report.json").is_file()

    def test_chunks_on_a_short_film_say_so(self, capsys, tmp_path):
        src = make_clip(tmp_path / "short.mp4", frames=20, gop=250, audio=False)  # one keyframe
        code, out, err = cli(capsys, "remaster", src, "-o", tmp_path / "o.mkv", "--chunks", "3", "--model", "bicubic")
        assert code == 0, err
        assert "20 frames in 1 segment," in out
        warnings = [line for line in err.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and "cut into 1 of the 3 segments asked" in warnings[0], err
        assert "keyframes at frames 0 of 20" in warnings[0]
