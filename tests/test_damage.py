"""Damaged sources (issue 19): real H.264 files with bytes overwritten or cut short, decoded by
the reader, remastered, batched; and exact frame counts from packets (``info --exact``).

What the reader reports is checked against what plain PyAV shows: the frames whose packets give
no picture, and the frames whose pixels differ from the clean file's.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import decode_all, file_hash, make_clip

from vidstyle import probe
from vidstyle.batch.manifest import MANIFEST_NAME, JobSpec, Manifest, read_status, settings_hash
from vidstyle.cli import run
from vidstyle.errors import SourceDamageError
from vidstyle.io.damage import StreamDamage, combine_damage, index_ranges, ranges_text
from vidstyle.io.reader import VideoReader
from vidstyle.io.remux import keyframe_indices

FAST = ["--model", "bicubic", "--scale", "1", "--quiet"]
SAMPLE_REEL = Path(__file__).resolve().parents[1] / "vidstyle" / "data" / "sample_reel.mp4"


# -- damaged files, and what plain PyAV shows of them ----------------------------------------------


def overwrite(src: Path, dst: Path, at: int, size: int = 200, seed: int = 1) -> Path:
    """A copy of ``src`` with ``size`` random bytes written over it from byte ``at``."""
    data = bytearray(src.read_bytes())
    data[at : at + size] = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def packet_position(path: Path, frame: int) -> int:
    """Byte offset of the video packet of frame ``frame`` (presentation order) in the file."""
    with av.open(str(path)) as container:
        packets = sorted((p.pts, p.pos) for p in container.demux(video=0) if p.pts is not None)
    return packets[frame][1]


def truncated(src: Path, dst: Path, keep: float = 0.6) -> Path:
    dst.write_bytes(src.read_bytes()[: int(src.stat().st_size * keep)])
    return dst


def faststart(src: Path, dst: Path) -> Path:
    """``src``'s video, stream-copied into an MP4 with its index at the front (so a cut copy opens)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst


def pictures_by_pts(path: Path) -> dict[int, np.ndarray]:
    """Every picture plain PyAV decodes, one thread, packet by packet, skipping refused packets."""
    pictures = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue
            pictures.update({f.pts: f.to_ndarray(format="rgb24") for f in frames})
    return pictures


def truth(clean: Path, damaged: Path) -> tuple[set[int], set[int]]:
    """(frames with no picture, frames whose picture differs from the clean file's), as indices."""
    good, bad = pictures_by_pts(clean), pictures_by_pts(damaged)
    order = sorted(good)
    missing = {i for i, pts in enumerate(order) if pts not in bad}
    differ = {i for i, pts in enumerate(order)
              if pts in bad and np.abs(good[pts].astype(int) - bad[pts]).max() > 2}
    return missing, differ


def read(path: Path, **kwargs) -> tuple[list[np.ndarray], list[int], VideoReader]:
    with VideoReader(path, batch_size=8, **kwargs) as reader:
        frames, pts = [], []
        for batch in reader:
            frames += list(batch.frames)
            pts += batch.pts.tolist()
    return frames, pts, reader


@pytest.fixture
def damaged(tmp_path: Path) -> tuple[Path, Path]:
    """(clean, damaged): 72 frames of H.264 at 64x48, a keyframe every 12; in the copy, 200 bytes
    overwritten from the start of frame 30's packet, in the middle of the file."""
    clean = make_clip(tmp_path / "clean.mp4", frames=72, gop=12, audio=False)
    return clean, overwrite(clean, tmp_path / "damaged.mp4", packet_position(clean, 30))


def cli(capsys, *args) -> tuple[int, str, str]:
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the reader ------------------------------------------------------------------------------------


class TestCounting:
    def test_the_issues_reel_67_of_132_frames(self, tmp_path):
        # The issue's case: 200 bytes in the middle of the sample reel (one keyframe, at frame 0).
        bad = overwrite(SAMPLE_REEL, tmp_path / "reel.mp4", SAMPLE_REEL.stat().st_size // 2)
        frames, _, reader = read(bad)
        stream = reader.damage.streams[0]
        _, differ = truth(SAMPLE_REEL, bad)
        assert len(frames) == stream.frames == 132
        assert set(stream.damaged) == differ and len(differ) == 67  # exactly the frames that look wrong
        assert stream.corrupt and not stream.lost and reader.damage.ended is None
        assert reader.damage.warnings() == [
            f"reel.mp4 is damaged: 67 of 132 frames of video stream #0 (frames {ranges_text(differ)}): "
            f"{len(stream.corrupt)} decoded with errors, {len(stream.affected)} predicted from a damaged frame"]

    def test_lost_and_damaged_frames_match_what_pyav_shows(self, damaged):
        clean, bad = damaged
        missing, differ = truth(clean, bad)
        assert missing, "the overwritten bytes should break a packet"
        frames, pts, reader = read(bad)
        stream = reader.damage.streams[0]
        assert set(stream.lost) == missing and stream.decode_errors >= 1
        assert len(frames) == 72 - len(missing) and stream.frames == 72
        assert missing | differ <= set(stream.damaged)  # nothing that looks wrong goes unreported
        # ... and no more than the frames from the first damage to the next keyframe are claimed.
        keyframes, _ = keyframe_indices(clean)
        first = min(missing | differ)
        next_key = min(k for k in keyframes if k > max(missing | differ))
        assert set(stream.damaged) <= set(range(first, next_key))
        _, clean_pts = decode_all(clean)
        assert pts == [p for i, p in enumerate(clean_pts) if i not in missing]  # the rest keep their time

    def test_conceal_repeats_the_frame_before_with_the_lost_frames_time(self, damaged):
        clean, bad = damaged
        frames, pts, reader = read(bad, on_damage="conceal")
        stream = reader.damage.streams[0]
        _, clean_pts = decode_all(clean)
        assert pts == clean_pts and len(frames) == 72
        assert stream.concealed == stream.lost and stream.lost
        for index in stream.lost:
            before = max(i for i in range(index) if i not in stream.lost)
            assert np.array_equal(frames[index], frames[before])

    def test_fail_raises_at_the_first_damage(self, damaged):
        with pytest.raises(SourceDamageError, match=r"damaged.mp4 is damaged: .*--on-damage fail"):
            read(damaged[1], on_damage="fail")

    def test_a_range_counts_only_its_own_frames(self, damaged):
        clean, bad = damaged
        _, _, whole = read(bad)
        _, _, before = read(bad, end="f24")  # the damage starts at frame 30
        _, _, after = read(bad, start="f24")
        assert not before.damage.damaged
        assert after.damage.streams[0].damaged == [i - 24 for i in whole.damage.streams[0].damaged]

    def test_sound_file_reports_nothing(self, damaged):
        _, _, reader = read(damaged[0], on_damage="fail")
        assert not reader.damage.damaged and reader.damage.warnings() == []
        assert reader.damage.to_dict()["damaged_frames"] == 0


class TestTruncated:
    def test_mp4_cut_at_60_percent_keeps_what_decodes_and_says_where_it_ends(self, tmp_path):
        clean = faststart(make_clip(tmp_path / "c.mp4", frames=72, gop=12, audio=False), tmp_path / "fs.mp4")
        cut = truncated(clean, tmp_path / "cut.mp4")
        pictures = pictures_by_pts(cut)
        frames, pts, reader = read(cut)
        end = reader.damage.ended
        assert reader.truncated and end is not None and end.expected_frames == 72
        assert len(frames) == len(pictures) and 0 < end.frames < 72
        assert end.seconds == pytest.approx((end.frames) / 25)  # the end of its last frame
        assert "cut.mp4 ends early, after frame" in reader.damage.warnings()[-1]
        frames, pts, reader = read(cut, on_damage="conceal")
        assert len(frames) == reader.damage.ended.frames  # the broken last packets repeated

    def test_matroska_cut_says_its_track_should_last_longer(self, tmp_path):
        clean = make_clip(tmp_path / "c.mkv", frames=72, gop=12, audio=False)
        frames, _, reader = read(truncated(clean, tmp_path / "cut.mkv"))
        end = reader.damage.ended
        assert end is not None and end.expected_seconds == pytest.approx(2.88)
        assert end.frames == len(frames) < 72 and end.seconds == pytest.approx(len(frames) / 25)

    def test_fail(self, tmp_path):
        clean = make_clip(tmp_path / "c.mkv", frames=72, gop=12, audio=False)
        with pytest.raises(SourceDamageError, match="ends early"):
            read(truncated(clean, tmp_path / "cut.mkv"), on_damage="fail")


class TestReports:
    def test_index_ranges_and_text(self):
        assert index_ranges([9, 3, 4, 5, 4]) == [[3, 5], [9, 9]]
        assert ranges_text([1, 2, 3, 7, 9, 10, 12, 20], most=3) == "1-3, 7, 9-10 and 2 more"

    def test_segments_combine_into_the_films_numbering(self):
        whole = StreamDamage(0, frames=20, lost=[9], corrupt=[8], affected=[10, 11, 14])
        # Two segments of 10 frames, the second decoded from frame 8 (2 warm-up frames).
        first = StreamDamage(0, frames=10, lost=[9], corrupt=[8])
        second = StreamDamage(0, frames=12, lost=[1], corrupt=[0], affected=[2, 3, 6])
        parts = [{"streams": [first.clipped(0, 0).to_dict()]}, {"streams": [second.clipped(2, 8).to_dict()]}]
        joined = combine_damage(parts, "film.mkv", frames=20).streams[0]
        assert (joined.lost, joined.corrupt, joined.affected) == ([9], [8], [10, 11, 14])
        assert joined.damaged == whole.damaged and joined.frames == 20


# -- the commands ----------------------------------------------------------------------------------


class TestRemaster:
    def test_warn_reports_the_damaged_frames(self, capsys, damaged, tmp_path):
        """The issue's target, for remaster: the damaged frame count in the report."""
        clean, bad = damaged
        before = file_hash(bad)
        out, report = tmp_path / "out.mp4", tmp_path / "r.json"
        code, _, err = cli(capsys, "remaster", bad, "-o", out, "--report", report, *FAST)
        assert code == 0 and file_hash(bad) == before
        missing, differ = truth(clean, bad)
        damage = json.loads(report.read_text())["damage"]
        stream = damage["streams"][0]
        assert damage["damaged"] and damage["on_damage"] == "warn"
        assert damage["damaged_frames"] == stream["damaged_frames"] >= len(missing | differ) > 0
        assert index_ranges(missing) == stream["lost"]
        warnings = [line for line in err.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and f"{stream['damaged_frames']} of 72 frames of video stream #0" in warnings[0]
        assert keyframe_indices(out)[1] == 72 - len(missing)  # left out, the rest on their own times

    def test_conceal_keeps_count_and_timing(self, capsys, damaged, tmp_path):
        clean, bad = damaged
        out = tmp_path / "out.mkv"
        assert cli(capsys, "remaster", bad, "-o", out, "--on-damage", "conceal", *FAST)[0] == 0
        seconds = [float(p * probe(clean).time_base) for p in decode_all(clean)[1]]
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            got = sorted(float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None)
        assert got == pytest.approx(seconds, abs=1e-3)

    def test_fail_writes_nothing(self, capsys, damaged, tmp_path):
        _, bad = damaged
        before = sorted(tmp_path.iterdir())
        code, _, err = cli(capsys, "remaster", bad, "-o", tmp_path / "out.mp4", "--on-damage", "fail", *FAST)
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 1 and len(errors) == 1 and "--on-damage fail" in errors[0] and "Traceback" not in err
        assert sorted(tmp_path.iterdir()) == before

    def test_preview_fail_and_warn(self, capsys, damaged, tmp_path):
        _, bad = damaged
        code, _, err = cli(capsys, "preview", bad, "-o", tmp_path / "p.mp4", "--start", "f24", "--frames", "16",
                           "--on-damage", "fail", *FAST)
        assert code == 1 and "is damaged" in err and not list(tmp_path.glob("p*"))
        code, _, err = cli(capsys, "preview", bad, "-o", tmp_path / "p.mp4", "--start", "f24", "--frames", "16",
                           "--report", tmp_path / "p.json", *FAST)
        assert code == 0 and "warning: damaged.mp4 is damaged" in err
        assert json.loads((tmp_path / "p.json").read_text())["damage"]["damaged_frames"] > 0

    def test_chunks_report_the_damage_of_the_whole_film(self, capsys, damaged, tmp_path):
        _, bad = damaged
        whole, chunked = tmp_path / "whole.json", tmp_path / "chunked.json"
        for out, report, extra in ((tmp_path / "a.mkv", whole, []), (tmp_path / "b.mkv", chunked, ["--chunks", "3"])):
            assert cli(capsys, "remaster", bad, "-o", out, "--on-damage", "conceal", "--report", report,
                       *extra, *FAST)[0] == 0
        assert keyframe_indices(tmp_path / "b.mkv")[1] == 72
        damage = json.loads(chunked.read_text())["damage"]["streams"][0]
        expected = json.loads(whole.read_text())["damage"]["streams"][0]
        assert {k: damage[k] for k in ("lost", "corrupt", "damaged", "concealed", "frames")} == \
               {k: expected[k] for k in ("lost", "corrupt", "damaged", "concealed", "frames")}


@pytest.fixture
def reels(damaged, tmp_path: Path) -> Path:
    """A folder of two films: sound.mp4, and torn.mp4 (the damaged copy)."""
    clean, bad = damaged
    folder = tmp_path / "reels"
    folder.mkdir()
    shutil.copy(clean, folder / "sound.mp4")
    shutil.copy(bad, folder / "torn.mp4")
    return folder


class TestBatch:
    def test_status_lists_the_film_done_with_damage(self, capsys, reels, tmp_path):
        """The issue's target, for batch: the damaged frame count in --status."""
        out = tmp_path / "hd"
        assert cli(capsys, "batch", reels, "-o", out, *FAST)[0] == 0
        report = json.loads((out / "vidstyle-batch.json").read_text())
        rows = {Path(r["input"]).name: r for r in report["jobs"]}
        assert report["counts"]["done"] == 2 and report["damaged"] == 1
        assert rows["sound.mp4"]["damage"] is None
        count = rows["torn.mp4"]["damage"]["damaged_frames"]
        assert count == read(reels / "torn.mp4")[2].damage.damaged_frames > 0
        assert rows["torn.mp4"]["expected_frames"] == 72

        code, text, _ = cli(capsys, "batch", reels, "-o", out, "--status")
        assert code == 0
        line = next(line for line in text.splitlines() if line.startswith("torn.mp4"))
        assert "damaged" in line and f"{count} damaged frames" in line
        assert "2 done (1 with damage), 0 failed" in text

    def test_fail_fails_the_film_without_retrying_and_goes_on(self, capsys, reels, tmp_path):
        out = tmp_path / "hd"
        assert cli(capsys, "batch", reels, "-o", out, "--on-damage", "fail", "--retries", "2", *FAST)[0] == 1
        rows = {Path(r.input).name: r for r in read_status(out)}
        assert rows["sound.mp4"].state == "done"
        assert rows["torn.mp4"].state == "failed" and rows["torn.mp4"].attempts == 1
        assert "--on-damage fail" in rows["torn.mp4"].error and not (out / "torn.mkv").exists()

    def test_exact_counts_where_the_container_lists_none(self, capsys, tmp_path):
        # A 12-frame VFR Matroska file (which lists no count: plain `info` counts a stream this short
        # from its first packets as well), and an MP4, whose count the container lists.
        reels = tmp_path / "reels"
        reels.mkdir()
        vfr = make_clip(reels / "vfr.mkv", pts=[0, 40, 80, 200, 220, 240, 400, 440, 480, 520, 700, 720],
                        time_base=Fraction(1, 1000), audio=False)
        make_clip(reels / "cfr.mp4", frames=20, audio=False)
        short = json.loads(cli(capsys, "info", vfr, "--json")[1])
        assert (short["frame_count"], short["frame_count_exact"], short["frame_count_source"]) == (12, True, "packets")
        listed = json.loads(cli(capsys, "info", reels / "cfr.mp4", "--json")[1])
        assert (listed["frame_count"], listed["frame_count_source"]) == (20, "container")
        code, text, _ = cli(capsys, "info", vfr, "--exact")
        assert code == 0 and "frames      12 (counted from its packets)" in text
        info = json.loads(cli(capsys, "info", reels / "cfr.mp4", "--exact", "--json")[1])
        assert (info["frame_count"], info["frame_count_source"]) == (20, "packets")

        out = tmp_path / "hd"
        assert cli(capsys, "batch", reels, "-o", out, *FAST)[0] == 0
        rows = {Path(r.input).name: r for r in read_status(out)}
        assert (rows["vfr.mkv"].state, rows["vfr.mkv"].expected_frames, rows["vfr.mkv"].frames) == ("done", 12, 12)
        assert (rows["cfr.mp4"].state, rows["cfr.mp4"].expected_frames, rows["cfr.mp4"].frames) == ("done", 20, 20)
        assert keyframe_indices(out / "vfr.mkv")[1] == 12


class TestManifestVersion1:
    """Manifests written before damage was counted (schema 1) stay readable, and are brought up to date."""

    def version_1(self, path: Path) -> None:
        film = JobSpec(Path("/films/a.mov"), Path("/out/a.mkv"), "a.mov", 1000, 5, settings_hash({}), 250)
        with Manifest.open(path) as manifest:
            (job_id,) = manifest.sync([film]).ids
            manifest.start_job(job_id)
            manifest.finish_job(job_id, frames=250, seconds=1.0)
        with sqlite3.connect(path) as db:
            db.execute("ALTER TABLE jobs DROP COLUMN damage")
            db.execute("ALTER TABLE segments DROP COLUMN damage")
            db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        db.close()

    def test_status_reads_it_as_it_is(self, tmp_path):
        path = tmp_path / MANIFEST_NAME
        self.version_1(path)
        before = file_hash(path)
        (row,) = read_status(tmp_path)
        assert (row.state, row.frames, row.damage) == ("done", 250, None)
        assert file_hash(path) == before

    def test_a_run_migrates_it_and_keeps_its_rows(self, tmp_path):
        path = tmp_path / MANIFEST_NAME
        self.version_1(path)
        with Manifest.open(path) as manifest:
            (row,) = manifest.jobs()
            manifest.finish_job(row.id, frames=240, seconds=1.0, damage={"damaged": True})
            (row,) = manifest.jobs()
        assert (row.state, row.frames, json.loads(row.damage)) == ("done", 240, {"damaged": True})
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
        db.close()
