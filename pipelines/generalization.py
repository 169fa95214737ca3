"""The independent test of generalization (issue 14), run alone: ``python pipelines/generalization.py``.

The test lives in :mod:`pipelines.benchmark.generalization` (a section of the benchmark); this
script runs it with the same options (``--quick``, ``--weights x2=PATH``, ``--json PATH``, ...),
as ``python -m pipelines.benchmark.generalization`` does.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repository, not pipelines/
    from pipelines.benchmark.generalization import main

    sys.exit(main())
