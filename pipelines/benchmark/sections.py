"""The benchmark's sections, listed by hand in the order a run measures them and a report shows them.

Each section is a module of this package that defines ``SECTION``, a
:class:`~pipelines.benchmark.harness.Section`: its measurement, its targets and its Markdown.
Adding a section is adding such a module and one line to :data:`REGISTRY`.
"""

from __future__ import annotations

from pipelines.benchmark import (
    batch,
    depth,
    generalization,
    outside,
    picture,
    pipeline,
    precision,
    quality,
    repair,
    speed,
    styles,
    temporal,
    tiles,
)
from pipelines.benchmark.harness import Section

#: Every section, in the order a run measures them and the report shows them.
REGISTRY: tuple[Section, ...] = (
    pipeline.SECTION,
    quality.SECTION,
    speed.SECTION,
    picture.SECTION,
    temporal.SECTION,
    generalization.SECTION,
    repair.SECTION,
    batch.SECTION,
    tiles.SECTION,
    precision.SECTION,
    depth.SECTION,
    outside.SECTION,
    styles.SECTION,
)
BY_NAME = {section.name: section for section in REGISTRY}
if len(BY_NAME) != len(REGISTRY):
    raise RuntimeError(f"two sections of one name in {[s.name for s in REGISTRY]}")

#: What ``--sections`` accepts: single sections, and groups of them.
SECTIONS = tuple(BY_NAME)
SECTION_GROUPS = {"all": SECTIONS, "models": ("quality", "speed", "picture")}
