"""Outputs that appear only when complete: the one rule for temporary names.

Every file vidstyle writes (videos, contact sheets, reports, joined segments) is written to a
hidden temporary beside its destination, ``.NAME.partial-PID.EXT``, and renamed over the
destination at the end, which is atomic on one filesystem. The extension is kept so that the
writer can still tell the container from the name. A killed run leaves only such temporaries,
which :func:`leftover_partials` finds for the batch driver to remove.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["leftover_partials", "partial_path", "write_text_atomic"]


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
