"""``remaster``: decode -> model -> encode, three stages that overlap.

The reader decodes on its thread and the writer encodes on its thread; the
calling thread moves batches through the model in between. Bounded queues join
the stages, so memory is queue depth x batch size frames whatever the length of
the film, and decoding and encoding hide behind the network.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import RemasterConfig
from .io.reader import VideoReader
from .io.writer import VideoWriter, check_output_path
from .models.descriptor import ModelDescriptor, run_frames
from .models.registry import resolve_device
from .style.catalog import model_for
from .temporal.stage import open_temporal

__all__ = ["ProgressCallback", "RemasterResult", "remaster", "run_frames", "open_stages"]

log = logging.getLogger(__name__)

#: Called after each batch with (frames done, frames expected or None).
ProgressCallback = Callable[[int, "int | None"], None]


@dataclass
class RemasterResult:
    """What a run did, for reports. Times in seconds; fps = frames / seconds."""

    input: Path
    output: Path
    frames: int
    seconds: float
    fps: float
    model: dict[str, Any]
    settings: dict[str, Any]
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    temporal: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": str(self.input),
            "output": str(self.output),
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 3),
            "input_size": list(self.input_size),
            "output_size": list(self.output_size),
            "model": self.model,
            "settings": self.settings,
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "warnings": self.warnings,
            "temporal": self.temporal,
        }


def open_stages(
    src: Path, dst: Path, config: RemasterConfig, *, width_factor: int = 1
) -> tuple[VideoReader, ModelDescriptor, VideoWriter]:
    """Check the paths, load the model and open the reader and writer for a run.

    ``width_factor`` widens the output (2 for preview's side-by-side video).
    """
    check_output_path(dst, src=src, overwrite=config.overwrite)
    device = resolve_device(config.device)
    model = model_for(config, device)
    rng = config.range
    reader = VideoReader(
        src,
        start=rng.start,
        end=rng.end,
        frames=rng.frames,
        batch_size=config.batch_size,
        queue_depth=config.queue_depth,
    )
    info = reader.info
    try:
        writer = VideoWriter(
            dst,
            source=info,
            width=info.width * config.scale * width_factor,
            height=info.height * config.scale,
            encode=config.encode,
            trim=reader.is_range,
            overwrite=config.overwrite,
            queue_depth=config.queue_depth,
        )
    except BaseException:
        reader.close()
        raise
    return reader, model, writer


def remaster(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    config: RemasterConfig | None = None,
    progress: ProgressCallback | None = None,
) -> RemasterResult:
    """Remaster ``src`` into ``dst``: decode, run the model, encode with the sound copied.

    The output has the frames and timestamps of the selected range of the input,
    its colour tags, pixel aspect ratio and rotation, and its audio and subtitle
    streams. It appears at ``dst`` only when complete.

    Args:
        src: input video file; never modified.
        dst: output file; the extension picks the container (.mp4, .mkv, .mov ...).
        config: settings; the defaults upscale x2.
        progress: called after each batch with (frames done, frames expected).

    Returns:
        a :class:`RemasterResult` (frames, seconds, fps, settings ...).

    Raises:
        VidstyleError: a subclass for each kind of bad input or failure.
    """
    config = config or RemasterConfig()
    src, dst = Path(src), Path(dst)
    started = time.perf_counter()
    reader, model, writer = open_stages(src, dst, config)
    info = reader.info
    compute_seconds = 0.0
    with reader, writer:
        temporal = open_temporal(config.temporal, model)
        total = reader.expected_frames
        done = 0
        for batch in temporal.batches(reader, depth=config.queue_depth):
            tick = time.perf_counter()
            out = temporal.run(batch)
            compute_seconds += time.perf_counter() - tick
            writer.write(out, batch.pts)
            done += len(batch)
            if progress is not None:
                progress(done, total)
        writer.commit()
    seconds = time.perf_counter() - started
    warnings = []
    if reader.truncated:
        warnings.append(f"{src.name} ended after {done} frames, fewer than its container lists: truncated?")
    log.info("wrote %s: %d frames in %.1f s (%.2f fps)", dst, done, seconds, done / max(seconds, 1e-9))
    return RemasterResult(
        input=src,
        output=dst,
        frames=done,
        seconds=seconds,
        fps=done / max(seconds, 1e-9),
        model=model.describe(),
        settings=config.to_dict(),
        input_size=(info.width, info.height),
        output_size=(writer.width, writer.height),
        stage_seconds={
            "decode": reader.busy_seconds,
            "model": compute_seconds,
            "encode": writer.busy_seconds,
        },
        warnings=warnings,
        temporal=temporal.report(),
    )
