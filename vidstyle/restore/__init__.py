"""Film restoration: the synthetic old-film degradation model for training and measuring."""

from vidstyle.restore.degrade import DOWNSCALE_KERNELS, DegradeSettings, FilmDegrader, degrade_clip
from vidstyle.restore.video import degrade_video

__all__ = ["DOWNSCALE_KERNELS", "DegradeSettings", "FilmDegrader", "degrade_clip", "degrade_video"]
