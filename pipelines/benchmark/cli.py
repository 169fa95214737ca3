"""``python -m pipelines.benchmark``: the command line, and one run of the chosen sections."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import pipelines.benchmark
from pipelines.benchmark.harness import REPO_ROOT, SCRIPT, TORCH_THREADS, Context, LoadSnapshot, machine_info
from pipelines.benchmark.learned import load_learned
from pipelines.benchmark.plan import Plan, make_plan, parse_sections, plan_facts
from pipelines.benchmark.report import merge_reports, merge_sentence, read_earlier_report, render_markdown, targets
from pipelines.benchmark.sections import REGISTRY, SECTION_GROUPS, SECTIONS

DEFAULT_MD = REPO_ROOT / "docs" / "BENCHMARKS.md"
DEFAULT_JSON = REPO_ROOT / "docs" / "benchmarks.json"
QUICK_MD = REPO_ROOT / "runs" / "benchmark-quick.md"
QUICK_JSON = REPO_ROOT / "runs" / "benchmark-quick.json"
DEFAULT_PICTURE = REPO_ROOT / "docs" / "images" / "compare.png"
QUICK_PICTURE = REPO_ROOT / "runs" / "benchmark-quick-compare.png"


def run_benchmark(
    plan: Plan, command: str, *, weights: dict[int, Path | None] | None = None,
    picture: Path = DEFAULT_PICTURE, style_weights: list[Path] | None = None,
) -> dict[str, Any]:
    """Measure the plan's sections in the order of the registry; the whole report, targets and
    all, as the JSON file holds it."""
    started = time.perf_counter()
    load = LoadSnapshot.take()
    chosen = [section for section in REGISTRY if section.name in plan.sections]
    ctx = Context(plan=plan, weights=weights or {}, picture=picture, style_weights=style_weights)
    for section in chosen:  # a bad --style-weights file stops the run before anything is measured
        if section.prepare is not None:
            section.prepare(ctx)
    report: dict[str, Any] = {
        "command": command,
        "sections": list(plan.sections),
        "plan": plan_facts(plan),
        "machine": machine_info(),
        "section_seconds": {},
    }
    with tempfile.TemporaryDirectory(prefix="vidstyle-bench-") as tmp_name:
        ctx.tmp = Path(tmp_name)
        for section in chosen:
            if section.uses_learned and ctx.learned is None:  # loaded once, outside any section's time
                ctx.learned = load_learned(ctx.weights)
                report["learned"] = {str(k): v.describe() if v else None for k, v in ctx.learned.items()}
            tick = time.perf_counter()
            report.update(section.measure(ctx))
            report["section_seconds"][section.name] = time.perf_counter() - tick
    report["targets"] = targets(report)
    for section in chosen:
        if section.conclude is not None:
            report.update(section.conclude(report))
    report["wall_seconds"] = time.perf_counter() - started
    report["other_load_cores"] = load.other_cores(LoadSnapshot.take())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.benchmark",
                                     description=pipelines.benchmark.__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: a few frames, one repeat, short memory clips, every "
                             "20th held-out frame")
    parser.add_argument("--sections", type=parse_sections, default=SECTIONS,
                        metavar="NAME[,NAME...]",
                        help=f"what to measure: {', '.join(SECTIONS)}, or the groups models "
                             f"({', '.join(SECTION_GROUPS['models'])}) and all (default)")
    parser.add_argument("--weights-x2", type=Path, default=None, metavar="PATH",
                        help="measure this .safetensors (with its card) as remaster-x2 instead "
                             "of the shipped weights/remaster-x2.safetensors")
    parser.add_argument("--weights-x4", type=Path, default=None, metavar="PATH",
                        help="the same for remaster-x4")
    parser.add_argument("--style-weights", type=Path, nargs="+", default=None, metavar="PATH",
                        help="measure these style .safetensors (each with its card) in the "
                             "styles section instead of the bundled styles")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"Markdown report (default {DEFAULT_MD.relative_to(REPO_ROOT)}; "
                             f"with --quick {QUICK_MD.relative_to(REPO_ROOT)})")
    parser.add_argument("--json", type=Path, default=None,
                        help=f"JSON results (default {DEFAULT_JSON.relative_to(REPO_ROOT)}; "
                             f"with --quick {QUICK_JSON.relative_to(REPO_ROOT)})")
    parser.add_argument("--merge", action="store_true",
                        help="measure only --sections and take every other section from the "
                             "existing JSON report (--json); write the combined report")
    parser.add_argument("--picture", type=Path, default=None,
                        help=f"comparison picture (default {DEFAULT_PICTURE.relative_to(REPO_ROOT)}"
                             f"; with --quick {QUICK_PICTURE.relative_to(REPO_ROOT)})")
    args = parser.parse_args(argv)
    if args.merge and args.quick:
        parser.error("--merge takes no --quick: it merges into a full report")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    torch.set_num_threads(TORCH_THREADS)
    md_path = args.out or (QUICK_MD if args.quick else DEFAULT_MD)
    json_path = args.json or (QUICK_JSON if args.quick else DEFAULT_JSON)
    picture = args.picture or (QUICK_PICTURE if args.quick else DEFAULT_PICTURE)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "-m", SCRIPT, *given])
    earlier = None
    if args.merge:  # read before measuring anything: a missing or bad report stops here
        try:
            earlier = read_earlier_report(json_path)
        except ValueError as e:
            parser.error(str(e))

    report = run_benchmark(make_plan(args.quick, args.sections), command,
                           weights={2: args.weights_x2, 4: args.weights_x4}, picture=picture,
                           style_weights=args.style_weights)
    if "path" in report.get("picture", {}):
        report["picture"]["link"] = os.path.relpath(picture.resolve(), md_path.resolve().parent)
    measured_seconds = dict(report["section_seconds"])
    if earlier is not None:
        report = merge_reports(earlier, report, args.sections)
    for path in (md_path, json_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(render_markdown(report))
    for t in report["targets"]:
        print(f"{t['status'].upper():<11} {t['name']}: {t['figures']}")
    print(f"wrote {md_path} and {json_path} in {report['wall_seconds']:.0f} s "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in measured_seconds.items())})")
    if earlier is not None:
        print(merge_sentence(report))
    return 0
