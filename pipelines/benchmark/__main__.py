"""``python -m pipelines.benchmark`` and ``python pipelines/benchmark``: run the benchmark."""

import sys
from pathlib import Path

if not __package__:  # run as a folder: the repository first on the path, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from pipelines.benchmark.cli import main  # noqa: E402

sys.exit(main())
