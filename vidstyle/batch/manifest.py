"""The batch manifest: what each film and segment of a batch has come to, kept on disk.

The manifest is a SQLite file in the output folder (:data:`MANIFEST_NAME`), written by
the one batch driver; workers never touch it. It is what makes a batch resumable, so
it is written to survive ``kill -9`` and a power cut: every state change is its own
committed transaction, in WAL mode with ``synchronous=FULL``, so a change that
returned is on disk. After a crash, :meth:`Manifest.reset_interrupted` puts back
what was left running.

A manifest that cannot be read is never discarded or rewritten: it may hold the only
record of days of work. :meth:`Manifest.open` refuses it and says how to start afresh.

A film done from a damaged source is ``done`` with its damage recorded (the ``damage`` column,
the JSON of :meth:`vidstyle.io.damage.DamageReport.to_dict`): "done with damage". Schema
version 1, written before damage was counted, lacks that column: it is added in place when such a
manifest is opened for writing, and ``--status`` reads version 1 as it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_args, get_type_hints

from ..errors import ManifestError
from ..io.damage import DamageReport
from ..version import __version__

__all__ = [
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "STATES",
    "JobRow",
    "JobSpec",
    "Manifest",
    "ManifestError",
    "SegmentRow",
    "SyncCounts",
    "read_status",
    "settings_hash",
]

logger = logging.getLogger(__name__)

#: The manifest's file name in the output folder.
MANIFEST_NAME = "vidstyle-batch.sqlite"
#: The layout of the tables. An older manifest is brought up to date when opened for writing
#: (:data:`_MIGRATIONS`) and read as it is otherwise; a newer one is refused.
SCHEMA_VERSION = 2
#: The states of a job or a segment.
STATES = ("pending", "running", "done", "failed")

_SQLITE_HEADER = b"SQLite format 3\x00"
#: How long a statement waits for a lock (a ``--status`` reader) before it fails, in seconds.
_BUSY_TIMEOUT_S = 30.0
_STATE_CHECK = f"CHECK (state IN ({', '.join(repr(s) for s in STATES)}))"
_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    f"""CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        input TEXT UNIQUE NOT NULL,
        output TEXT NOT NULL,
        name TEXT,
        size INTEGER,
        mtime_ns INTEGER,
        settings TEXT,
        state TEXT NOT NULL {_STATE_CHECK},
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        expected_frames INTEGER,
        frames INTEGER,
        seconds REAL,
        started REAL,
        finished REAL,
        segments INTEGER NOT NULL DEFAULT 0,
        damage TEXT
    )""",
    f"""CREATE TABLE segments (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        first_frame INTEGER NOT NULL,
        frames INTEGER NOT NULL,
        warmup INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' {_STATE_CHECK},
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        path TEXT,
        output_frames INTEGER,
        first_pts INTEGER,
        seconds REAL,
        damage TEXT,
        PRIMARY KEY (job_id, idx)
    )""",
)
#: What brings a manifest of version ``key`` to the next version.
_MIGRATIONS = {
    1: ("ALTER TABLE jobs ADD COLUMN damage TEXT", "ALTER TABLE segments ADD COLUMN damage TEXT"),
}


def settings_hash(settings: dict[str, Any]) -> str:
    """A short fingerprint of a film's settings: 16 hex digits of a SHA-256.

    The JSON is canonical (sorted keys, no spaces), so equal settings give equal hashes
    whatever order they were built in; a film whose hash changed is done again.
    """
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class JobSpec:
    """A film as discovery and probing see it now, to compare with the manifest's row."""

    input: Path
    output: Path
    name: str
    #: File size in bytes and modification time in ns; ``None`` for a missing file.
    size: int | None
    mtime_ns: int | None
    #: :func:`settings_hash` of the settings the film is remastered with.
    settings: str
    expected_frames: int | None = None


@dataclass(frozen=True)
class JobRow:
    """One row of the ``jobs`` table. Times are ``time.time()`` seconds; ``seconds`` is
    the time the remaster took."""

    id: int
    #: The input and output paths as stored (text, ready for a JSON report).
    input: str
    output: str
    name: str | None
    size: int | None
    mtime_ns: int | None
    settings: str | None
    state: str
    attempts: int
    error: str | None
    expected_frames: int | None
    frames: int | None
    seconds: float | None
    started: float | None
    finished: float | None
    #: How many segments the film is cut into (0 until a plan is set).
    segments: int
    #: The source's damage as JSON (done with damage); None for a sound source, or not yet known.
    damage: str | None = None


@dataclass(frozen=True)
class SegmentRow:
    """One row of the ``segments`` table: frames ``first_frame`` to ``first_frame + frames``
    of a film, decoded from ``warmup`` frames earlier so the temporal state is settled."""

    job_id: int
    idx: int
    first_frame: int
    frames: int
    warmup: int
    state: str
    attempts: int
    error: str | None
    #: The segment's file once done, as stored.
    path: str | None
    output_frames: int | None
    first_pts: int | None
    seconds: float | None
    #: The damage of the segment's own frames as JSON, on the film's frame numbering; None if none.
    damage: str | None = None


@dataclass(frozen=True)
class SyncCounts:
    """What :meth:`Manifest.sync` found, and the row id of each film given, in order."""

    new: int
    changed: int
    unchanged: int
    ids: tuple[int, ...]


class Manifest:
    """The open manifest of one batch. Use :meth:`open`, preferably as a context manager:

    >>> with Manifest.open(out / MANIFEST_NAME) as manifest:  # doctest: +SKIP
    ...     ids = manifest.sync(specs).ids
    """

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    def open(cls, path: Path, *, create: bool = True, readonly: bool = False) -> Manifest:
        """Open the manifest at ``path``, creating it when missing and ``create`` is true.

        ``readonly`` (for ``--status``, beside a running batch) never writes and never creates.

        Raises:
            ManifestError: no manifest and ``create`` false, or a file that is not a
                vidstyle manifest of this schema version, or not a sound SQLite database.
        """
        path = Path(path).resolve()
        exists = path.exists()
        if not exists and (not create or readonly):
            raise ManifestError(f"no batch manifest in {path.parent}")
        if exists:
            _check_header(path)
        try:
            if readonly:
                db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=_BUSY_TIMEOUT_S)
            else:
                db = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S)
        except sqlite3.Error as ex:
            raise ManifestError(f"cannot open the batch manifest {path}: {ex}") from ex
        db.isolation_level = None  # autocommit: each change commits; many-row changes use BEGIN
        db.row_factory = sqlite3.Row
        manifest = cls(db, path)
        try:
            manifest._prepare(create=create and not readonly, readonly=readonly)
        except BaseException:
            db.close()
            raise
        return manifest

    def _prepare(self, *, create: bool, readonly: bool) -> None:
        """Check an existing manifest before anything writes to it, then set it up.

        An empty database (a crash between creating the file and committing the schema)
        holds nothing, so it is taken for a new one.
        """
        try:
            empty = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
            version = SCHEMA_VERSION if empty else self._check()
        except sqlite3.Error as ex:
            raise ManifestError(_refusal(self.path, f"cannot be read ({ex})")) from ex
        if empty and not create:
            raise ManifestError(f"no batch manifest in {self.path.parent}")
        try:
            if empty:
                self._create()
            elif version < SCHEMA_VERSION and not readonly:
                self._migrate(version)
            if not readonly:
                mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode != "wal":
                    logger.warning("the batch manifest %s is in %s mode, not WAL", self.path, mode)
                self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as ex:
            raise ManifestError(f"cannot write the batch manifest {self.path}: {ex}") from ex

    def _check(self) -> int:
        """Refuse what is not a sound manifest this vidstyle reads; its schema version."""
        problems = [row[0] for row in self._db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:  # (SQLite's report runs over lines: the first few, on one)
            first = "; ".join(line.strip() for line in str(problems[0]).splitlines()[:3] if line.strip())
            raise ManifestError(_refusal(self.path, f"is damaged ({first})"))
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if "meta" not in tables:
            problem = "is not a vidstyle batch manifest (no meta table)"
            raise ManifestError(_refusal(self.path, problem))
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        version = meta.get("schema_version")
        readable = [str(v) for v in range(1, SCHEMA_VERSION + 1)]
        if version not in readable:
            raise ManifestError(
                _refusal(
                    self.path,
                    f"has schema version {version} (written by vidstyle {meta.get('vidstyle')}),"
                    f" this vidstyle {__version__} reads versions {readable[0]} to {SCHEMA_VERSION}",
                )
            )
        for table, row_type in (("jobs", JobRow), ("segments", SegmentRow)):
            found = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            wanted = {f.name for f in fields(row_type)} - (_ADDED_IN_2 if version == "1" else set())
            if found != wanted:
                problem = (f"has no {table} table" if not found else f"has a {table} table of other columns "
                           f"(missing: {', '.join(sorted(wanted - found)) or 'none'}; "
                           f"unknown: {', '.join(sorted(found - wanted)) or 'none'})")
                raise ManifestError(_refusal(self.path, problem + f" for schema version {version}"))
        return int(version)

    def _migrate(self, version: int) -> None:
        """Bring a manifest of an older ``version`` up to :data:`SCHEMA_VERSION`, in one transaction."""
        with self._transaction() as db:
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    db.execute(statement)
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        logger.info("the batch manifest %s was brought from schema version %d to %d",
                    self.path, version, SCHEMA_VERSION)

    def _create(self) -> None:
        with self._transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("vidstyle", __version__),
                    ("created", repr(time.time())),
                ],
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction for a change of many rows: all of it, or none."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # Jobs.

    def sync(self, jobs: Iterable[JobSpec]) -> SyncCounts:
        """Bring the manifest up to date with the films of this run, in one transaction.

        A new film is added as pending. A film whose size, mtime, settings or output
        changed goes back to pending with no attempts, error or segments. Any other
        film keeps its state. Rows of films no longer discovered are left alone.
        """
        new = changed = unchanged = 0
        ids: list[int] = []
        with self._transaction() as db:
            for spec in jobs:
                values = (
                    str(spec.output), spec.name, spec.size, spec.mtime_ns, spec.settings,
                    spec.expected_frames,
                )
                row = db.execute(
                    "SELECT id, output, size, mtime_ns, settings FROM jobs WHERE input = ?",
                    (str(spec.input),),
                ).fetchone()
                if row is None:
                    cursor = db.execute(
                        "INSERT INTO jobs (output, name, size, mtime_ns, settings, expected_frames,"
                        " input, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                        (*values, str(spec.input)),
                    )
                    ids.append(int(cursor.lastrowid))
                    new += 1
                    continue
                ids.append(row["id"])
                before = (row["output"], row["size"], row["mtime_ns"], row["settings"])
                if before == (str(spec.output), spec.size, spec.mtime_ns, spec.settings):
                    # The name and frame count may be refined without redoing the film;
                    # a frame count not given keeps the one known.
                    db.execute(
                        "UPDATE jobs SET name = ?, expected_frames = coalesce(?, expected_frames)"
                        " WHERE id = ?",
                        (spec.name, spec.expected_frames, row["id"]),
                    )
                    unchanged += 1
                    continue
                db.execute(
                    "UPDATE jobs SET output = ?, name = ?, size = ?, mtime_ns = ?, settings = ?,"
                    " expected_frames = ?, state = 'pending', attempts = 0, error = NULL,"
                    " frames = NULL, seconds = NULL, started = NULL, finished = NULL, segments = 0,"
                    " damage = NULL"
                    " WHERE id = ?",
                    (*values, row["id"]),
                )
                db.execute("DELETE FROM segments WHERE job_id = ?", (row["id"],))
                changed += 1
        return SyncCounts(new=new, changed=changed, unchanged=unchanged, ids=tuple(ids))

    def reset_interrupted(self) -> int:
        """Put jobs and segments left running by a crash back to pending; how many jobs.

        Their attempts stay counted: a film that keeps taking the batch down with it
        must still run out of attempts.
        """
        with self._transaction() as db:
            db.execute("UPDATE segments SET state = 'pending' WHERE state = 'running'")
            return db.execute("UPDATE jobs SET state = 'pending' WHERE state = 'running'").rowcount

    def job(self, job_id: int) -> JobRow:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(f"no job {job_id} in the batch manifest {self.path}")
        return _job_row(row, self.path)

    def jobs(self, states: Iterable[str] | None = None) -> list[JobRow]:
        """The jobs in any of ``states`` (all when ``None``), ordered by name."""
        query, params = "SELECT * FROM jobs", ()
        if states is not None:
            params = tuple(_checked_states(states))
            query += f" WHERE state IN ({', '.join('?' * len(params))})"
        rows = self._db.execute(query + " ORDER BY name, input", params)
        return [_job_row(row, self.path) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state; every state is a key."""
        counts = dict.fromkeys(STATES, 0)
        rows = self._db.execute("SELECT state, count(*) FROM jobs GROUP BY state")
        counts.update({state: count for state, count in rows})
        return counts

    def start_job(self, job_id: int) -> None:
        self._update_job(
            job_id,
            "state = 'running', attempts = attempts + 1, started = ?, finished = NULL,"
            " error = NULL, damage = NULL",
            time.time(),
        )

    def finish_job(self, job_id: int, *, frames: int, seconds: float, damage: dict[str, Any] | None = None) -> None:
        """Mark a film done: ``frames`` written, in ``seconds`` of work; with ``damage`` (a damage
        report's dictionary), done with damage."""
        self._update_job(
            job_id, "state = 'done', frames = ?, seconds = ?, finished = ?, error = NULL, damage = ?",
            frames, seconds, time.time(), _json_or_null(damage),
        )

    def set_expected_frames(self, job_id: int, frames: int) -> None:
        """The film's frame count, counted from its packets (what its output must hold)."""
        self._update_job(job_id, "expected_frames = ?", frames)

    def fail_job(self, job_id: int, error: str) -> None:
        self._update_job(job_id, "state = 'failed', error = ?, finished = ?", error, time.time())

    def requeue_job(self, job_id: int, *, reset: bool = False) -> None:
        """Back to pending without counting the attempt (abandoned, e.g. by Ctrl-C).

        ``reset`` starts the film afresh instead, with no attempts and no error: for a
        film to do again for a reason of its own (its output was deleted).
        """
        if reset:
            self._update_job(job_id, "state = 'pending', attempts = 0, error = NULL")
            return
        self._update_job(
            job_id,
            "attempts = CASE WHEN state = 'running' THEN max(attempts - 1, 0) ELSE attempts END,"
            " state = 'pending'",
        )

    def _update_job(self, job_id: int, assignments: str, *params: object) -> None:
        cursor = self._db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*params, job_id))
        if cursor.rowcount != 1:
            raise KeyError(f"no job {job_id} in the batch manifest {self.path}")

    # Segments.

    def set_segments(self, job_id: int, segments: list[tuple[int, int, int]]) -> bool:
        """Plan a film's segments: ``(first_frame, frames, warmup)`` for each index.

        The same plan as before keeps its segments and their states, so a resumed film
        redoes only what is not done; another plan replaces them all, pending. Returns
        whether the plan was replaced (the files of the old segments are the caller's).
        """
        plan = [tuple(int(v) for v in segment) for segment in segments]
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise KeyError(f"no job {job_id} in the batch manifest {self.path}")
            old = db.execute(
                "SELECT first_frame, frames, warmup FROM segments WHERE job_id = ? ORDER BY idx",
                (job_id,),
            ).fetchall()
            if [tuple(row) for row in old] == plan:
                return False
            db.execute("DELETE FROM segments WHERE job_id = ?", (job_id,))
            db.executemany(
                "INSERT INTO segments (job_id, idx, first_frame, frames, warmup)"
                " VALUES (?, ?, ?, ?, ?)",
                [(job_id, idx, *segment) for idx, segment in enumerate(plan)],
            )
            db.execute("UPDATE jobs SET segments = ? WHERE id = ?", (len(plan), job_id))
        return True

    def segments(self, job_id: int) -> list[SegmentRow]:
        rows = self._db.execute("SELECT * FROM segments WHERE job_id = ? ORDER BY idx", (job_id,))
        return [_segment_row(row, self.path) for row in rows]

    def start_segment(self, job_id: int, idx: int) -> None:
        self._update_segment(
            job_id, idx, "state = 'running', attempts = attempts + 1, error = NULL"
        )

    def finish_segment(
        self, job_id: int, idx: int, *, path: str | Path, output_frames: int, first_pts: int,
        seconds: float, damage: dict[str, Any] | None = None,
    ) -> None:
        """Mark a segment done: its file, the frames it holds, its first timestamp, its damage."""
        self._update_segment(
            job_id, idx,
            "state = 'done', error = NULL, path = ?, output_frames = ?, first_pts = ?, seconds = ?,"
            " damage = ?",
            str(path), output_frames, first_pts, seconds, _json_or_null(damage),
        )

    def fail_segment(self, job_id: int, idx: int, error: str) -> None:
        self._update_segment(job_id, idx, "state = 'failed', error = ?", error)

    def requeue_segment(self, job_id: int, idx: int) -> None:
        """Back to pending without counting the attempt."""
        self._update_segment(
            job_id, idx,
            "attempts = CASE WHEN state = 'running' THEN max(attempts - 1, 0) ELSE attempts END,"
            " state = 'pending'",
        )

    def _update_segment(self, job_id: int, idx: int, assignments: str, *params: object) -> None:
        cursor = self._db.execute(
            f"UPDATE segments SET {assignments} WHERE job_id = ? AND idx = ?",
            (*params, job_id, idx),
        )
        if cursor.rowcount != 1:
            raise KeyError(f"no segment {idx} of job {job_id} in the batch manifest {self.path}")


def read_status(output_root: Path) -> list[JobRow]:
    """The jobs of the batch in ``output_root``, read without writing (beside a running batch).

    Raises:
        ManifestError: the folder holds no manifest, or one that cannot be read.
    """
    with Manifest.open(Path(output_root) / MANIFEST_NAME, create=False, readonly=True) as manifest:
        try:
            return manifest.jobs()
        except sqlite3.DatabaseError as ex:  # damage that the check on opening did not reach
            raise ManifestError(_refusal(manifest.path, f"cannot be read ({ex})")) from ex


def _check_header(path: Path) -> None:
    """Refuse a file that is not SQLite before SQLite opens it (and may write to it)."""
    try:
        with open(path, "rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as ex:
        raise ManifestError(f"cannot read the batch manifest {path}: {ex.strerror}") from ex
    # An empty file is what a crash right after creating the database leaves.
    if header and header != _SQLITE_HEADER:
        raise ManifestError(_refusal(path, "is not a SQLite database"))


def _refusal(path: Path, problem: str) -> str:
    return (
        f"the batch manifest {path} {problem}; vidstyle will not discard it:"
        " move it aside to start the batch afresh"
    )


def _json_or_null(data: dict[str, Any] | None) -> str | None:
    return None if data is None else json.dumps(data, sort_keys=True, separators=(",", ":"))


def _checked_states(states: Iterable[str]) -> list[str]:
    states = list(states)
    unknown = [s for s in states if s not in STATES]
    if unknown:
        raise ValueError(f"job states are {', '.join(STATES)}, got {', '.join(unknown)}")
    return states


def _job_row(row: sqlite3.Row, path: Path) -> JobRow:
    return _typed_row(JobRow, row, path)


def _segment_row(row: sqlite3.Row, path: Path) -> SegmentRow:
    return _typed_row(SegmentRow, row, path)


#: The columns schema version 2 added (schema version 1 lacks them).
_ADDED_IN_2 = {"damage"}


def _typed_row(row_type: type, row: sqlite3.Row, path: Path) -> Any:
    """A :class:`JobRow` or :class:`SegmentRow` of ``row``, every value of its field's type.

    SQLite keeps any value in any column, so a manifest edited by hand, or damaged where its
    checks do not look, can hold text where a count belongs, or a damage column that is not a
    damage report: it is refused here rather than failing later in a report or a table.
    """
    values = {key: row[key] for key in row.keys()}
    hints = get_type_hints(row_type)
    for name, value in values.items():
        kinds = get_args(hints[name]) or (hints[name],)
        if float in kinds:
            kinds += (int,)
        if not isinstance(value, kinds) or (name == "state" and value not in STATES):
            problem = f"is damaged: a {row_type.__name__} holds {value!r:.40} as its {name}"
            raise ManifestError(_refusal(path, problem))
    if values.get("damage") is not None:
        try:
            DamageReport.from_dict(json.loads(values["damage"]))
        except (ValueError, TypeError, KeyError, AttributeError) as ex:
            problem = f"is damaged: the damage of {values.get('name') or 'a film'} does not read ({type(ex).__name__})"
            raise ManifestError(_refusal(path, problem)) from ex
    return row_type(**values)
