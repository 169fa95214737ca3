"""Small pieces of the Markdown report: tables, percentages, cells, the note on other load."""

from __future__ import annotations

from typing import Any

from pipelines.benchmark.harness import BUSY_MACHINE_CORES


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def overhead_pct(share: float) -> str:
    """A share with the digits that tell a small one from 0: 4.8%, 0.025%, 0%."""
    if share == 0:
        return "0%"
    return f"{100 * share:.2g}%" if share < 0.01 else f"{100 * share:.1f}%"


def mib(n: float) -> str:
    return f"{n / 2**20:.0f}"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def figure_cell(value: Any, fmt: str, scale: float = 1.0) -> str:
    if value is None:
        return ""
    if value == "inf":
        return "inf"
    return f"{value * scale:{fmt}}"


def status_cell(t: dict[str, Any]) -> str:
    status = t.get("status") or ("PASS" if t["passed"] else "FAIL")
    return {"PASS": "PASS", "FAIL": "**FAIL**"}.get(status, f"*{status}*")


def load_note(other_cores: float, cores: int, runs: str) -> list[str]:
    """A line on the other load during ``runs``, a warning when it was enough to skew the fps."""
    if other_cores > BUSY_MACHINE_CORES:
        return [f"> **Busy machine:** other work kept {other_cores:.2f} of the {cores} cores busy "
                f"during {runs}: the ratios hold within the run, the fps do not; rerun on an idle "
                "machine for the reference figures.", ""]
    return [f"Other work kept {other_cores:.2f} cores busy during {runs}.", ""]
