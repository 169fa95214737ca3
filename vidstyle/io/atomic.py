"""Outputs that appear only when complete: the one rule for temporary names.

Every file vidstyle writes (videos, contact sheets, reports, joined segments) is written to a
hidden temporary beside its destination, ``.NAME.partial-PID.EXT``, and renamed over the
destination at the end, which is atomic on one filesystem. The extension is kept so that the
writer can still tell the container from the name. A killed run leaves only such temporaries,
which :func:`leftover_partials` finds for the batch driver to remove.

An output of many files (the frames of an image sequence) follows the same rule as a folder:
its files are written into :func:`partial_folder`, named like a file's temporary, and moved into
place by :func:`move_into_place` once every one of them is complete.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["leftover_partials", "move_into_place", "partial_folder", "partial_path", "write_text_atomic"]


def partial_path(path: Path) -> Path:
    """The temporary that this process writes ``path`` to before renaming it into place."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def leftover_partials(path: Path) -> Iterator[Path]:
    """Temporaries of ``path`` left by any process (a run that was killed)."""
    return path.parent.glob(f".{path.stem}.partial-*{path.suffix}")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all."""
    tmp = partial_path(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def partial_folder(path: Path) -> Path:
    """The hidden folder this process writes the files of ``path``, an output of many files, into:
    :func:`partial_path`'s name, made a folder (``path``'s name must hold no ``%``)."""
    return partial_path(path)


def move_into_place(folder: Path, moves: list[tuple[Path, Path]]) -> None:
    """Move each finished file of ``folder`` to its destination (a rename, one filesystem), then
    remove ``folder`` with whatever is left in it. Each file appears whole, and none before all are
    written."""
    for tmp, dst in moves:
        os.replace(tmp, dst)
    shutil.rmtree(folder, ignore_errors=True)
