"""The layout's rules (docs/ARCHITECTURE.md), read from the source: floors and public names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The floors of docs/ARCHITECTURE.md, from the ground up: the first name of a module under
#: vidstyle/ (a package or a top-level module) and its floor.
FLOORS = {
    **dict.fromkeys(["errors", "config", "timecode", "version", "quality", "threads", "samples", "data"], 0),
    "io": 1,
    "models": 2,
    "damage": 3,
    "style": 3,
    "temporal": 4,
    "restore": 5,
    "finish": 5,
    **dict.fromkeys(["engine", "preview", "degrade"], 6),
    "batch": 7,
    "train": 8,
    **dict.fromkeys(["cli", "cli_options", "__main__"], 9),
}


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, names) of each ``from ... import`` of vidstyle in ``path``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = parts if parts[-1] == "__init__" else parts[:-1]
    package = [p for p in package if p != "__init__"]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        elif node.module and node.module.split(".")[0] == "vidstyle":
            module = node.module
        else:
            continue
        found.append((node.lineno, module, [alias.name for alias in node.names]))
    return found


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the package root, the facade


SOURCES = sorted((ROOT / "vidstyle").rglob("*.py"))


def test_every_room_has_a_floor():
    rooms = {p.relative_to(ROOT / "vidstyle").parts[0].removesuffix(".py") for p in SOURCES}
    assert rooms - {"__init__"} <= set(FLOORS), f"rooms without a floor: {rooms - set(FLOORS) - {'__init__'}}"


@pytest.mark.parametrize("path", [p for p in SOURCES if p.name != "__init__.py" or p.parent.name != "vidstyle"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_from_a_higher_floor(path):
    own = path.relative_to(ROOT / "vidstyle").parts[0].removesuffix(".py")
    upward = [f"line {line}: {module}" for line, module, _ in imports(path)
              if room(module) is None or FLOORS[room(module)] > FLOORS[own]]
    assert not upward, f"{path.name} (floor {FLOORS[own]}) imports from above: {upward}"


@pytest.mark.parametrize("folder", ["vidstyle", "pipelines"])
def test_no_private_name_is_imported_from_another_package(folder):
    private = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        own = ".".join(path.relative_to(ROOT).parts[:-1])
        for line, module, names in imports(path):
            other = module if (ROOT / Path(*module.split("."))).is_dir() else module.rpartition(".")[0]
            private += [f"{path.relative_to(ROOT)}:{line} {module}.{name}" for name in names
                        if name.startswith("_") and not name.startswith("__") and other != own]
    assert not private


def test_the_floor_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The check above can fail: an io module importing the engine is caught."""
    fake = ROOT / "vidstyle" / "io" / "reader.py"
    source = fake.read_text() + "\nfrom ..engine import run_stages\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source if self == fake else _read(self))
    with pytest.raises(AssertionError, match="imports from above"):
        test_no_import_from_a_higher_floor(fake)


_read = Path.read_text
