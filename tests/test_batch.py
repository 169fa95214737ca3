"""vidstyle batch: whole folders, crash-safe resume, chunked films, the local and Ray backends.

Real clips, real worker processes, a real SQLite manifest and a real (local) Ray. The crash
tests kill the batch with SIGKILL from outside, while a film or a segment is being written, and
at the moments between a file appearing and the manifest recording it (``VIDSTYLE_TEST_CRASH``).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
import torch
from conftest import decode_all, file_hash, make_clip

from vidstyle import RemasterConfig
from vidstyle.batch import BatchConfig, discover, run_batch
from vidstyle.cli import run
from vidstyle.io.remux import keyframe_indices

FAST = ["--model", "bicubic", "--quiet"]


def frame_count(path: Path) -> int:
    return keyframe_indices(path)[1]


def temporaries(folder: Path) -> list[Path]:
    """Temporary files anywhere under ``folder`` (the lock file is not one)."""
    return sorted(p for p in folder.rglob("*") if ".partial-" in p.name)


def manifest_rows(out: Path) -> dict[str, dict]:
    with sqlite3.connect(out / "vidstyle-batch.sqlite") as db:
        db.row_factory = sqlite3.Row
        return {Path(r["input"]).name: dict(r) for r in db.execute("SELECT * FROM jobs")}


def assert_done_means_valid(out: Path) -> None:
    """No film is marked done without an output that opens with its input's frame count."""
    for name, row in manifest_rows(out).items():
        if row["state"] == "done":
            assert frame_count(Path(row["output"])) == frame_count(Path(row["input"])), name


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """reels/a.mp4 (with sound), reels/sub/b.mkv, and a text file that is no film."""
    reels = tmp_path / "reels"
    (reels / "sub").mkdir(parents=True)
    make_clip(reels / "a.mp4", frames=40, width=64, height=48)
    make_clip(reels / "sub" / "b.mkv", frames=30, width=48, height=32, audio=False)
    (reels / "notes.txt").write_text("reel notes\n")
    return reels


def cli(*args: str) -> int:
    return run([str(a) for a in args])


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``vidstyle ARGS`` in a process group of its own (so that a kill reaches its workers too), with
    Ctrl-C's default action: a suite started in the background (``nohup ... &``) inherits SIGINT
    ignored, and vidstyle keeps an ignored signal ignored, as it should under nohup."""
    return subprocess.Popen([sys.executable, "-m", "vidstyle", *map(str, args)], start_new_session=True,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


class TestBatch:
    def test_folder_end_to_end_then_resume_does_nothing_again(self, archive, tmp_path, capsys):
        out = tmp_path / "hd"
        inputs = {p: file_hash(p) for p in archive.rglob("*") if p.is_file()}
        assert cli("batch", archive, "-o", out, "--jobs", "2", *FAST) == 0
        assert {p: file_hash(p) for p in archive.rglob("*") if p.is_file()} == inputs  # untouched
        a, b = out / "a.mkv", out / "sub" / "b.mkv"
        assert frame_count(a) == 40 and frame_count(b) == 30
        with av.open(str(a)) as c:
            assert c.streams.video[0].height == 96 and len(c.streams.audio) == 1
        report = json.loads((out / "vidstyle-batch.json").read_text())
        assert report["counts"] == {"done": 2, "failed": 0, "pending": 0, "running": 0}
        assert any(s.endswith("notes.txt") for s in report["skipped"])
        assert not temporaries(out) and not (out / ".vidstyle-work").exists()
        stamps = {p: p.stat().st_mtime_ns for p in (a, b)}

        assert cli("batch", archive, "-o", out, *FAST) == 1
        assert "holds a batch already" in capsys.readouterr().err
        assert cli("batch", archive, "-o", out, "--resume", *FAST) == 0
        assert {p: p.stat().st_mtime_ns for p in (a, b)} == stamps
        assert all(r["attempts"] == 1 for r in manifest_rows(out).values())

    def test_status(self, archive, tmp_path, capsys):
        out = tmp_path / "hd"
        assert cli("batch", archive, "-o", out, *FAST) == 0
        capsys.readouterr()
        assert cli("batch", archive, "-o", out, "--status") == 0
        text = capsys.readouterr().out
        assert "a.mp4" in text and "2 done, 0 failed, 0 pending" in text

    def test_a_bad_file_fails_its_film_not_the_batch(self, archive, tmp_path, capsys):
        (archive / "broken.mp4").write_bytes(b"\x00\x01 not a film" * 100)
        out = tmp_path / "hd"
        assert cli("batch", archive, "-o", out, "--retries", "0", *FAST) == 1
        assert "1 of 3 film(s) failed" in capsys.readouterr().err
        rows = manifest_rows(out)
        assert rows["broken.mp4"]["state"] == "failed" and rows["broken.mp4"]["error"]
        assert rows["a.mp4"]["state"] == rows["b.mkv"]["state"] == "done"
        assert not (out / "broken.mkv").exists() and not temporaries(out)

    def test_changed_settings_or_input_make_films_pending_again(self, archive, tmp_path):
        out = tmp_path / "hd"
        assert cli("batch", archive, "-o", out, *FAST) == 0
        first = {k: v["attempts"] for k, v in manifest_rows(out).items()}
        assert cli("batch", archive, "-o", out, "--resume", "--crf", "30", *FAST) == 0
        assert {k: v["state"] for k, v in manifest_rows(out).items()} == {"a.mp4": "done", "b.mkv": "done"}
        assert all(v["finished"] > 0 for v in manifest_rows(out).values())
        # A changed input: only that film is done again.
        make_clip(archive / "sub" / "b.mkv", frames=20, width=48, height=32, audio=False)
        a_stamp = (out / "a.mkv").stat().st_mtime_ns
        assert cli("batch", archive, "-o", out, "--resume", "--crf", "30", *FAST) == 0
        assert frame_count(out / "sub" / "b.mkv") == 20
        assert (out / "a.mkv").stat().st_mtime_ns == a_stamp
        assert first == {"a.mp4": 1, "b.mkv": 1}


    def test_a_dead_worker_fails_its_film_and_the_batch_goes_on(self, archive, tmp_path):
        out = tmp_path / "hd"
        args = [sys.executable, "-m", "vidstyle", "batch", str(archive), "-o", str(out), "--jobs", "2", *FAST]
        result = subprocess.run(args, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "VIDSTYLE_TEST_CRASH": "worker"})
        assert result.returncode == 1 and "Traceback" not in result.stderr
        rows = manifest_rows(out)
        assert {r["state"] for r in rows.values()} == {"failed"}
        assert all("worker process died" in r["error"] and r["attempts"] == 2 for r in rows.values())
        assert not temporaries(out)
        # Once the workers live, a resumed batch does them.
        assert subprocess.run([*args, "--resume"], capture_output=True, timeout=300).returncode == 0
        assert {r["state"] for r in manifest_rows(out).values()} == {"done"}

    def test_progress_counts_each_frame_once(self, archive, tmp_path):
        out = tmp_path / "hd"
        found = discover(archive, out)
        seen: list[tuple[int, int]] = []
        report = run_batch(found.jobs, out, RemasterConfig(model="bicubic"), BatchConfig(jobs=2, chunks=2),
                           progress=lambda done, total: seen.append((done, total)))
        assert report.counts["done"] == 2
        assert seen[-1] == (70, 70)
        assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:])) and all(d <= t for d, t in seen)


class TestCrashAndResume:
    """Kill -9 at several points, then --resume: everything valid, each film done exactly once."""

    def resume_and_check(self, archive: Path, out: Path, extra: list[str], kept: dict[Path, int]) -> None:
        assert_done_means_valid(out)
        result = subprocess.run([sys.executable, "-m", "vidstyle", "batch", str(archive), "-o", str(out),
                                 "--resume", "--quiet", *extra], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert not temporaries(out), temporaries(out)
        assert not (out / ".vidstyle-work").exists()
        for name, row in manifest_rows(out).items():
            assert row["state"] == "done", (name, row)
            assert frame_count(Path(row["output"])) == frame_count(Path(row["input"]))
        # Outputs complete before the kill were not made again.
        for path, stamp in kept.items():
            assert path.stat().st_ino == stamp, f"{path} was made twice"

    def complete_outputs(self, out: Path) -> dict[Path, int]:
        return {p: p.stat().st_ino for p in out.rglob("*.mkv") if ".partial-" not in p.name
                and ".vidstyle-work" not in p.parts}

    def kill_when(self, args: list, predicate, sig: int = signal.SIGKILL) -> subprocess.Popen:
        """Start ``vidstyle ARGS``, wait for ``predicate``, then send ``sig`` to it and its workers."""
        proc = spawn(*args)
        wait_for(predicate)
        os.killpg(proc.pid, sig)
        return proc

    def test_kill_while_a_film_is_written(self, archive, tmp_path):
        make_clip(archive / "long.mp4", frames=300, width=96, height=64)
        out, model = tmp_path / "hd", ["--model", "remaster-x2"]
        self.kill_when(["batch", archive, "-o", out, *model, "--quiet"],
                       lambda: any(".partial-" in p.name for p in out.rglob(".long*"))).wait()
        self.resume_and_check(archive, out, model, self.complete_outputs(out))

    def test_kill_while_a_segment_is_written(self, archive, tmp_path):
        out, args = tmp_path / "hd", ["--chunks", "3", "--model", "remaster-x2"]
        work = out / ".vidstyle-work"
        self.kill_when(["batch", archive, "-o", out, *args, "--quiet"],
                       lambda: work.is_dir() and any(".partial-" in p.name for p in work.rglob("*"))).wait()
        self.resume_and_check(archive, out, args, self.complete_outputs(out))

    @pytest.mark.parametrize("point", ["unit-done", "join", "joined"])
    def test_kill_between_a_file_and_its_record(self, archive, tmp_path, point):
        out = tmp_path / "hd"
        args = ["batch", archive, "-o", out, "--chunks", "2", *FAST]
        result = subprocess.run([sys.executable, "-m", "vidstyle", *map(str, args)], capture_output=True,
                                env={**os.environ, "VIDSTYLE_TEST_CRASH": point}, timeout=300)
        assert result.returncode == -signal.SIGKILL
        kept = self.complete_outputs(out)
        if point == "joined":
            assert kept, "the joined film should be in place, unrecorded"
        self.resume_and_check(archive, out, ["--chunks", "2", "--model", "bicubic"], kept)
        # No segment was rendered twice either (the one renamed but unrecorded was checked and kept).
        with sqlite3.connect(out / "vidstyle-batch.sqlite") as db:
            attempts = [a for (a,) in db.execute("SELECT attempts FROM segments")]
        assert attempts and set(attempts) == {1}

    def test_an_older_output_is_not_taken_for_an_interrupted_one(self, archive, tmp_path):
        """Done with one setting, then killed while redoing it with another: the old file stays
        in place through the crash, and must not pass for the new one on --resume. The film is rendered twice
        whole: 100 frames of remaster-x2 still take seconds to write, time enough to kill it mid-write."""
        make_clip(archive / "long.mp4", frames=100, width=96, height=64)
        out, model = tmp_path / "hd", ["--model", "remaster-x2"]
        assert cli("batch", archive, "-o", out, *model, "--quiet") == 0
        old = (out / "long.mkv").stat().st_ino
        self.kill_when(["batch", archive, "-o", out, "--resume", "--crf", "30", *model, "--quiet"],
                       lambda: any(".partial-" in p.name for p in out.rglob(".long*"))).wait()
        assert (out / "long.mkv").stat().st_ino == old  # the old output is still there
        self.resume_and_check(archive, out, ["--crf", "30", *model], {})
        assert (out / "long.mkv").stat().st_ino != old

    def test_ctrl_c_abandons_cleanly(self, archive, tmp_path):
        make_clip(archive / "long.mp4", frames=300, width=96, height=64)
        out = tmp_path / "hd"
        proc = self.kill_when(["batch", archive, "-o", out, "--model", "remaster-x2", "--quiet"],
                              lambda: any(".partial-" in p.name for p in out.rglob(".long*")), signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "--resume" in err and "Traceback" not in err
        assert not temporaries(out)
        assert all(r["state"] in ("done", "pending") for r in manifest_rows(out).values())
        self.resume_and_check(archive, out, ["--model", "remaster-x2"], self.complete_outputs(out))


class TestChunkedFilm:
    def test_remaster_chunks_equals_the_unchunked_film(self, tmp_path):
        src = make_clip(tmp_path / "film.mp4", frames=60, width=64, height=48, gop=10)
        lossless = ["--codec", "ffv1", "--temporal", "off", "--model", "remaster-x2", "--quiet"]
        # Each of the 2 jobs runs torch on cores / 2 threads; oneDNN's sums can round differently
        # with another thread count (by a level or two, in a few frames), so the reference
        # film runs on as many threads.
        threads = torch.get_num_threads()
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
        try:
            assert cli("remaster", src, "-o", tmp_path / "whole.mkv", *lossless) == 0
        finally:
            torch.set_num_threads(threads)
        assert cli("remaster", src, "-o", tmp_path / "parts.mkv", "--chunks", "4", "--jobs", "2", *lossless) == 0
        whole, whole_pts = decode_all(tmp_path / "whole.mkv")
        parts, parts_pts = decode_all(tmp_path / "parts.mkv")
        assert whole_pts == parts_pts and len(parts) == 60
        assert all((w == p).all() for w, p in zip(whole, parts))
        with av.open(str(tmp_path / "parts.mkv")) as c:
            assert len(c.streams.audio) == 1
        assert not list(tmp_path.glob(".parts.mkv*"))  # the work folder went

    def test_chunks_refuse_a_range(self, tmp_path, capsys):
        src = make_clip(tmp_path / "film.mp4", frames=20)
        before = file_hash(src)
        assert cli("remaster", src, "-o", tmp_path / "o.mkv", "--chunks", "2", "--frames", "5", *FAST) == 1
        assert "whole files" in capsys.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"] and file_hash(src) == before


class TestBadInput:
    def test_empty_folder(self, tmp_path, capsys):
        (tmp_path / "empty").mkdir()
        assert cli("batch", tmp_path / "empty", "-o", tmp_path / "out", *FAST) == 1
        assert "error: no video in" in capsys.readouterr().err
        assert not (tmp_path / "out").exists()

    def test_output_inside_the_input_is_left_out(self, archive, capsys):
        out = archive / "hd"
        assert cli("batch", archive, "-o", out, *FAST) == 0
        assert cli("batch", archive, "-o", out, "--resume", *FAST) == 0  # hd/a.mkv is not a new film
        assert set(manifest_rows(out)) == {"a.mp4", "b.mkv"}

    def test_two_inputs_on_one_output_are_refused(self, archive, tmp_path, capsys):
        make_clip(archive / "a.mov", frames=5)
        assert cli("batch", archive, "-o", tmp_path / "out", *FAST) == 1
        err = capsys.readouterr().err
        assert "a.mov" in err and "a.mp4" in err
        assert not (tmp_path / "out" / "vidstyle-batch.sqlite").exists()

    def test_corrupt_manifest_is_reported_and_kept(self, archive, tmp_path, capsys):
        out = tmp_path / "out"
        out.mkdir()
        (out / "vidstyle-batch.sqlite").write_bytes(b"this is not a database" * 50)
        assert cli("batch", archive, "-o", out, "--resume", *FAST) == 1
        assert "vidstyle-batch.sqlite" in capsys.readouterr().err
        assert (out / "vidstyle-batch.sqlite").read_bytes() == b"this is not a database" * 50

    def test_ray_missing_says_how_to_install(self, archive, tmp_path):
        code = ("import sys; sys.modules['ray'] = None; from vidstyle.cli import run; "
                f"sys.exit(run(['batch', {str(archive)!r}, '-o', {str(tmp_path / 'o')!r}, '--backend', 'ray', "
                "'--model', 'bicubic', '-q']))")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        assert "pip install 'vidstyle[ray]'" in result.stderr and "Traceback" not in result.stderr


class TestRay:
    def test_ray_backend_on_a_local_cluster(self, archive, tmp_path):
        pytest.importorskip("ray")
        out = tmp_path / "hd"
        assert cli("batch", archive, "-o", out, "--backend", "ray", "--jobs", "2", "--chunks", "2", *FAST) == 0
        assert frame_count(out / "a.mkv") == 40 and frame_count(out / "sub" / "b.mkv") == 30
        assert all(r["state"] == "done" for r in manifest_rows(out).values())
        assert not temporaries(out)
