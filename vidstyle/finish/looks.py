"""The film looks vidstyle ships, and finding a look by name or path.

The bundled looks are ``.cube`` files in ``vidstyle/finish/looks/``, made by
``pipelines/make_looks.py`` from documented colour science (its docstring cites the sources);
each file's ``TITLE`` and first comment line say what it is. ``--look`` takes a bundled name or
the path of any ``.cube`` file, from Resolve, Premiere or a colourist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import LookError
from .cube import read_cube, read_cube_header
from .look import Look

__all__ = ["LookEntry", "bundled_looks", "load_look", "resolve_look"]


@dataclass(frozen=True)
class LookEntry:
    """A bundled look: ``name`` for ``--look``, its title, one line about it, its file."""

    name: str
    title: str
    summary: str
    path: Path


def _looks_dir() -> Path:
    return Path(str(resources.files("vidstyle.finish"))) / "looks"


def bundled_looks() -> list[LookEntry]:
    """The shipped looks, by name."""
    entries = []
    for path in sorted(_looks_dir().glob("*.cube")):
        title, comments = read_cube_header(path)
        entries.append(LookEntry(path.stem, title or path.stem, comments[0] if comments else "", path))
    return entries


def resolve_look(name_or_path: str | os.PathLike[str]) -> Path:
    """The file of a bundled look's name, or the ``.cube`` file given.

    Raises:
        LookError: neither a bundled name nor an existing file.
    """
    text = os.fspath(name_or_path)
    bundled = {e.name: e.path for e in bundled_looks()}
    if text in bundled:
        return bundled[text]
    path = Path(text)
    if path.is_file():
        return path
    names = ", ".join(bundled) or "none installed"
    raise LookError(f"unknown look {text!r}: not a file, nor a bundled look ({names})")


def load_look(name_or_path: str | os.PathLike[str]) -> Look:
    """A bundled look or a ``.cube`` file, parsed and ready for frames.

    Raises:
        LookError: unknown name, missing file, malformed ``.cube`` (the message says where).
    """
    path = resolve_look(name_or_path)
    return Look(read_cube(path), name=os.fspath(name_or_path))
