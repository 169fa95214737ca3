"""Finishing, after the network: a film look (a 3D LUT, :mod:`.look`) and film grain put back
(:mod:`.grain`), in that order (:mod:`.stage`). Bundled looks in :mod:`.looks`, the ``.cube``
format in :mod:`.cube`."""

from .cube import CubeLut, identity_cube, read_cube, write_cube
from .grain import FilmGrain
from .look import Look
from .looks import LookEntry, bundled_looks, load_look, resolve_look
from .stage import FinishStage, open_finish

__all__ = [
    "CubeLut",
    "FilmGrain",
    "FinishStage",
    "Look",
    "LookEntry",
    "bundled_looks",
    "identity_cube",
    "load_look",
    "open_finish",
    "read_cube",
    "resolve_look",
    "write_cube",
]
