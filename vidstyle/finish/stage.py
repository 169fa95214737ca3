"""The finishing stage of a run: the look, then the grain, on the network's output frames.

It runs on the calling thread after the temporal stage has made a batch's output, and never
feeds back: the temporal stage keeps and warps its own output, without look or grain, so grain
is not smeared from one frame into the next and a look is not applied twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import RemasterConfig
from .grain import FilmGrain
from .look import Look
from .looks import load_look

__all__ = ["FinishStage", "open_finish"]


@dataclass
class FinishStage:
    """What is put on the output after the network: a look, grain, or both."""

    look: Look | None
    grain: FilmGrain | None

    def __call__(self, frames: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """RGB (B, H, W, 3) finished, uint8 or uint16 (a source of more than 8 bits), a new array
        of the same dtype; ``pts`` (B,) the frames' timestamps."""
        if self.look is not None:
            frames = self.look(frames)
        if self.grain is not None:
            frames = self.grain(frames, pts)
        return frames


def open_finish(config: RemasterConfig) -> FinishStage | None:
    """The finishing stage ``config`` asks for; None when it asks for neither look nor grain.

    Raises:
        LookError: the look cannot be loaded.
    """
    look = load_look(config.look) if config.look else None
    grain = FilmGrain(config.grain) if config.grain.active else None
    if look is None and grain is None:
        return None
    return FinishStage(look, grain)
