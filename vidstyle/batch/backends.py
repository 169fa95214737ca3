"""Where the work of a batch runs: a local process pool, or tasks on a Ray cluster.

Both take :class:`Unit` s (a whole film, or one segment of a long one) and give back plain
dictionaries; neither touches the manifest, which only the driver writes. A unit writes its
output to a temporary file and renames it into place when complete, so a worker killed at any
moment leaves at most a temporary file behind, never a partial output.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import RemasterConfig
from ..errors import ConfigError, SourceDamageError, VidstyleError
from .segments import Segment

__all__ = ["BACKENDS", "Backend", "LocalBackend", "RayBackend", "Unit", "open_backend", "run_unit"]

#: ``--backend`` names.
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Unit:
    """One piece of work: a whole film into its output, or one segment into a part file."""

    job_id: int
    segment: Segment | None
    input: str
    output: str
    config: RemasterConfig
    threads: int
    """Torch CPU threads for this unit (cores / jobs)."""

    @property
    def key(self) -> tuple[int, int | None]:
        return (self.job_id, None if self.segment is None else self.segment.index)


#: In a local worker: where it sends (unit key, frames done) while a unit runs.
_progress_queue: Any = None


def _progress(key: tuple[int, int | None]):
    """A progress callback that tells the driver, at most twice a second; None outside a pool."""
    if _progress_queue is None:
        return None
    last = 0.0

    def report(done: int, total: int | None) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= 0.5:
            last = now
            try:
                _progress_queue.put_nowait((key, done))
            except Exception:  # progress is a nicety; never fail a unit for it
                pass

    return report


def run_unit(unit: Unit) -> dict[str, Any]:
    """Do ``unit`` (in a worker process or a Ray task). Errors come back as ``{"error": ...}``, with
    ``"final": True`` when trying again cannot help (a damaged source under ``--on-damage fail``).
    ``"damage"`` is the source's damage report (None when sound)."""
    import torch  # noqa: PLC0415  (imported here: a worker's first unit pays for it, the driver never)

    from ..engine import remaster  # noqa: PLC0415
    from .segments import render_segment  # noqa: PLC0415

    torch.set_num_threads(max(1, unit.threads))
    if os.environ.get("VIDSTYLE_TEST_CRASH") == "worker":  # the tests' stand-in for a killed worker
        os._exit(3)
    tick = time.perf_counter()
    progress = _progress(unit.key)
    try:
        if unit.segment is None:
            result = remaster(unit.input, unit.output, unit.config, progress=progress)
            damage = result.damage if result.damage.get("damaged") else None
            out = {"frames": result.frames, "seconds": result.seconds, "damage": damage}
        else:
            part = render_segment(unit.input, unit.output, unit.config, unit.segment, progress=progress)
            out = {"frames": part.frames, "first_pts": part.first_pts, "seconds": part.seconds,
                   "damage": part.damage}
    except SourceDamageError as ex:
        return {"error": str(ex), "final": True, "seconds": time.perf_counter() - tick}
    except VidstyleError as ex:
        return {"error": str(ex), "seconds": time.perf_counter() - tick}
    except Exception as ex:  # a bug: one line in the manifest, the batch goes on
        return {"error": f"unexpected {type(ex).__name__}: {ex}", "seconds": time.perf_counter() - tick}
    return out


class Backend:
    """Runs units, at most :attr:`slots` at a time."""

    slots: int

    def submit(self, unit: Unit) -> Any:
        """Start ``unit``; returns a handle for :meth:`wait`."""
        raise NotImplementedError

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, dict[str, Any]]]:
        """The handles that finished within ``timeout`` seconds, with their results."""
        raise NotImplementedError

    def progress(self) -> dict[tuple[int, int | None], int]:
        """Frames done so far by running units, by unit key (what arrived since the last call)."""
        return {}

    def recover(self) -> None:
        """After a worker died: make the backend usable again."""

    def abandon(self, handles: list[Any]) -> None:
        """Stop the running units ``handles`` at once (Ctrl-C). Their temporary files are the
        caller's to remove."""

    def close(self) -> None:
        """Release the workers."""


def _init_worker(progress_queue: Any) -> None:
    """A local worker's start: die with the driver, leave Ctrl-C to it, report progress to it."""
    global _progress_queue
    _progress_queue = progress_queue
    _die_with_parent()


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the batch driver dies (kill -9 included)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    # Ctrl-C reaches the whole process group, and so may SIGTERM and SIGHUP (a closed terminal,
    # a service manager that stops every process of the service): the driver decides what happens
    # to the workers, and removes what they leave.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


class LocalBackend(Backend):
    """A pool of ``jobs`` worker processes on this machine.

    Workers are spawned (not forked: the driver may hold torch and threads), so each pays the
    import of torch once; they die with the driver.
    """

    def __init__(self, jobs: int) -> None:
        self.slots = jobs
        self._start()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._queue = context.Queue()
        self._pool = cf.ProcessPoolExecutor(
            max_workers=self.slots, mp_context=context, initializer=_init_worker, initargs=(self._queue,)
        )

    def progress(self) -> dict[tuple[int, int | None], int]:
        latest: dict[tuple[int, int | None], int] = {}
        while True:
            try:
                key, done = self._queue.get_nowait()
            except queue.Empty:
                return latest
            latest[tuple(key)] = int(done)

    def submit(self, unit: Unit) -> cf.Future:
        return self._pool.submit(run_unit, unit)

    def wait(self, handles: list[cf.Future], timeout: float) -> list[tuple[cf.Future, dict[str, Any]]]:
        done, _ = cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        for future in done:
            try:
                out.append((future, future.result()))
            except cf.process.BrokenProcessPool:
                out.append((future, {"error": "the worker process died (out of memory?)", "broken": True}))
            except Exception as ex:
                out.append((future, {"error": f"unexpected {type(ex).__name__}: {ex}"}))
        return out

    def recover(self) -> None:
        """A worker that died takes the pool with it: start a fresh one."""
        if getattr(self._pool, "_broken", False):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._queue.close()
            self._start()

    def abandon(self, handles: list[Any]) -> None:
        processes = list(getattr(self._pool, "_processes", {}).values())  # every worker runs one of them
        for process in processes:
            try:
                process.kill()
            except Exception:
                pass
        for process in processes:
            process.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._queue.close()


class RayBackend(Backend):
    """Units as Ray tasks, each asking for ``cpus_per_job`` CPUs.

    With ``address`` (``auto`` or ``ray://host:port``) the driver joins that cluster; otherwise
    it starts a local Ray on this machine. Workers read the inputs and write the outputs through
    the same paths as the driver, so on a cluster these must be on storage every node mounts.
    """

    def __init__(self, jobs: int, *, address: str | None = None, cpus_per_job: float = 1.0) -> None:
        ray = import_ray()
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            kwargs: dict[str, Any] = {"address": address, "log_to_driver": False,
                                      "include_dashboard": False, "configure_logging": False}
            if address is None:
                kwargs["num_cpus"] = max(jobs * cpus_per_job, os.cpu_count() or 1)
            # ray.init puts in a SIGTERM handler that exits at once; the caller's (the command
            # line's, which stops the batch as Ctrl-C does) is put back.
            on_sigterm = signal.getsignal(signal.SIGTERM)
            try:
                ray.init(**kwargs)
            except ConnectionError as ex:
                raise ConfigError(f"cannot join the Ray cluster at {address}: {ex}") from ex
            finally:
                if on_sigterm is not None and threading.current_thread() is threading.main_thread():
                    signal.signal(signal.SIGTERM, on_sigterm)
        self.slots = jobs
        self._task = ray.remote(num_cpus=cpus_per_job, max_retries=0)(run_unit)

    def submit(self, unit: Unit) -> Any:
        return self._task.remote(unit)

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, dict[str, Any]]]:
        ray = self._ray
        done, _ = ray.wait(handles, num_returns=1, timeout=timeout)
        out = []
        for ref in done:
            try:
                out.append((ref, ray.get(ref)))
            except Exception as ex:  # the task's worker died
                out.append((ref, {"error": f"the Ray task failed: {type(ex).__name__}: {ex}".splitlines()[0]}))
        return out

    def abandon(self, handles: list[Any]) -> None:
        for ref in handles:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:
                pass
        # Cancelling only asks: wait (a little) for the tasks to end, so that their temporary
        # files are leftovers of dead workers by the time the driver removes them.
        try:
            self._ray.wait(handles, num_returns=len(handles), timeout=10)
        except Exception:
            pass

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


def import_ray():
    """Ray, or a ConfigError that says how to install it."""
    try:
        import ray  # noqa: PLC0415
    except ImportError as ex:
        raise ConfigError(
            "--backend ray needs Ray, which is not installed: pip install 'vidstyle[ray]'"
        ) from ex
    return ray


def open_backend(name: str, jobs: int, *, address: str | None = None) -> Backend:
    """The backend ``name`` with ``jobs`` slots; torch threads per unit are cores / jobs."""
    if name == "local":
        return LocalBackend(jobs)
    if name == "ray":
        return RayBackend(jobs, address=address)
    raise ConfigError(f"unknown backend {name!r}; choose {' or '.join(BACKENDS)}")


def unit_for(job_id: int, input: Path, output: Path, config: RemasterConfig, *, jobs: int,
             segment: Segment | None = None) -> Unit:
    """A :class:`Unit` with torch threads set to this machine's cores shared by ``jobs``."""
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    return Unit(job_id, segment, str(input), str(output), replace(config, overwrite=True), threads)
