"""How hard a run measures each section: the plans of a full and of a quick (smoke) run."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from pipelines.benchmark.batch import BatchPlan
from pipelines.benchmark.harness import BATCH_SIZE, SCALE, TORCH_THREADS
from pipelines.benchmark.outside import OutsidePlan
from pipelines.benchmark.pipeline import ClipPlan
from pipelines.benchmark.quality import ModelsPlan
from pipelines.benchmark.sections import SECTION_GROUPS, SECTIONS
from pipelines.benchmark.styles import StylesPlan
from pipelines.benchmark.temporal import TemporalPlan


@dataclass(frozen=True)
class Plan:
    """How hard one run measures each section, and which sections it measures."""

    quick: bool
    clips: tuple[ClipPlan, ...]
    #: Lengths in seconds of the two looped clips of the memory check (short, long).
    rss_seconds: tuple[int, int]
    models: ModelsPlan
    temporal: TemporalPlan
    batch: BatchPlan
    styles: StylesPlan
    outside: OutsidePlan
    sections: tuple[str, ...] = SECTIONS


def make_plan(quick: bool, sections: tuple[str, ...] = SECTIONS) -> Plan:
    """The plan of a full run, or of a quick smoke run (``--quick``), of ``sections``."""
    if quick:
        return Plan(
            quick=True,
            clips=(ClipPlan("bikes.mp4", 48, 1, 1), ClipPlan("bigbuckbunny.mp4", 12, 1, 1)),
            rss_seconds=(2, 6),
            models=ModelsPlan(eval_frame_stride=20, speed_frames=4, speed_repeats=1, peak_calls=2,
                              e2e_frames=8, e2e_repeats=1),
            temporal=TemporalPlan(held_out_frames=12, e2e_frames=16, e2e_repeats=1),
            batch=BatchPlan(chunk_frames=60, clip_frames=8, rounds=1),
            styles=StylesPlan(held_out_frames=12, distance_stride=6, e2e_frames=8, e2e_repeats=1),
            outside=OutsidePlan(eval_frame_stride=20, held_out_frames=6, both_clips=False, e2e_frames=6,
                                e2e_repeats=1),
            sections=sections,
        )
    return Plan(
        quick=False,
        # bikes.mp4 carries the overlap target: more repeats against the noise of a shared box.
        clips=(ClipPlan("bikes.mp4", None, 5, 3), ClipPlan("bigbuckbunny.mp4", None, 3, 1)),
        rss_seconds=(10, 60),
        models=ModelsPlan(eval_frame_stride=1, speed_frames=8, speed_repeats=3, peak_calls=3,
                          e2e_frames=100, e2e_repeats=2),
        # The reuse / off speed ratio is a target: one repeat more than the context e2e figure.
        temporal=TemporalPlan(held_out_frames=None, e2e_frames=None, e2e_repeats=3),
        # Two rounds, local first in one and Ray first in the other.
        batch=BatchPlan(chunk_frames=None, clip_frames=50, rounds=2),
        # Every style runs beside remaster-x2 in each round: 120 frames keep the rounds short.
        styles=StylesPlan(held_out_frames=None, distance_stride=8, e2e_frames=120, e2e_repeats=2),
        # Real-ESRGAN's network is slow on the CPU (1.4 s a 320x136 frame at x4, 10 s a 640x360 one, on
        # 2 busy cores): every 5th held-out frame for the quality (24 of 117), 24 frames of each
        # damaged clip for the steadiness, so that the section fits in about half an hour here.
        outside=OutsidePlan(eval_frame_stride=5, held_out_frames=24, both_clips=True, e2e_frames=24,
                            e2e_repeats=2),
        sections=sections,
    )


def parse_sections(text: str) -> tuple[str, ...]:
    """``pipeline,quality`` / ``models`` / ``all`` -> the sections, in the order they run."""
    chosen: set[str] = set()
    for part in (p.strip() for p in text.split(",")):
        if part in SECTION_GROUPS:
            chosen.update(SECTION_GROUPS[part])
        elif part in SECTIONS:
            chosen.add(part)
        else:
            known = ", ".join([*SECTIONS, *SECTION_GROUPS])
            raise argparse.ArgumentTypeError(f"unknown section {part!r}; known: {known}")
    return tuple(s for s in SECTIONS if s in chosen)


def plan_facts(plan: Plan) -> dict[str, Any]:
    """The plan as a report records it."""
    return {"quick": plan.quick, "clips": [c.__dict__ for c in plan.clips],
            "rss_seconds": list(plan.rss_seconds), "torch_threads": TORCH_THREADS,
            "batch_size": BATCH_SIZE, "scale": SCALE, "models": plan.models.__dict__,
            "temporal": plan.temporal.__dict__, "batch": plan.batch.__dict__,
            "styles": plan.styles.__dict__, "outside": plan.outside.__dict__}
