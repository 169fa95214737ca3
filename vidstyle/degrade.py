"""``degrade_video`` (``vidstyle degrade``): a damaged (and downscaled) copy of a clean video, with its sound.

Test material and a demo: the same synthetic old-film model that trains the generator
(:mod:`vidstyle.damage`), applied to a whole file through the engine's loop
(:func:`vidstyle.engine.run_stages`) with the damage as its stage.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .config import SCALES, EncodeConfig, RangeConfig
from .damage.degrade import DegradeSettings, FilmDegrader
from .engine import run_stages
from .errors import ConfigError
from .io.reader import FrameBatch, VideoReader
from .io.writer import VideoWriter, check_output_path

__all__ = ["MAX_SEED", "degrade_video"]

#: The largest ``--seed`` (the damage model's random streams take a 63-bit seed).
MAX_SEED = 2**63 - 1


def degrade_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    seed: int = 0,
    scale: int = 1,
    settings: DegradeSettings | None = None,
    encode: EncodeConfig | None = None,
    range: RangeConfig | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
    fps: Fraction | None = None,
) -> dict[str, Any]:
    """Write a copy of ``src`` damaged like old film, downscaled by ``scale``.

    The damage model works on 8 bits: a source of more is read at 8 bits.

    Args:
        seed: picks the clip's damage (when ``settings`` is None) and its per-frame noise.
        scale: 1, 2 or 4; the output is the input size divided by it.
        settings: the damage; drawn at random from ``seed`` when None.
        fps: the rate of an image sequence whose files state none.

    Returns:
        a report: frames, seconds, the settings used.

    Raises:
        ConfigError: a seed below 0 or above 2**63 - 1, a scale other than 1, 2 or 4, or a frame
            size not divisible by ``scale``.
        VidstyleError: bad input or output, as for :func:`vidstyle.remaster`.
    """
    src, dst = Path(src), Path(dst)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed must be an integer from 0 to {MAX_SEED}, got {seed!r}")
    if scale not in SCALES:
        raise ConfigError(f"--downscale must be 1, 2 or 4, got {scale!r}")
    if settings is None:
        settings = DegradeSettings.random(np.random.default_rng(seed), scale=scale)
    elif settings.scale != scale:
        settings = dataclasses.replace(settings, scale=scale)
    check_output_path(dst, src=src, overwrite=overwrite)
    rng = range or RangeConfig()
    started = time.perf_counter()
    with VideoReader(src, start=rng.start, end=rng.end, frames=rng.frames, fps=fps, eight_bit=True) as reader:
        info = reader.info
        if info.width % scale or info.height % scale:
            raise ConfigError(
                f"--scale {scale} needs a frame size divisible by {scale}, "
                f"the input is {info.width}x{info.height}"
            )
        degrader = FilmDegrader(settings, seed=seed, height=info.height, width=info.width)

        def damage(batch: FrameBatch) -> np.ndarray:
            return np.stack([degrader.degrade(frame) for frame in batch.frames])

        with VideoWriter(
            dst, source=info, width=info.width // scale, height=info.height // scale,
            encode=encode or EncodeConfig(), trim=reader.is_range, overwrite=overwrite,
        ) as writer:
            run = run_stages(reader, damage, writer, progress=progress, total=reader.expected_frames)
    return {
        "input": str(src),
        "output": str(dst),
        "frames": run.frames,
        "seconds": round(time.perf_counter() - started, 3),
        "seed": seed,
        "scale": scale,
        "settings": dataclasses.asdict(settings),
    }
