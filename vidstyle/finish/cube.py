"""Reading and writing ``.cube`` LUT files, the grading industry's exchange format.

The format is Adobe's *Cube LUT Specification* 1.0 (2013), which DaVinci Resolve, Premiere,
Nuke and OpenColorIO read and write: plain text, one keyword or one table entry a line.

* ``TITLE "text"``; ``# comment`` lines anywhere.
* ``LUT_3D_SIZE N`` (N from 2 to 256): a 3D table of N^3 entries, or ``LUT_1D_SIZE N`` (2 to
  65536): three curves of N entries. One of them, not both.
* ``DOMAIN_MIN r g b`` and ``DOMAIN_MAX r g b`` (default 0 0 0 and 1 1 1): the input range the
  table spans; Resolve's older ``LUT_3D_INPUT_RANGE lo hi`` / ``LUT_1D_INPUT_RANGE lo hi`` say
  the same for all three channels.
* then the entries, three numbers a line, output R G B, red changing fastest, then green,
  then blue: entry ``r + N g + N^2 b`` is the output for input grid point (r, g, b).

Anything else is refused with a one-line :class:`~vidstyle.errors.LookError` that names the file
and the line: an unknown keyword (such as a video-range flag whose meaning would be lost), a
keyword after the table, an entry that is not three finite numbers, a table of the wrong length
(a truncated file), a size out of range.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LookError
from ..io.atomic import write_text_atomic

__all__ = ["SIZES_1D", "SIZES_3D", "CubeLut", "identity_cube", "read_cube", "read_cube_header", "write_cube"]

#: The sizes the specification allows, inclusive.
SIZES_3D = (2, 256)
SIZES_1D = (2, 65536)


@dataclass(frozen=True)
class CubeLut:
    """A parsed ``.cube`` file.

    Attributes:
        title: its ``TITLE`` (empty when it has none).
        table: output RGB, float32; 3D: (N, N, N, 3) indexed ``[r, g, b]``; 1D: (N, 3), a curve
            per channel. Values are as written (the specification allows any finite number).
        domain_min, domain_max: the input range the grid spans, per channel.
        comments: the ``#`` lines before the first keyword or entry, without the ``#``.
    """

    title: str
    table: np.ndarray
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)
    comments: tuple[str, ...] = ()

    @property
    def is_3d(self) -> bool:
        return self.table.ndim == 4

    @property
    def size(self) -> int:
        return self.table.shape[0]


def identity_cube(size: int = 33, title: str = "identity") -> CubeLut:
    """The 3D table that gives every input back: grid point (r, g, b) holds (r, g, b) / (N - 1)."""
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    return CubeLut(title, np.stack([r, g, b], axis=-1))


class _Reader:
    """The state of one file's parse; errors name the file and the line."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.title = ""
        self.comments: list[str] = []
        self.seen_keyword = False
        self.sizes: dict[str, int] = {}
        self.domain = {"DOMAIN_MIN": (0.0, 0.0, 0.0), "DOMAIN_MAX": (1.0, 1.0, 1.0)}
        self.given: set[str] = set()
        self.rows: list[str] = []
        self.lines: list[str] = []

    def fail(self, line: int | None, message: str) -> LookError:
        where = f"{self.name}: line {line}: " if line else f"{self.name}: "
        return LookError(where + message)

    def numbers(self, line: int, words: list[str], count: int, what: str) -> tuple[float, ...]:
        if len(words) != count:
            raise self.fail(line, f"{what} takes {count} number(s), got {len(words)}")
        try:
            values = tuple(float(w) for w in words)
        except ValueError:
            raise self.fail(line, f"{what}: {' '.join(words)!r} is not {count} number(s)") from None
        if not all(math.isfinite(v) for v in values):
            raise self.fail(line, f"{what}: {' '.join(words)} is not finite")
        return values

    def keyword(self, line: int, key: str, words: list[str]) -> None:
        if self.rows:
            raise self.fail(line, f"keyword {key} after the table has begun")
        if key in self.given:
            raise self.fail(line, f"{key} is given twice")
        self.given.add(key)
        self.seen_keyword = True
        if key == "TITLE":
            text = " ".join(words)
            self.title = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text
        elif key in ("LUT_3D_SIZE", "LUT_1D_SIZE"):
            (value,) = self.numbers(line, words, 1, key)
            low, high = SIZES_3D if key == "LUT_3D_SIZE" else SIZES_1D
            if value != int(value) or not low <= value <= high:
                raise self.fail(line, f"{key} must be a whole number from {low} to {high}, got {words[0]}")
            self.sizes[key] = int(value)
        elif key in ("DOMAIN_MIN", "DOMAIN_MAX"):
            self.domain[key] = self.numbers(line, words, 3, key)
        elif key in ("LUT_3D_INPUT_RANGE", "LUT_1D_INPUT_RANGE"):
            low, high = self.numbers(line, words, 2, key)
            self.domain = {"DOMAIN_MIN": (low,) * 3, "DOMAIN_MAX": (high,) * 3}
        else:
            raise self.fail(line, f"unknown keyword {key}")

    def feed(self, lines: list[str]) -> None:
        self.lines = lines
        for number, raw in enumerate(lines, start=1):
            text, _, comment = raw.partition("#")
            words = text.split()
            if not words:
                if comment and not self.seen_keyword and not self.rows:
                    self.comments.append(comment.strip())
                continue
            if _KEYWORD.match(words[0]) and not _is_number(words[0]):  # NAN is an entry, not a keyword
                self.keyword(number, words[0], words[1:])
                continue
            if len(words) != 3:
                truncated = " (truncated?)" if len(words) < 3 else ""
                raise self.fail(number, f"a table entry is 3 numbers, got {len(words)}{truncated}: {text.strip()!r}")
            self.rows.append(text)

    def result(self) -> CubeLut:
        if len(self.sizes) == 2:
            raise self.fail(None, "both LUT_1D_SIZE and LUT_3D_SIZE: a shaper and a cube in one file is not supported")
        if not self.sizes:
            what = "a table but" if self.rows else "no table and"
            raise self.fail(None, f"{what} no LUT_3D_SIZE (or LUT_1D_SIZE): is it a .cube file?")
        (key, size), = self.sizes.items()
        expected = size**3 if key == "LUT_3D_SIZE" else size
        if len(self.rows) != expected:
            hint = " (truncated?)" if len(self.rows) < expected else ""
            raise self.fail(None, f"{key} {size} needs {expected} table entries, the file has "
                                  f"{len(self.rows)}{hint}")
        table = self.table()
        low, high = self.domain["DOMAIN_MIN"], self.domain["DOMAIN_MAX"]
        if not all(lo < hi for lo, hi in zip(low, high)):
            raise self.fail(None, f"DOMAIN_MIN {low} must be below DOMAIN_MAX {high} in every channel")
        if key == "LUT_3D_SIZE":  # written red fastest: [b, g, r] in reading order
            table = table.reshape(size, size, size, 3).transpose(2, 1, 0, 3)
        return CubeLut(self.title, np.ascontiguousarray(table, dtype=np.float32), low, high, tuple(self.comments))

    def table(self) -> np.ndarray:
        """The entries as (count, 3) float64, every one three finite numbers."""
        try:
            values = np.array(" ".join(self.rows).split(), dtype=np.float64).reshape(-1, 3)
        except ValueError:
            bad = next(i for i, row in enumerate(self.rows) if not all(map(_is_number, row.split())))
            raise self.fail(self.line_of(bad), f"a table entry is 3 numbers, got {self.rows[bad].strip()!r}") from None
        finite = np.isfinite(values).all(axis=1)
        if not finite.all():
            bad = int(np.argmin(finite))
            raise self.fail(self.line_of(bad), f"table entry {self.rows[bad].strip()!r} is not finite")
        return values

    def line_of(self, row: int) -> int:
        """The line number of table entry ``row`` (from 0); only on the way to an error."""
        seen = -1
        for number, raw in enumerate(self.lines, start=1):
            words = raw.partition("#")[0].split()
            if words and not (_KEYWORD.match(words[0]) and not _is_number(words[0])):
                seen += 1
                if seen == row:
                    return number
        return 0


_KEYWORD = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _text_of(path: Path) -> str:
    """The file's text; a one-line error for a missing, unreadable or binary file."""
    if not path.is_file():
        raise LookError(f"look file {path} not found")
    try:
        data = path.read_bytes()
    except OSError as ex:
        raise LookError(f"cannot read {path}: {ex.strerror or ex}") from ex
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LookError(f"{path.name}: not a text file, so not a .cube LUT") from None


def read_cube(path: str | os.PathLike[str]) -> CubeLut:
    """Parse a ``.cube`` file.

    Raises:
        LookError: the file is missing, unreadable, or not a well-formed 1D or 3D ``.cube``
            (the message names the line).
    """
    path = Path(path)
    reader = _Reader(path.name)
    reader.feed(_text_of(path).splitlines())
    return reader.result()


def read_cube_header(path: str | os.PathLike[str]) -> tuple[str, tuple[str, ...]]:
    """The ``TITLE`` and the leading ``#`` comments of a ``.cube`` file, without reading its table."""
    title, comments = "", []
    with open(path, encoding="utf-8-sig") as f:
        for raw in f:
            text, _, comment = raw.partition("#")
            words = text.split()
            if not words:
                if comment and not title:
                    comments.append(comment.strip())
                continue
            if words[0] != "TITLE":
                break
            title = " ".join(words[1:]).strip('"')
    return title, tuple(comments)


def _number(value: float) -> str:
    return f"{value:.6f}"


def write_cube(path: str | os.PathLike[str], lut: CubeLut) -> None:
    """Write ``lut`` as a ``.cube`` file: its comments, ``TITLE``, size, domain, then the
    entries with six decimals, red fastest; whole or not at all."""
    lines = [f"# {c}" if c else "#" for c in lut.comments]
    lines.append(f'TITLE "{lut.title}"')
    lines.append(f"LUT_{'3' if lut.is_3d else '1'}D_SIZE {lut.size}")
    lines.append("DOMAIN_MIN " + " ".join(_number(v) for v in lut.domain_min))
    lines.append("DOMAIN_MAX " + " ".join(_number(v) for v in lut.domain_max))
    rows = lut.table.transpose(2, 1, 0, 3).reshape(-1, 3) if lut.is_3d else lut.table
    lines += [" ".join(_number(v) for v in row) for row in rows.tolist()]
    write_text_atomic(Path(path), "\n".join(lines) + "\n")
