"""Film repair from the neighbouring frames, on the decoded frames before the network.

* :mod:`.spots`: dust and dirt, one-frame specks found against the motion-compensated neighbours
  (Kokaram's spike detection index with guards against real motion) and filled from them;
* :mod:`.scratches`: vertical line scratches found from column profiles over frames and filled
  from both sides.
"""

from .scratches import ScratchSettings, ScratchTracker, column_candidates, repair_scratches
from .spots import SpotSettings, feather_alpha, find_spots, luma, repair_spots, spot_report

__all__ = [
    "ScratchSettings",
    "ScratchTracker",
    "SpotSettings",
    "column_candidates",
    "feather_alpha",
    "find_spots",
    "luma",
    "repair_scratches",
    "repair_spots",
    "spot_report",
]
