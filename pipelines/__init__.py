"""Scripts and tools around the vidstyle library: training, the benchmark, figures.

Each ``pipelines/NAME.py`` runs as ``python pipelines/NAME.py``; the benchmark is a package,
run as ``python -m pipelines.benchmark`` (or ``python pipelines/benchmark``). This file makes
``pipelines`` a package so that the tests and the benchmark import them by their full names.
"""
