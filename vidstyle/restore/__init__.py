"""Film repair from the neighbouring frames, on the decoded frames before the network.

* :mod:`.stage`: the stage a run opens (:func:`~.stage.open_repair`): the flow to both neighbours,
  scene cuts, look-ahead, the parts below in order, and the report;
* :mod:`.spots`: dust and dirt, one-frame specks found against the motion-compensated neighbours
  (Kokaram's spike detection index with guards against real motion, and grey: a coloured blob, a
  spark or a tail light, is left) and filled from them;
* :mod:`.scratches`: vertical line scratches found from column profiles over frames and filled
  from both sides;
* :mod:`.flicker`: changes of brightness the content does not explain, measured along the flow and
  smoothed over the shot with look-ahead (a real fade keeps fading);
* :mod:`.grain`: film grain and noise, averaged with the motion-compensated neighbours where they
  show the same picture, its strength read from the frames themselves;
* :mod:`.grade`: optional levels and colour balance per shot (``--grade auto``);
* :mod:`.levels`: frames of either depth (RGB uint8, or uint16 for a source of more than 8 bits):
  the parts look at a frame's 8-bit view and write its pixels at its own depth.
"""

from .flicker import Deflicker, FlickerSettings
from .grade import Grader, GradeSettings
from .grain import GrainNeighbour, GrainSettings, average_grain, grain_sigma
from .scratches import ScratchSettings, ScratchTracker, column_candidates, repair_scratches
from .spots import SpotSettings, Swarm, feather_alpha, find_spots, luma, neutral_spots, repair_spots, spot_report
from .stage import RepairStage, open_repair, repair_context

__all__ = [
    "Deflicker",
    "FlickerSettings",
    "GradeSettings",
    "Grader",
    "GrainNeighbour",
    "GrainSettings",
    "RepairStage",
    "ScratchSettings",
    "ScratchTracker",
    "SpotSettings",
    "Swarm",
    "average_grain",
    "column_candidates",
    "feather_alpha",
    "find_spots",
    "grain_sigma",
    "luma",
    "neutral_spots",
    "open_repair",
    "repair_context",
    "repair_scratches",
    "repair_spots",
    "spot_report",
]
