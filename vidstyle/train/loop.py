"""The bookkeeping every training run shares: time, checkpoints, loss logs and resuming.

The three trainers (the remaster generator, :mod:`vidstyle.train.remaster`; its temporal
fine-tune, :mod:`vidstyle.train.temporal`; a style, :mod:`vidstyle.train.style`) differ in their
networks and losses, not in how a run is kept:

* :class:`Stopwatch` measures the wall and CPU seconds a run spends, which the trainers add up
  over every resumed invocation (the cards' ``wall_minutes`` and ``cpu_minutes``), and
  :func:`deadline` turns a ``--minutes`` cap into a ``time.perf_counter()`` value;
* :func:`save_checkpoint` writes a checkpoint whole or not at all and :func:`load_checkpoint`
  reads one back; the trainers' ``state_dict`` carries the step, the networks, the optimisers,
  the time spent and the torch RNG state (:func:`restore_torch_rng`);
* :class:`LossWindow` averages the losses of the steps between two log lines and
  :func:`append_csv` / :func:`truncate_csv` keep ``losses.csv`` and ``eval.csv``: a resumed run
  drops the rows logged after its checkpoint and logs them again;
* :class:`RunFolder` is a run's ``--out`` folder: it refuses to overwrite a run, needs a
  checkpoint to resume from, and starts fresh logs otherwise.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io.atomic import partial_path

__all__ = [
    "CHECKPOINT",
    "LossWindow",
    "RunFolder",
    "Stopwatch",
    "append_csv",
    "deadline",
    "eval_row",
    "load_checkpoint",
    "read_rows",
    "restore_torch_rng",
    "save_checkpoint",
    "truncate_csv",
]

#: The checkpoint's file name in a run's folder.
CHECKPOINT = "checkpoint.pt"


# -- time -------------------------------------------------------------------------------------


class Stopwatch:
    """Wall and CPU seconds since it started or since the last :meth:`lap`.

    A trainer keeps its totals (``wall_seconds``, ``cpu_seconds``) in its checkpoint and adds
    each lap to them before it saves, so the totals span every resumed run.
    """

    def __init__(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        """Wall and CPU seconds since the previous lap (or the start); starts the next lap."""
        wall, cpu = time.perf_counter(), time.process_time()
        spent = (wall - self._wall, cpu - self._cpu)
        self._wall, self._cpu = wall, cpu
        return spent


def deadline(minutes: float | None) -> float:
    """The ``time.perf_counter()`` value ``minutes`` from now; infinity when ``minutes`` is None."""
    return time.perf_counter() + minutes * 60.0 if minutes is not None else math.inf


# -- checkpoints ------------------------------------------------------------------------------


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` (``torch.save``) beside ``path`` and rename it over, so that a crash never
    leaves half a checkpoint (the temporary is named by :func:`vidstyle.io.atomic.partial_path`)."""
    partial = partial_path(path)
    try:
        torch.save(state, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`, its tensors on ``device``; only tensors and
    plain Python values are unpickled (``weights_only=True``)."""
    return torch.load(path, map_location=device, weights_only=True)


def restore_torch_rng(state: Mapping[str, Any]) -> None:
    """Set torch's CPU random generator to a checkpoint's ``torch_rng`` (saved from
    ``torch.get_rng_state()``), wherever ``map_location`` put the tensor."""
    torch.set_rng_state(state["torch_rng"].cpu())


# -- logs -------------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV log as dicts of strings; none when the file does not exist."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def truncate_csv(path: Path, columns: tuple[str, ...], last_step: int) -> None:
    """Drop rows logged after ``last_step``: a resumed run logs them again."""
    rows = [r for r in read_rows(path) if int(r["step"]) <= last_step]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def append_csv(path: Path, columns: tuple[str, ...], row: Mapping[str, Any]) -> None:
    """Append ``row`` to a CSV log with these ``columns``, writing the header first into a new
    file. Floats are written with 6 significant digits, strings as they are; keys outside
    ``columns`` are left out and missing ones left empty."""
    new = not path.is_file()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def eval_row(step: int, result: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    """The ``eval.csv`` row of a held-out evaluation at ``step``: ``step``, then the figures of
    ``result`` (an :class:`~vidstyle.train.evaluate.EvalResult`) that ``columns`` name."""
    return {"step": step, **{k: v for k, v in result.as_dict().items() if k in columns}}


class LossWindow:
    """The losses of the steps since the last log line, and the time those steps took.

    Call :meth:`add` with each step's losses (name -> float); :meth:`means` gives their averages
    and :meth:`seconds_per_step` the wall time per step since the window (re)started. Logging
    empties the window (:meth:`clear`); :meth:`restart` sets its clock again, to keep an
    evaluation or a checkpoint out of the measured step time.
    """

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}
        self.start = time.perf_counter()

    def __bool__(self) -> bool:
        return bool(self.values)

    def add(self, stats: Mapping[str, float]) -> None:
        for key, value in stats.items():
            self.values.setdefault(key, []).append(value)

    def means(self) -> dict[str, float]:
        return {k: float(np.mean(v)) for k, v in self.values.items()}

    def seconds_per_step(self, key: str = "total") -> float:
        """Wall seconds per step since the window started; ``key`` is a loss every step logs."""
        return (time.perf_counter() - self.start) / len(self.values[key])

    def clear(self) -> None:
        """Empty the window and restart its clock (after a log line)."""
        self.values = {}
        self.restart()

    def restart(self) -> None:
        self.start = time.perf_counter()


# -- the run's folder -------------------------------------------------------------------------


class RunFolder:
    """The ``--out`` folder of a run: its checkpoint and its CSV logs.

    Args:
        path: the folder (made when missing).
        logs: file name -> columns of each CSV log, e.g. ``{"losses.csv": (...), "eval.csv": (...)}``.
    """

    def __init__(self, path: Path, logs: Mapping[str, tuple[str, ...]]) -> None:
        self.path = Path(path)
        self.logs = dict(logs)
        self.checkpoint = self.path / CHECKPOINT

    def begin(self, *, resume: bool) -> None:
        """Check the folder fits the kind of start, and clear the logs of a fresh one.

        Raises:
            FileNotFoundError: ``resume`` without a checkpoint to resume from.
            FileExistsError: a fresh start into a folder that holds a run.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        if resume:
            if not self.checkpoint.is_file():
                raise FileNotFoundError(f"--resume: no {CHECKPOINT} in {self.path} to resume from")
        elif self.checkpoint.exists():
            raise FileExistsError(
                f"{self.path} already holds a {CHECKPOINT}: pass --resume, or choose another --out")
        else:
            for name in self.logs:
                (self.path / name).unlink(missing_ok=True)

    def rewind(self, step: int) -> None:
        """Drop the log rows after ``step`` (a resumed run's checkpoint), from every log."""
        for name in self.logs:
            self.truncate(name, step)

    def truncate(self, name: str, last_step: int) -> None:
        truncate_csv(self.path / name, self.logs[name], last_step)

    def append(self, name: str, row: Mapping[str, Any]) -> None:
        append_csv(self.path / name, self.logs[name], row)
