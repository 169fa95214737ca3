"""The pieces the ``vidstyle`` commands share: option types, the model and encoding options of
remaster and preview with the config they build (checked whole before any work), the progress
bar and ``--report``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from .config import (
    DEFAULT_MODEL,
    DEFAULT_SCALE,
    DEVICES,
    FLOW_PRESET_NAMES,
    GRAIN_SIZES,
    GRAIN_STRENGTHS,
    ON_DAMAGE,
    PRECISIONS,
    REPAIR_MODES,
    REPAIR_PARTS,
    SCALES,
    TEMPORAL_MODES,
    EncodeConfig,
    GrainConfig,
    RangeConfig,
    RemasterConfig,
    RepairConfig,
    TemporalConfig,
)
from .errors import ConfigError, OutputError, VidstyleError
from .io.atomic import write_text_atomic
from .io.writer import check_encoder, check_output_path
from .models.descriptor import ModelDescriptor
from .models.outside import PURPOSES
from .models.registry import is_model_file, load_model
from .timecode import TimePoint, parse_frame_rate, parse_timepoint
from .version import __version__

__all__ = [
    "FPS_HELP", "FrameRateType", "TileType", "TimeType", "build_config", "check_report_path",
    "model_and_encode_options", "model_facts", "model_line", "parse_key_value", "plural", "progress_bar",
    "repair_line", "usage_errors", "write_report",
]


class TimeType(click.ParamType):
    """HH:MM:SS(.mmm), seconds, or a frame number fN."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> TimePoint:
        if isinstance(value, TimePoint):
            return value
        try:
            return parse_timepoint(value)
        except VidstyleError as ex:
            self.fail(str(ex), param, ctx)


class TileType(click.ParamType):
    """``--tile``: a tile side in input pixels, ``0`` or ``off`` (whole frames), or ``auto``."""

    name = "SIZE|auto|off"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        text = str(value).strip().lower()
        if text in ("auto", "off"):
            return 0 if text == "off" else text
        if text.isdecimal() and len(text) <= 9:  # (isdigit() takes '²', which int() does not)
            return int(text)
        self.fail(f"expected a tile size in pixels (e.g. 512), 0 or off, or auto, got {value!r}", param, ctx)


class FrameRateType(click.ParamType):
    """A frame rate: 24, 23.976, 24000/1001."""

    name = "FPS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Fraction:
        try:
            return parse_frame_rate(value)
        except VidstyleError as ex:
            self.fail(str(ex), param, ctx)


#: ``--fps``, on every command that reads an input.
FPS_HELP = ("The frame rate of an image sequence (INPUT a pattern such as scans/reel_%06d.dpx, or a "
            "folder of numbered frames): 24, 25, 23.976 or 24000/1001. Needed for TIFF, PNG and EXR "
            "frames, which hold none; a DPX header's rate is used when it states one.")


def parse_key_value(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> tuple:
    """``-x KEY=VALUE`` options as ((key, value), ...); a usage error for anything else."""
    pairs = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {item!r}", ctx, param)
        pairs.append((key, value))
    return tuple(pairs)


def check_look(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--look``: the file is read here, so that a malformed ``.cube`` is a usage error before
    anything is written. A bundled name stays a name, a file becomes its absolute path (batch
    workers may start elsewhere)."""
    if value is None:
        return None
    from .finish.cube import read_cube  # noqa: PLC0415
    from .finish.looks import bundled_looks, resolve_look  # noqa: PLC0415

    try:
        read_cube(resolve_look(value))
    except VidstyleError as ex:
        raise click.BadParameter(str(ex), ctx, param) from ex
    return value if value in {e.name for e in bundled_looks()} else str(Path(value).resolve())


def parse_grain(ctx: click.Context, param: click.Parameter, value: str | None) -> GrainConfig:
    """``--grain STRENGTH[:SIZE]`` as a GrainConfig; a usage error for anything else."""
    if value is None:
        return GrainConfig()
    try:
        return GrainConfig.parse(value)
    except VidstyleError as ex:
        raise click.BadParameter(str(ex), ctx, param) from ex


def model_and_encode_options(func: Callable) -> Callable:
    """Options shared by remaster and preview."""
    options = [
        click.option("--scale", type=click.Choice([str(s) for s in SCALES]), default=None,
                     help=f"Upscaling factor [default: {DEFAULT_SCALE}, or a model file's own scale, "
                          "which --scale must match]."),
        click.option("--model", default=DEFAULT_MODEL, show_default=True, metavar="NAME|FILE",
                     help="auto (the remaster model for the scale), a name from `vidstyle models`, "
                          "or a weights file: ours (.safetensors with its card), or a .pth, .pt, .ckpt "
                          "or .safetensors of any architecture spandrel detects (ESRGAN, Real-ESRGAN "
                          "Compact, SwinIR, HAT, DAT, SPAN, OmniSR, RealCUGAN ...; 1x restorers "
                          "too). See what a file is with `vidstyle models --inspect FILE`."),
        click.option("--style", default=None, metavar="NAME|PATH",
                     help="Paint in a style while restoring and upscaling: a name from `vidstyle "
                          "styles`, or a file made by `vidstyle train-style`."),
        click.option("--style-strength", type=click.FloatRange(0.0, 1.0), default=1.0, show_default=True,
                     metavar="S", help="With --style: 1 the full style, lower blends toward the plain "
                                       "remaster (0: no style)."),
        click.option("--look", default=None, metavar="NAME|FILE.cube", callback=check_look,
                     help="A film look applied after the network: a 3D LUT (.cube, from Resolve, "
                          "Premiere or a colourist) or a bundled look from `vidstyle styles` "
                          "(two-strip-technicolor, bleach-bypass, sepia-toning, ...)."),
        click.option("--grain", default=None, metavar="STRENGTH[:SIZE]", callback=parse_grain,
                     help="Put film grain back after restoration (and the look): STRENGTH its RMS in "
                          f"levels of 255 at mid-grey ({GRAIN_STRENGTHS[0]:g}-{GRAIN_STRENGTHS[1]:g}; "
                          "3 is fine, 8 heavy), SIZE its grain in output pixels "
                          f"({GRAIN_SIZES[0]:g}-{GRAIN_SIZES[1]:g}, default 1). New in every frame, "
                          "strongest in the mid-tones; e.g. --grain 4:1.5."),
        click.option("--codec", default="libx264", show_default=True,
                     help="Video encoder: libx264, libx265, ffv1, prores_ks or any libav encoder."),
        click.option("--crf", type=click.IntRange(0, 63), default=18, show_default=True,
                     help="Quality for x264/x265/VP9/AV1 (lower is better, bigger)."),
        click.option("--preset", default="medium", show_default=True,
                     help="Encoder speed preset for x264/x265/SVT-AV1 (ultrafast ... veryslow)."),
        click.option("--pix-fmt", default=None,
                     help="Output pixel format [default: yuv420p, or the codec's nearest; 10 bits (yuv420p10le) "
                          "for a source of more than 8 bits; gbrp10le for .dpx frames, rgb48le for .tif]."),
        click.option("-x", "encoder_options", multiple=True, metavar="KEY=VALUE", callback=parse_key_value,
                     help="Extra encoder option, repeatable (e.g. -x tune=grain); checked against the "
                          "encoder's options before any work."),
        click.option("--allow-unknown-encoder-options", is_flag=True,
                     help="Pass on -x options the encoder does not list (libav ignores them) instead "
                          "of refusing them."),
        click.option("--temporal", type=click.Choice(TEMPORAL_MODES), default="auto", show_default=True,
                     help="Consistency between frames. reuse: keyframes run the whole network, the "
                          "frames between reuse their features warped by optical flow (faster, and "
                          "steadier on damaged film; the remaster models). blend: mix the warped previous output into "
                          "each frame (any model, model files too). off: every frame on its own. auto: "
                          "reuse when the model can and reuse was measured faster on the device (the "
                          "CPU; on a GPU off), else off; --report says why. auto's reuse runs the whole "
                          "network on frames of a source that reads clean (no grain from frame to frame), "
                          "where reusing would only cost detail; reuse reuses regardless."),
        click.option("--keyframe-interval", type=click.IntRange(min=1), default=4, show_default=True,
                     metavar="K", help="With reuse, run the whole network at least every K frames "
                                       "(also at scene cuts and where the flow fails)."),
        click.option("--flow-preset", type=click.Choice(FLOW_PRESET_NAMES), default="fine",
                     show_default=True, help="Optical flow (OpenCV DIS) of the temporal stage, fastest "
                     "to finest; fine follows fine detail best (the repair stage keeps medium)."),
        click.option("--blend-strength", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.7,
                     show_default=True, help="With reuse and blend: weight of the earlier output, "
                     "warped by the flow, mixed in where the flow holds and the pictures agree "
                     "(0: no mixing; higher: steadier)."),
        click.option("--blend-tolerance", type=click.FloatRange(0.0, 255.0, min_open=True), default=None,
                     metavar="LEVELS", help="With reuse and blend: colour difference (0-255) at "
                     "which the earlier output is no longer mixed in; higher: steadier, but more "
                     "trailing where the flow errs [default: the model's: 24, a style's card "
                     "names its own]."),
        click.option("--repair", type=click.Choice(REPAIR_MODES), default="auto", show_default=True,
                     help="auto: mend damage of one frame from its neighbours along the optical flow, "
                          "before the network: dust and dirt (specks the frames either side do not have), "
                          "line scratches, flicker, grain (averaged with the neighbours where they show the "
                          "same picture). See what it touched with `vidstyle preview --show-repair`. "
                          "off: the frames go to the network as decoded (about a fifth faster; for "
                          "footage with no film damage)."),
        click.option("--repair-parts", default="all", show_default=True, metavar="PARTS",
                     help=f"With --repair auto: a comma list of {', '.join(REPAIR_PARTS)} (or all, none)."),
        click.option("--grade", type=click.Choice(["off", "auto"]), default="off", show_default=True,
                     help="auto: correct faded levels and colour casts per shot (the models keep the "
                          "tone they are given)."),
        click.option("--on-damage", type=click.Choice(ON_DAMAGE), default="warn", show_default=True,
                     help="A damaged source (frames that fail to decode or decode with errors, a file "
                          "that ends early). warn: go on, say how many frames of which stream and "
                          "which ones (a warning, --report, the batch manifest and --status). fail: "
                          "stop with an error and write nothing. conceal: as warn, and a frame that "
                          "fails to decode is replaced by the one before, so the frame count and "
                          "timing stay exact. Frames decoded with errors are kept as decoded."),
        click.option("--fps", type=FrameRateType(), default=None, help=FPS_HELP),
        click.option("--batch-size", type=click.IntRange(1, 256), default=4, show_default=True,
                     help="Frames per network call."),
        click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                     help="Where the network runs."),
        click.option("--tile", type=TileType(), default="off", show_default=True, metavar="SIZE|auto|off",
                     help="Run the network on overlapping squares of SIZE input pixels, blended without "
                          "seams, so that memory stays flat however large the frame (4K and up). auto: tile "
                          "only when a whole frame would not fit in a quarter of the free memory. Tiles "
                          "overlap by twice the model's reach plus 16 px (80 px for the remaster models), "
                          "which is extra work: tiles of 512 send 1.4x the pixels of a 4K frame through the "
                          "network. --temporal reuse runs as blend on tiled frames."),
        click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
                     help="What the network computes in. auto: fp16 on CUDA and bf16 on a CPU with bf16 "
                          "instructions (up to 1.4x faster than fp32 here), for the models that keep their picture "
                          "in it (50 dB or more against fp32: the remaster models in both, the styles in fp16 "
                          "only), else fp32. --temporal reuse runs in fp32."),
        click.option("--overwrite", is_flag=True, help="Replace an existing output file."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary."),
        click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Write what was done (frames, fps, settings ...) to this JSON file."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_config(kw: dict[str, Any], *, start: TimePoint | None = None, end: TimePoint | None = None,
                 frames: int | None = None, output: Path | None = None) -> RemasterConfig:
    """The RemasterConfig of the options of :func:`model_and_encode_options`, over a range.

    Settings that do not fit together (``--end`` before ``--start``, an unknown repair part) and
    encoder options the encoder does not know or refuses are usage errors (exit 2), found here
    before any file is read; ``output``'s encoder is checked (an image sequence's is the one its
    extension picks).
    """
    with usage_errors():
        config = _config_of(kw, RangeConfig(start=start, end=end, frames=frames))
        check_encoder(config.encode, allow_unknown=kw["allow_unknown_encoder_options"], output=output)
    return config


@contextmanager
def usage_errors() -> Iterator[None]:
    """Settings refused by the library's config classes (:class:`ConfigError`) as usage errors."""
    try:
        yield
    except ConfigError as ex:
        raise click.UsageError(str(ex), ctx=click.get_current_context(silent=True)) from ex


def _config_of(kw: dict[str, Any], rng: RangeConfig) -> RemasterConfig:
    encode = EncodeConfig(
        codec=kw["codec"],
        crf=kw["crf"],
        preset=kw["preset"],
        pix_fmt=kw["pix_fmt"],
        options=kw["encoder_options"],
    )
    return RemasterConfig(
        scale=_scale(kw),
        model=kw["model"],
        batch_size=kw["batch_size"],
        device=kw["device"],
        range=rng,
        encode=encode,
        temporal=TemporalConfig(
            mode=kw["temporal"],
            keyframe_interval=kw["keyframe_interval"],
            flow_preset=kw["flow_preset"],
            blend_strength=kw["blend_strength"],
            blend_tolerance=kw["blend_tolerance"],
        ),
        repair=RepairConfig.from_parts(kw["repair"], kw["repair_parts"], kw["grade"]),
        overwrite=kw["overwrite"],
        style=kw["style"],
        style_strength=kw["style_strength"],
        on_damage=kw["on_damage"],
        look=kw["look"],
        grain=kw["grain"],
        tile=kw["tile"],
        precision=kw["precision"],
        fps=kw["fps"],
    )


def _scale(kw: dict[str, Any]) -> int:
    """``--scale``, or when it is left out a model file's own scale (else the default).

    A model file is loaded here, on the CPU, to check ``--scale`` against it and to say in one
    line what it is (unless ``--quiet``); the run loads it again where it runs.
    """
    asked = int(kw["scale"]) if kw["scale"] else None
    if kw["style"] or not is_model_file(kw["model"]):
        return asked or DEFAULT_SCALE
    model = load_model(kw["model"], scale=asked)
    if not kw["quiet"]:
        click.echo(f"model: {model_line(model, kw['temporal'])}")
    return model.scale


def model_line(model: ModelDescriptor, temporal: str = "auto") -> str:
    """One line of what a model file is: architecture, scale, purpose, size, tags, and how its
    channels and ``--temporal`` are handled."""
    info = model.describe()
    arch = info.get("architecture") or "?"
    if info.get("network") and info["network"] != arch:
        arch += f" ({info['network']})"
    purpose = PURPOSES.get(info.get("purpose", ""), "")
    parts = [f"{info['name']}: {arch}, x{model.scale}" + (f" {purpose}" if purpose else ""),
             f"{info['parameters']:,} parameters"]
    if info.get("tags"):
        parts.append("tags " + " ".join(info["tags"]))
    if info.get("input_channels") == 1:
        parts.append("a grey model: it runs on the luma and the colour is kept")
    elif info.get("input_channels") == 4:
        parts.append("an RGBA model: it is fed an opaque alpha")
    if temporal == "auto" and not model.temporal.supports_reuse:
        parts.append("--temporal auto runs it frame by frame (--temporal blend steadies it)")
    return "; ".join(parts)


def model_facts(model: ModelDescriptor) -> dict[str, Any]:
    """What ``vidstyle models --inspect`` shows: the descriptor's description, what it needs of
    the input, and what the temporal stage can do with it."""
    info = model.describe()
    return {
        **info,
        "supports_reuse": model.temporal.supports_reuse,
        "temporal_auto": "reuse" if model.temporal.supports_reuse else "off",
    }


@contextmanager
def progress_bar(quiet: bool, desc: str) -> Iterator[Callable[[int, int | None], None]]:
    """A tqdm bar made on the first update, so a run that fails early prints only its error."""
    bar: tqdm | None = None

    def update(done: int, total: int | None) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            bar = tqdm(total=total, unit="frame", desc=desc, dynamic_ncols=True, leave=False)
        elif total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        with logging_redirect_tqdm():
            yield update
    finally:
        if bar is not None:
            bar.close()


def check_report_path(report: Path | None, source: Path, *outputs: Path) -> None:
    """Refuse a ``--report`` that could not be written at the end, before the work starts.

    A report may replace an older report, but not the input or one of the command's ``outputs``.

    Raises:
        OutputError: the folder is missing or read-only, the path is a folder, the input, or an output.
    """
    if report is None:
        return
    check_output_path(report, src=source, overwrite=True)
    for output in outputs:
        if report.resolve() == output.resolve():
            raise OutputError(f"--report {report} would be written over the output {output}")


def plural(count: int, noun: str) -> str:
    """``1 segment``, ``3 segments``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def write_report(path: Path | None, data: dict[str, Any]) -> None:
    """``--report``: ``data`` with the vidstyle version, as JSON, written whole; nothing without a path."""
    if path is None:
        return
    data = {"vidstyle": __version__, **data}
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"


def repair_line(report: dict[str, Any]) -> str | None:
    """One line of what the repair stage did, for the end of a run; None when it was off."""
    if report.get("mode", "off") == "off" or not report.get("pixels"):
        return None
    share = report["pixels_touched"] / report["pixels"]
    parts = [f"{report['spots']} specks of dust or dirt", f"scratches on {_frames(report['scratch_frames'])}"]
    flicker = report.get("flicker")
    if flicker is not None:
        parts.append(f"flicker corrected on {_frames(flicker.get('frames_corrected', 0))}")
    if "grain" in report.get("parts", ()):
        parts.append(f"grain averaged on {_frames(report.get('grain_frames', 0))}")
    around = report.get("context_frames")
    counted = f" (counted with the {around} frames around the range that it reads)" if around else ""
    return f"repair: {', '.join(parts)}; {share:.3%} of the pixels replaced{counted}"
