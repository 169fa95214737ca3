"""The synthetic old-film damage model: the degradation that training and measuring apply."""

from vidstyle.damage.degrade import DOWNSCALE_KERNELS, DegradeSettings, FilmDegrader, degrade_clip

__all__ = ["DOWNSCALE_KERNELS", "DegradeSettings", "FilmDegrader", "degrade_clip"]
