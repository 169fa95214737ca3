"""Measure how fast vidstyle remasters, stage by stage, and how much memory it holds.

The benchmark of the project, one module per section (:mod:`pipelines.benchmark.sections` lists
them): the pipeline's stages, overlap, memory and output (``pipeline``); the learned models'
held-out quality (``quality``), speed (``speed``) and picture (``picture``); the temporal stage
(``temporal``); an independent test of generalization (``generalization``); film repair from the
neighbouring frames (``repair``); the batch runner (``batch``); the bundled styles (``styles``);
Real-ESRGAN's video model brought through ``--model`` (``outside``).
Each section's module says what it measures and holds its targets and its part of the report.

The machine is small and shared (2 cores here), so absolute figures drift from run to run: every
speed is the median of a few interleaved repeats and the targets are ratios between figures
measured in the same run (:mod:`pipelines.benchmark.harness`).

Run from the repository root (``python pipelines/benchmark ...`` runs the same)::

    python -m pipelines.benchmark          # full run (about 20 min): docs/BENCHMARKS.md, .json
    python -m pipelines.benchmark --quick  # smoke run (a few min): runs/benchmark-quick.md, .json
    python -m pipelines.benchmark --sections models   # quality, speed, picture only
    python -m pipelines.benchmark --sections pipeline # the stage, memory and output checks only
    python -m pipelines.benchmark --sections temporal # off / blend / reuse only (about 10 min)
    python -m pipelines.benchmark --sections batch    # chunking and Ray vs local (about 4 min)
    python -m pipelines.benchmark --sections styles   # every bundled style (about 5 min a style)
    python -m pipelines.benchmark --sections generalization --merge  # issue 14's test (~5 min)
    python -m pipelines.benchmark --sections styles --merge  # styles anew, the rest kept
    python -m pipelines.benchmark --sections repair --merge  # issue 16: --repair auto against off
    python -m pipelines.benchmark --sections outside --merge # issue 17: Real-ESRGAN via --model (~1 h)

``--merge`` measures the sections asked for and keeps every other one of the existing report
(:mod:`pipelines.benchmark.report`). ``python -m pipelines.benchmark.generalization`` (or
``python pipelines/generalization.py``) runs the generalization test alone.
"""
