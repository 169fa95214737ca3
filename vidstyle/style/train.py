"""Moved: style training is :mod:`vidstyle.train.style` (issue 15, the layout redesign).

Only a forwarding module, for the callers that still import from here (the benchmark and two
test files, re-pointed when the layout's branches are merged); delete it then.
"""

from ..train.style import *  # noqa: F403
from ..train.style import __all__  # noqa: F401
