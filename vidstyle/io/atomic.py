"""Outputs that appear only when complete: the one rule for temporary names and their leftovers.

Every file vidstyle writes (videos, contact sheets, reports, joined segments) is written to a
hidden temporary beside its destination, ``.NAME.partial-PID.EXT``, and renamed over the
destination at the end, which is atomic on one filesystem. The extension is kept so that the
writer can still tell the container from the name.

A run *claims* its temporary (:func:`claim_output`): it creates it exclusively and holds an
``flock`` on it until the rename or the removal. The lock goes with the process, even on
``kill -9``, so a temporary nobody holds is a leftover of a dead run, and one that is held
belongs to a live run. That gives the two rules every writer follows:

* a leftover of the same output is removed (:func:`sweep_partials`): a killed run's file never
  stays beside the output for long;
* a live run's temporary is left alone, and a second run on the same output refuses with
  :class:`~vidstyle.errors.OutputError` instead of writing beside it.

Locks are used rather than the PID in the name because a PID is reused (after a reboot, a
leftover's PID may belong to any process) and means nothing on another machine writing to
shared storage. Where the filesystem has no locks, the PID is asked instead.

An output of many files (the frames of an image sequence) follows the same rule as a folder:
``claim_output(path, folder=True)`` creates and locks a hidden folder named as a file's
temporary, its files are written into it, and :meth:`OutputClaim.commit_files` moves them into
place once every one of them is complete. A killed run's folder is a leftover like a file, and
is removed (with what it holds) by the next run on the same output.
"""

from __future__ import annotations

import fcntl
import glob
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputError

__all__ = [
    "OutputClaim",
    "atomic_write",
    "claim_output",
    "leftover_partials",
    "partial_path",
    "refuse_live_partials",
    "sweep_partials",
    "write_text_atomic",
]

_PID = re.compile(r"\.partial-(\d+)")
#: How long a claim waits for a lock that another run's check holds for a moment, in seconds.
_LOCK_PATIENCE_S = 5.0


def partial_path(path: Path) -> Path:
    """The temporary that this process writes ``path`` to before renaming it into place."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def leftover_partials(path: Path) -> list[Path]:
    """The temporaries of ``path`` that exist, of any process, dead or alive."""
    return sorted(path.parent.glob(f".{glob.escape(path.stem)}.partial-*{glob.escape(path.suffix)}"))


def sweep_partials(partials: Iterable[Path], *, keep: Path | None = None) -> list[Path]:
    """Remove the temporaries among ``partials`` whose run is dead (a folder with its files); return
    those of live runs.

    ``keep`` (this claim's own temporary) is neither removed nor returned.
    """
    live = []
    for tmp in partials:
        if keep is not None and tmp == keep:
            continue
        if _is_held(tmp):
            live.append(tmp)
        else:
            _remove(tmp)
    return live


def refuse_live_partials(path: Path) -> None:
    """Before a run on ``path``: remove dead runs' temporaries, and refuse if a live run is writing it.

    Raises:
        OutputError: another run holds a temporary of ``path``.
    """
    live = sweep_partials(leftover_partials(path))
    if live:
        raise _busy(path, live[0])


class OutputClaim:
    """This process's temporary for ``path``, created and locked until :meth:`commit` (of a folder,
    :meth:`commit_files`) or :meth:`discard`.

    Use :func:`claim_output` to make one. ``tmp`` is the file to write; a writer that opens it by
    name (libav, OpenCV, torch) writes into the claimed file. A folder claim's ``tmp`` is the
    folder the files are written into.
    """

    def __init__(self, path: Path, tmp: Path, fd: int) -> None:
        self.path = path
        self.tmp = tmp
        self._fd: int | None = fd

    def commit(self) -> Path:
        """Rename the temporary over ``path`` (atomic) and let go of it."""
        try:
            os.replace(self.tmp, self.path)
        except BaseException:
            self.discard()
            raise
        self._release()
        return self.path

    def commit_files(self, moves: Iterable[tuple[Path, Path]]) -> None:
        """A folder claim: move each finished file of the folder to its destination (a rename, one
        filesystem), then remove the folder with whatever is left in it and let go of it. Each
        file appears whole, and none before all are written."""
        try:
            for tmp, dst in moves:
                os.replace(tmp, dst)
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the temporary (a folder with its files) and let go of it; safe to call more than once."""
        try:
            _remove(self.tmp)
        finally:
            self._release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> OutputClaim:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.held:
            self.discard()


def claim_output(path: Path, *, folder: bool = False) -> OutputClaim:
    """Claim the temporary of ``path`` for this process (see the module docstring): a file, or
    with ``folder`` a folder for the files of an output of many files (``path`` then names them
    all, without a ``%``: ``reel_######.tif``).

    Dead runs' temporaries of ``path`` are removed first. Two runs that start on one output at
    the same moment may both refuse; neither writes beside the other.

    Raises:
        OutputError: a live run is writing ``path``, or the temporary cannot be created.
    """
    path = Path(path)
    tmp = partial_path(path)
    for _ in range(3):  # again only when a sweeper took a fresh claim for a leftover (a rare race)
        refuse_live_partials(path)
        try:
            fd = _create(tmp, folder=folder)
        except FileExistsError as ex:  # a live claim of this process on the same output
            raise _busy(path, tmp) from ex
        except OSError as ex:
            raise OutputError(f"cannot write beside {path}: {ex.strerror}") from ex
        if fd is None:
            continue
        if not _lock(fd, tmp) or _same_file(fd, tmp):
            claim = OutputClaim(path, tmp, fd)
            live = sweep_partials(leftover_partials(path), keep=tmp)
            if live:  # a run that claimed while this one did
                claim.discard()
                raise _busy(path, live[0])
            return claim
        os.close(fd)
    raise OutputError(f"cannot claim a temporary beside {path}: other runs keep removing it")


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """``with atomic_write(path) as tmp:`` write ``tmp``; it becomes ``path`` if the block ends
    without an error, and is removed otherwise (Ctrl-C and SIGTERM included)."""
    with claim_output(path) as claim:
        yield claim.tmp
        claim.commit()


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all."""
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def _create(tmp: Path, *, folder: bool) -> int | None:
    """Create ``tmp`` exclusively and open it: a file for writing, or a folder (opened to be
    locked). None when the folder was removed as a leftover between the two (a rare race)."""
    if not folder:
        return os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    os.mkdir(tmp)
    try:
        return os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None


def _remove(tmp: Path) -> None:
    """Remove a temporary: a file, or a folder with what it holds."""
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


def _lock(fd: int, tmp: Path) -> bool:
    """Take the claim's exclusive lock; False where the filesystem has no locks."""
    deadline = time.monotonic() + _LOCK_PATIENCE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError as ex:  # another run's check holds a shared lock for a moment
            if time.monotonic() > deadline:
                os.close(fd)
                _remove(tmp)
                raise OutputError(f"cannot lock {tmp}: another process keeps it locked") from ex
            time.sleep(0.005)
        except OSError:
            return False


def _same_file(fd: int, tmp: Path) -> bool:
    """Whether ``tmp`` still names the file behind ``fd`` (a check may have removed it as a
    leftover between its creation and its lock)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(tmp))
    except FileNotFoundError:
        return False


def _is_held(tmp: Path) -> bool:
    """Whether a live run holds ``tmp``: its lock is taken (or, without locks, its PID runs)."""
    try:
        fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return _pid_alive(tmp)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return _pid_alive(tmp)
    else:
        return False
    finally:
        os.close(fd)


def _pid_alive(tmp: Path) -> bool:
    match = _PID.search(tmp.name)
    if match is None:
        return True  # not named by this rule: not ours to remove
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _busy(path: Path, tmp: Path) -> OutputError:
    match = _PID.search(tmp.name)
    who = f"another vidstyle run (PID {match.group(1)})" if match else "another run"
    return OutputError(f"{who} is writing {path}; wait for it to finish, or stop it (its temporary is {tmp.name})")
