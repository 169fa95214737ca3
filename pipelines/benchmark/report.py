"""The report: its Markdown, its targets, and ``--merge`` of a run into an earlier report.

A run writes a whole report of the sections it measured: ``--sections styles`` alone would
replace the full report with one of the styles only. ``--merge`` measures the ``--sections``
asked for, takes every other section from the existing JSON report (``--json``, default
docs/benchmarks.json) and writes the combined report, its targets worked out again over all of
the sections; the JSON (``measured_sections``, ``merged_from``) and a sentence at the top of the
Markdown say which sections this run measured and which came from the earlier run.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pipelines.benchmark.harness import BATCH_SIZE, BUSY_MACHINE_CORES, SCALE, SCRIPT, TORCH_THREADS
from pipelines.benchmark.markdown import status_cell, table
from pipelines.benchmark.sections import REGISTRY, SECTION_GROUPS, SECTIONS


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per target of the sections that ran: name, passed, and the figures behind it.

    ``passed`` is None where a target could not be measured (a learned model not shipped);
    ``status`` says PASS, FAIL or why not.
    """
    out = []
    for section in REGISTRY:
        if section.targets is not None and section.key in report:
            out += section.targets(report)
    for t in out:
        t.setdefault("status", {True: "PASS", False: "FAIL"}.get(t["passed"], "not measured"))
    return out


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown (docs/BENCHMARKS.md): the run, the targets, the machine, then
    each section that the report holds, in the registry's order."""
    m, plan = report["machine"], report["plan"]
    cores = m["cores_available"]
    quick = " **Quick smoke run: fewer frames and repeats, not reference figures.**"
    md: list[str] = ["# vidstyle benchmarks", ""]
    md += [
        f"Written by `python -m {SCRIPT}`; do not edit by hand. Command:",
        "",
        "```",
        report["command"],
        "```",
        "",
        *([merge_sentence(report), ""] if "merged_from" in report else []),
        f"Run on {m['date']}, {report['wall_seconds'] / 60:.1f} min wall."
        + (quick if plan["quick"] else "")
        + (f" Sections: {', '.join(report['sections'])}." if "sections" in report else ""),
        "Speeds are medians of interleaved repeats (the tables give the repeats and every run's "
        "fps); the machine is shared, so compare figures within this page, not across runs. "
        f"torch runs with `torch.set_num_threads({TORCH_THREADS})`; batches of {BATCH_SIZE} "
        f"frames; every model x{SCALE}"
        + (" (the held-out quality also x4)" if "quality" in report else "")
        + ". *cores* is process CPU time / wall time, all threads "
        f"counted. Other work kept {report['other_load_cores']:.2f} of the {cores} cores busy on "
        "average during the run (from /proc/stat, this process and its children left out).",
        "",
        "## Targets",
        "",
    ]
    if report["other_load_cores"] > BUSY_MACHINE_CORES:
        md += [
            f"> **Busy machine:** other work kept {report['other_load_cores']:.2f} of the {cores} "
            f"cores busy during this run, so these figures describe a machine with about "
            f"{max(cores - report['other_load_cores'], 0):.1f} free cores. Ratios between stages "
            "still hold within the run, but the overlap verdict is about those free cores, "
            f"not {cores}: rerun on an idle machine for the reference figures.",
            "",
        ]
    md += table(["target", "result", "figures"], [
        [t["name"], status_cell(t), t["figures"]] for t in report["targets"]
    ])

    md += ["## Machine", ""]
    md += table(["", ""], [
        ["CPU", m["cpu_model"]],
        ["cores", f"{cores} available ({m['cpu_count']} online)"],
        ["torch threads", m["torch_threads"]],
        ["OpenCV threads", m["opencv_threads"]],
        ["python", m["python"]],
        ["torch", m["torch"]],
        ["PyAV", f"{m['av']} (FFmpeg {m['ffmpeg']})"],
        ["libav", ", ".join(f"{k} {v}" for k, v in m["libav"].items())],
        ["OpenCV", m["opencv"]],
        ["numpy", m["numpy"]],
        ["vidstyle", m["vidstyle"]],
        ["platform", m["platform"]],
    ])

    for section in REGISTRY:
        if section.key in report:
            md += section.render(report)
    return "\n".join(md).rstrip() + "\n"


#: The top-level keys of a report that each section writes (``analysis`` is the pipeline's).
SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "pipeline": ("clip_info", "clips", "output_check", "memory", "analysis"),
    **{s: (s,) for s in SECTIONS if s != "pipeline"},
}
#: Sections that read ``report["learned"]``: the weights they measured.
LEARNED_SECTIONS = (*SECTION_GROUPS["models"], "temporal", "generalization")
#: The order of the top-level keys of a report, as run_benchmark writes them.
REPORT_KEYS = ("command", "sections", "measured_sections", "merged_from", "plan", "machine",
               "section_seconds", "clip_info", "clips", "output_check", "memory", "learned",
               *SECTIONS[1:], "targets", "analysis", "wall_seconds", "other_load_cores")


def report_sections(report: dict[str, Any]) -> list[str]:
    """The sections a report holds, in the order they run (from its keys, not its word)."""
    return [s for s in SECTIONS if SECTION_KEYS[s][0] in report]


def read_earlier_report(path: Path) -> dict[str, Any]:
    """The full report that ``--merge`` merges into; ValueError (one line) where there is none."""
    if not path.is_file():
        raise ValueError(f"--merge: {path} does not exist; run without --merge to write a whole "
                         "report first")
    try:
        earlier = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--merge: cannot read {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"--merge: {path} is not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(earlier, dict) or not all(
            isinstance(earlier.get(k), dict) for k in ("machine", "plan")):
        raise ValueError(f"--merge: {path} is not a benchmark report (no machine or plan)")
    if earlier["plan"].get("quick"):
        raise ValueError(f"--merge: {path} is a quick smoke run; merge only into a full report")
    return earlier


def same_machine(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two reports' machine facts agree, the date aside."""
    return ({k: v for k, v in a.items() if k != "date"}
            == {k: v for k, v in b.items() if k != "date"})


def merge_reports(earlier: dict[str, Any], now: dict[str, Any],
                  measured: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``now`` (a run of the sections ``measured``) with every other section of ``earlier``.

    The measured sections, the command, plan, machine and load are this run's; the other
    sections of ``earlier`` are copied unchanged, and ``merged_from`` says which they are and
    keeps the earlier run's command, date, wall time and load (and its machine and weights,
    where they differ from this run's). The targets are worked out again over all sections.
    """
    measured = [s for s in SECTIONS if s in measured]
    carried = [s for s in report_sections(earlier) if s not in measured]
    merged = copy.deepcopy(now)
    for section in carried:
        for key in SECTION_KEYS[section]:
            if key in earlier:
                merged[key] = copy.deepcopy(earlier[key])
    origin: dict[str, Any] = {
        "sections": carried,
        "command": earlier.get("command"),
        "date": earlier["machine"].get("date"),
        "wall_seconds": earlier.get("wall_seconds"),
        "other_load_cores": earlier.get("other_load_cores"),
    }
    if not same_machine(earlier["machine"], now["machine"]):
        origin["machine"] = copy.deepcopy(earlier["machine"])
    if "learned" in earlier and any(s in LEARNED_SECTIONS for s in carried):
        if "learned" not in merged:
            merged["learned"] = copy.deepcopy(earlier["learned"])
        elif merged["learned"] != earlier["learned"]:
            origin["learned"] = copy.deepcopy(earlier["learned"])
    if "merged_from" in earlier:  # the earlier report was a merge itself: keep its origins
        origin["merged_from"] = copy.deepcopy(earlier["merged_from"])
    seconds = {**earlier.get("section_seconds", {}), **now.get("section_seconds", {})}
    merged.update(
        sections=[s for s in SECTIONS if s in measured or s in carried],
        measured_sections=measured,
        merged_from=origin,
        section_seconds={s: seconds[s] for s in SECTIONS
                         if s in seconds and (s in measured or s in carried)},
    )
    merged["targets"] = targets(merged)
    order = {k: i for i, k in enumerate(REPORT_KEYS)}
    return dict(sorted(merged.items(), key=lambda kv: order.get(kv[0], len(order))))


def origin_clause(origin: dict[str, Any]) -> str:
    """One earlier run: its date, wall time and command."""
    minutes = (f", {origin['wall_seconds'] / 60:.1f} min wall"
               if isinstance(origin.get("wall_seconds"), (int, float)) else "")
    return (f"the run of {origin.get('date') or 'an unknown date'}{minutes} "
            f"(command `{origin.get('command') or 'unknown'}`)")


def carried_groups(origin: dict[str, Any], sections: list[str]) -> list[tuple[list[str], dict[str, Any]]]:
    """``sections`` grouped by the run that measured them, newest run first: down the chain of merges
    (``merged_from``), each section stays with the first run whose older report did not carry it."""
    groups: list[tuple[list[str], dict[str, Any]]] = []
    run, left = origin, list(sections)
    while left:
        older = run.get("merged_from", {})
        here = [s for s in left if s not in older.get("sections", [])]
        if here:
            groups.append((here, run))
        left = [s for s in left if s not in here]
        run = older
    return groups


def merge_sentence(report: dict[str, Any]) -> str:
    """One plain sentence on what a merged report measured in this run and what it kept."""
    origin = report["merged_from"]
    measured = ", ".join(report["measured_sections"]) or "none"
    carried = origin["sections"]
    text = f"Merged report: sections {measured} measured in this run (the command above); "
    if carried:
        groups = [f"{', '.join(names)} {'carried over ' if k == 0 else ''}from {origin_clause(run)}"
                  for k, (names, run) in enumerate(carried_groups(origin, carried))]
        text += "; ".join(groups) + "."
    else:
        text += f"nothing carried over from {origin_clause(origin)}."
    differs = [what for key, what in (("machine", "another machine or software versions"),
                                      ("learned", "other weights")) if key in origin]
    if differs:
        text += (f" The earlier run used {' and '.join(differs)} (`merged_from` in the JSON "
                 "report).")
    return text
