"""Film restoration: the synthetic old-film degradation model for training and measuring."""

from vidstyle.restore.degrade import DOWNSCALE_KERNELS, DegradeSettings, FilmDegrader, degrade_clip

__all__ = ["DOWNSCALE_KERNELS", "DegradeSettings", "FilmDegrader", "degrade_clip"]
