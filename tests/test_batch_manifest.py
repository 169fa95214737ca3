"""The batch manifest: real SQLite files in tmp_path, reopened as a resumed batch would."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from vidstyle.batch.manifest import (
    MANIFEST_NAME,
    SCHEMA_VERSION,
    STATES,
    JobSpec,
    Manifest,
    ManifestError,
    read_status,
    settings_hash,
)
from vidstyle.errors import VidstyleError

PLAN = [(0, 100, 0), (100, 100, 8), (200, 50, 8)]


def spec(film: str, **changes) -> JobSpec:
    base = JobSpec(
        input=Path("/films") / film,
        output=Path("/out") / film,
        name=film,
        size=1000,
        mtime_ns=5,
        settings=settings_hash({"scale": 2}),
        expected_frames=250,
    )
    return replace(base, **changes)


@pytest.fixture()
def path(tmp_path: Path) -> Path:
    return tmp_path / MANIFEST_NAME


@pytest.fixture()
def manifest(path: Path):
    with Manifest.open(path) as manifest:
        yield manifest


def test_settings_hash_is_canonical():
    assert settings_hash({"a": 1, "b": [1, 2]}) == settings_hash({"b": [1, 2], "a": 1})
    assert settings_hash({"a": 1}) != settings_hash({"a": 2})
    assert len(settings_hash({})) == 16


class TestOpen:
    def test_create_and_reopen_keep_state(self, path):
        with Manifest.open(path) as manifest:
            (job_id,) = manifest.sync([spec("a.mov")]).ids
            manifest.start_job(job_id)
            manifest.finish_job(job_id, frames=250, seconds=12.5)
        with Manifest.open(path, create=False) as manifest:
            row = manifest.job(job_id)
        assert (row.state, row.frames, row.seconds, row.attempts) == ("done", 250, 12.5, 1)
        assert row.input == str(Path("/films/a.mov")) and row.finished >= row.started

    def test_wal_and_meta(self, manifest, path):
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        meta = dict(db.execute("SELECT key, value FROM meta"))
        db.close()
        assert meta["schema_version"] == str(SCHEMA_VERSION) and "vidstyle" in meta and float(meta["created"]) > 0

    def test_missing_without_create(self, tmp_path):
        with pytest.raises(ManifestError, match="no batch manifest in"):
            Manifest.open(tmp_path / MANIFEST_NAME, create=False)
        with pytest.raises(ManifestError, match="no batch manifest in"):
            read_status(tmp_path)
        assert not (tmp_path / MANIFEST_NAME).exists()

    def test_empty_file_is_new(self, path):
        # What a crash right after creating the file leaves: nothing to keep.
        path.touch()
        with Manifest.open(path) as manifest:
            assert manifest.counts() == dict.fromkeys(STATES, 0)

    def test_not_sqlite_is_refused_and_kept(self, path):
        junk = bytes(range(256)) * 64
        path.write_bytes(junk)
        with pytest.raises(ManifestError, match="not a SQLite database.*will not discard.*move it aside"):
            Manifest.open(path)
        assert path.read_bytes() == junk
        assert sorted(p.name for p in path.parent.iterdir()) == [MANIFEST_NAME]

    def test_damaged_is_refused_and_kept(self, path):
        with Manifest.open(path) as manifest:
            manifest.sync([spec(f"{i}.mov") for i in range(300)])
        data = bytearray(path.read_bytes())
        data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)  # zero the back half
        path.write_bytes(bytes(data))
        with pytest.raises(ManifestError, match="will not discard"):
            Manifest.open(path)
        assert path.read_bytes() == bytes(data)

    def test_other_schema_version(self, path):
        with Manifest.open(path):
            pass
        db = sqlite3.connect(path)
        with db:
            db.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
        db.close()
        before = path.read_bytes()
        with pytest.raises(ManifestError, match="schema version 7.*reads versions 1 to 2.*move it aside"):
            Manifest.open(path)
        assert path.read_bytes() == before

    def test_no_meta_table(self, path):
        db = sqlite3.connect(path)
        with db:
            db.execute("CREATE TABLE films (title TEXT)")
        db.close()
        with pytest.raises(ManifestError, match="no meta table") as info:
            Manifest.open(path)
        assert isinstance(info.value, VidstyleError) and "\n" not in str(info.value)

    def test_read_status_beside_an_open_manifest(self, manifest, tmp_path):
        manifest.sync([spec("b.mov"), spec("a.mov")])
        assert [row.name for row in read_status(tmp_path)] == ["a.mov", "b.mov"]


class TestSync:
    def test_new_changed_unchanged(self, manifest):
        counts = manifest.sync([spec("a.mov"), spec("b.mov")])
        assert (counts.new, counts.changed, counts.unchanged) == (2, 0, 0)
        assert counts.ids == tuple(row.id for row in manifest.jobs())
        done = counts.ids[0]
        manifest.start_job(done)
        manifest.finish_job(done, frames=250, seconds=3.0)
        again = manifest.sync([spec("a.mov"), spec("b.mov"), spec("c.mov")])
        assert (again.new, again.changed, again.unchanged) == (1, 0, 2)
        assert again.ids[:2] == counts.ids
        assert manifest.job(done).state == "done"
        # A frame count not given keeps the one known; the name follows discovery.
        manifest.sync([spec("a.mov", name="old/a.mov", expected_frames=None)])
        row = manifest.job(done)
        assert (row.name, row.expected_frames, row.state) == ("old/a.mov", 250, "done")

    @pytest.mark.parametrize(
        "change",
        [
            {"size": 2000},
            {"mtime_ns": 6},
            {"settings": settings_hash({"scale": 4})},
            {"output": Path("/elsewhere/a.mkv")},
        ],
    )
    def test_changed_goes_back_to_pending(self, manifest, change):
        (job_id,) = manifest.sync([spec("a.mov")]).ids
        manifest.set_segments(job_id, PLAN)
        manifest.start_job(job_id)
        manifest.fail_job(job_id, "decode error at frame 120")
        counts = manifest.sync([spec("a.mov", **change)])
        assert (counts.new, counts.changed, counts.unchanged) == (0, 1, 0)
        row = manifest.job(job_id)
        assert (row.state, row.attempts, row.error, row.segments) == ("pending", 0, None, 0)
        assert manifest.segments(job_id) == []

    def test_vanished_inputs_are_kept(self, manifest):
        manifest.sync([spec("a.mov"), spec("b.mov")])
        manifest.sync([spec("a.mov")])
        assert len(manifest.jobs()) == 2


class TestStates:
    def test_attempts_failures_and_counts(self, manifest):
        a, b, c = manifest.sync([spec("a.mov"), spec("b.mov"), spec("c.mov")]).ids
        manifest.start_job(a)
        manifest.fail_job(a, "out of memory")
        manifest.start_job(a)
        assert (manifest.job(a).attempts, manifest.job(a).error) == (2, None)
        manifest.finish_job(a, frames=10, seconds=1.0)
        manifest.start_job(b)
        manifest.fail_job(b, "no video stream")
        assert manifest.counts() == {"pending": 1, "running": 0, "done": 1, "failed": 1}
        assert [row.id for row in manifest.jobs(["failed", "pending"])] == [b, c]
        assert manifest.job(b).error == "no video stream"
        with pytest.raises(ValueError, match="job states"):
            manifest.jobs(["stuck"])
        with pytest.raises(KeyError):
            manifest.start_job(999)

    def test_requeue_does_not_count(self, manifest):
        (job_id,) = manifest.sync([spec("a.mov")]).ids
        manifest.start_job(job_id)
        manifest.requeue_job(job_id)
        row = manifest.job(job_id)
        assert (row.state, row.attempts) == ("pending", 0)
        manifest.requeue_job(job_id)  # not running: nothing to uncount
        assert manifest.job(job_id).attempts == 0
        manifest.start_job(job_id)
        manifest.fail_job(job_id, "no video stream")
        manifest.start_job(job_id)
        manifest.finish_job(job_id, frames=5, seconds=1.0)
        manifest.requeue_job(job_id, reset=True)  # e.g. its output was deleted
        row = manifest.job(job_id)
        assert (row.state, row.attempts, row.error) == ("pending", 0, None)

    def test_reset_interrupted(self, manifest):
        a, b = manifest.sync([spec("a.mov"), spec("b.mov")]).ids
        manifest.set_segments(a, PLAN)
        manifest.start_job(a)
        manifest.start_segment(a, 0)
        manifest.start_job(b)
        manifest.finish_job(b, frames=1, seconds=1.0)
        assert manifest.reset_interrupted() == 1
        row = manifest.job(a)
        assert (row.state, row.attempts) == ("pending", 1)
        assert manifest.segments(a)[0].state == "pending" and manifest.job(b).state == "done"
        assert manifest.reset_interrupted() == 0


class TestSegments:
    def test_plan_kept_when_identical(self, manifest, tmp_path):
        (job_id,) = manifest.sync([spec("a.mov")]).ids
        assert manifest.set_segments(job_id, PLAN) is True
        manifest.start_segment(job_id, 0)
        manifest.finish_segment(
            job_id, 0, path=tmp_path / "seg0.mkv", output_frames=100, first_pts=0, seconds=2.0
        )
        manifest.start_segment(job_id, 1)
        manifest.fail_segment(job_id, 1, "encoder failed")
        assert manifest.set_segments(job_id, list(PLAN)) is False
        rows = manifest.segments(job_id)
        assert [row.state for row in rows] == ["done", "failed", "pending"]
        assert rows[0].path == str(tmp_path / "seg0.mkv") and rows[0].output_frames == 100
        assert (rows[1].attempts, rows[1].error) == (1, "encoder failed")
        assert [(r.first_frame, r.frames, r.warmup) for r in rows] == PLAN
        assert manifest.job(job_id).segments == 3

    def test_plan_replaced_when_different(self, manifest, tmp_path):
        (job_id,) = manifest.sync([spec("a.mov")]).ids
        manifest.set_segments(job_id, PLAN)
        manifest.start_segment(job_id, 0)
        manifest.finish_segment(
            job_id, 0, path=tmp_path / "seg0.mkv", output_frames=100, first_pts=0, seconds=2.0
        )
        assert manifest.set_segments(job_id, [(0, 125, 0), (125, 125, 8)]) is True
        rows = manifest.segments(job_id)
        assert [(row.idx, row.state, row.path) for row in rows] == [(0, "pending", None), (1, "pending", None)]
        assert manifest.job(job_id).segments == 2

    def test_requeue_segment(self, manifest):
        (job_id,) = manifest.sync([spec("a.mov")]).ids
        manifest.set_segments(job_id, PLAN)
        manifest.start_segment(job_id, 2)
        manifest.requeue_segment(job_id, 2)
        row = manifest.segments(job_id)[2]
        assert (row.state, row.attempts) == ("pending", 0)
        with pytest.raises(KeyError):
            manifest.start_segment(job_id, 3)


def test_committed_change_survives_kill_9(path):
    with Manifest.open(path) as manifest:
        (job_id,) = manifest.sync([spec("a.mov")]).ids
    code = f"""
import os, signal
from pathlib import Path
from vidstyle.batch.manifest import Manifest
manifest = Manifest.open(Path({str(path)!r}), create=False)
manifest.start_job({job_id})
manifest.finish_job({job_id}, frames=250, seconds=9.0)
os.kill(os.getpid(), signal.SIGKILL)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    with Manifest.open(path, create=False) as manifest:
        row = manifest.job(job_id)
    assert (row.state, row.frames, row.attempts) == ("done", 250, 1)
