"""The ``vidstyle`` command line: parse, build a config, call the library.

This module owns the commands, the log format, the signals and the exit codes: 0 success, 1 a
runtime error (one ``error: ...`` line), 2 a usage error, 130 interrupted with Ctrl-C, 143 stopped
by SIGTERM and 129 by SIGHUP (128 + the signal's number; both are handled as Ctrl-C is). The
options and the progress bar the commands share are in :mod:`vidstyle.cli_options`; everything
else lives in the library.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from .cli_options import (
    FPS_HELP,
    FrameRateType,
    TimeType,
    build_config,
    check_report_path,
    model_and_encode_options,
    model_facts,
    plural,
    progress_bar,
    repair_line,
    usage_errors,
    write_report,
)
from .config import SCALES, EncodeConfig, RangeConfig, RemasterConfig
from .degrade import MAX_SEED
from .engine import remaster
from .errors import ConfigError, Interrupted, ModelError, Terminated, VidstyleError, signal_number, stop_reason
from .io.damage import DamageReport
from .io.probe import probe
from .models.outside import MODEL_SUFFIXES, PURPOSES
from .models.registry import available_models, card_of, is_model_file, load_model
from .preview import preview
from .timecode import format_seconds
from .version import __version__

log = logging.getLogger("vidstyle")

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
#: A run stopped by a signal exits with this + the signal's number, as a shell reports it:
#: 130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP.
EXIT_SIGNAL = 128
#: Signals that stop a run as Ctrl-C does (a scheduler, `timeout`, a container stop, a closed terminal).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


# -- commands -------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vidstyle")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--debug", is_flag=True, help="Show the traceback of unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, debug: bool) -> None:
    """Remaster old film: restore damage, upscale x2/x4, keep the sound.

    \b
    Examples:
      vidstyle remaster reel.mkv -o reel_hd.mkv --scale 2
      vidstyle remaster reel.mkv -o part.mp4 --start 00:01:00 --end 00:01:30
      vidstyle preview reel.mkv --start 00:12:30 --frames 48 -o try.mp4
      vidstyle remaster reel.mkv -o reel_ink.mkv --style ink --style-strength 0.8
      vidstyle train-style painting.jpg -o my_style.safetensors --minutes 20
      vidstyle batch /archive/reels -o /archive/hd --jobs 2     (then --resume after a crash)
      vidstyle info reel.mkv
      vidstyle metrics reel_hd.mkv --flow-from reel.mkv
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("libav").setLevel(logging.ERROR)
    ctx.obj = {"debug": debug}


@cli.command("remaster")
@click.argument("input", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output file; its extension picks the container (.mkv, .mp4, .mov). A pattern such "
                   "as out/reel_%06d.tif writes image frames (.dpx 10-bit, .tif 16-bit, .png, .exr).")
@click.option("--start", type=TimeType(), default=None,
              help="First frame: HH:MM:SS(.mmm), seconds, or a frame number such as f1200.")
@click.option("--end", type=TimeType(), default=None, help="Stop before this time or frame (exclusive).")
@click.option("--frames", type=click.IntRange(min=1), default=None, help="Process at most this many frames.")
@click.option("--chunks", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Split the film at keyframes into N segments that run in parallel (with --jobs), "
                   "then join them by stream copy. Segments done survive a crash: run the same "
                   "command again to carry on.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --chunks: segments processed at once, each with cores / jobs threads.")
@model_and_encode_options
def remaster_command(input: Path, output: Path, start, end, frames, chunks: int, jobs: int, **kw: Any) -> None:
    """Remaster INPUT into a new file with its sound, start to finish.

    The output keeps the input's frame timing, colour tags, pixel aspect ratio,
    rotation, audio and subtitles; it appears only when complete. A source of more
    than 8 bits keeps its precision (10-bit output by default).

    INPUT may be an image sequence: a pattern such as scans/reel_%06d.dpx, or a
    folder of numbered frames (DPX, TIFF, PNG, EXR; give --fps unless DPX headers
    state the rate).

    \b
    A long film can run in parallel segments:
      vidstyle remaster film.mkv -o film_hd.mkv --chunks 8 --jobs 2
    Scanned frames in, 10-bit DPX out for the grader:
      vidstyle remaster scans/reel1 --fps 24 -o graded/reel1_%06d.dpx
    """
    config = build_config(kw, start=start, end=end, frames=frames, output=output)
    check_report_path(kw["report"], input, output)
    if chunks > 1 or jobs > 1:
        _remaster_chunked(input, output, config, chunks, jobs, kw)
        return
    with progress_bar(kw["quiet"], "remaster") as progress:
        result = remaster(input, output, config, progress=progress)
    write_report(kw["report"], result.to_dict())
    if not kw["quiet"]:
        w, h = result.output_size
        click.echo(
            f"wrote {result.output}: {result.frames} frames, {w}x{h}, "
            f"{result.seconds:.1f} s ({result.fps:.2f} fps)"
        )
        if slowest := result.slowest_stage:
            click.echo(f"slowest stage: {slowest}, busy {result.stage_seconds[slowest]:.1f} s "
                       f"({', '.join(f'{k} {v:.1f}' for k, v in result.stage_seconds.items())})")
        if line := repair_line(result.repair):
            click.echo(line)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


def _remaster_chunked(input: Path, output: Path, config: RemasterConfig, chunks: int, jobs: int,
                      kw: dict[str, Any]) -> None:
    from .batch.runner import BatchConfig, remaster_chunked  # noqa: PLC0415

    batch = BatchConfig(jobs=jobs, chunks=chunks)
    with progress_bar(kw["quiet"], "remaster") as progress:
        row = remaster_chunked(input, output, config, batch, progress=progress)
    write_report(kw["report"], row)
    if not kw["quiet"]:
        click.echo(f"wrote {output}: {row['frames']} frames in {plural(row['segments'] or 1, 'segment')}, "
                   f"{row['seconds']:.1f} s of work")
    for warning in row["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if row["damage"]:
        for warning in DamageReport.from_dict(row["damage"], input.name).warnings():
            click.echo(f"warning: {warning}", err=True)


@cli.command("batch")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder. It mirrors the input tree and holds the manifest "
                   "(vidstyle-batch.sqlite) and the report (vidstyle-batch.json).")
@click.option("--glob", default=None, metavar="PATTERN",
              help="Take only the files that match, e.g. '*.mov' or 'reel_*/*.mkv' "
                   "[default: every video extension].")
@click.option("--name", "name_template", default=None, metavar="TEMPLATE",
              help="Output file name from {stem} {ext} {name} {parent}; its extension picks the "
                   "container [default: {stem}.mkv].")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Films (or segments) processed at once, each with cores / jobs threads.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool on this machine. ray: Ray tasks (pip install 'vidstyle[ray]').")
@click.option("--address", default=None, metavar="ADDR",
              help="With --backend ray: the cluster to join (auto, or ray://HOST:PORT) "
                   "[default: start Ray on this machine].")
@click.option("--retries", type=click.IntRange(min=0), default=1, show_default=True,
              help="Further attempts at a film or segment that fails.")
@click.option("--chunks", type=click.IntRange(min=1), default=None, metavar="N",
              help="Split every film into N segments at keyframes [default: only films longer "
                   "than 1.5 x --chunk-seconds].")
@click.option("--chunk-seconds", type=click.FloatRange(min=1.0), default=600.0, show_default=True,
              help="Target length of the segments of a long film.")
@click.option("--resume", is_flag=True, help="Carry on with the batch in OUTPUT after a crash or Ctrl-C: "
                                               "done films are kept, the rest is done.")
@click.option("--status", is_flag=True, help="Show what is done, failed and pending in OUTPUT, and exit.")
@model_and_encode_options
def batch_command(source: Path, output: Path, glob: str | None, name_template: str | None, jobs: int,
                  backend: str, address: str | None, retries: int, chunks: int | None,
                  chunk_seconds: float, resume: bool, status: bool, **kw: Any) -> None:
    """Remaster every film in SOURCE (a folder, or a text file listing one path per line).

    A folder's numbered image frames (reel1/reel1_000001.dpx ...) are one film, written to
    reel1/reel1.mkv; give --fps for TIFF, PNG and EXR frames, which hold no rate.

    A run can be stopped at any moment (Ctrl-C, a crash, kill -9) and carried on with
    --resume: each film is done exactly once, and a film counts as done only when its
    output opens and has the frame count of its input. A film that fails is listed and
    the batch goes on. Changed inputs or settings make their films pending again. A
    damaged source is done with damage (--on-damage warn or conceal): --status and the
    report say how many frames, and which.

    \b
    Examples:
      vidstyle batch /archive/reels -o /archive/hd --scale 2 --jobs 2
      vidstyle batch /archive/reels -o /archive/hd --resume
      vidstyle batch list.txt -o /archive/hd --backend ray --address auto
      vidstyle batch /archive/reels -o /archive/hd --status
    """
    from .batch.discover import DEFAULT_NAME, discover  # noqa: PLC0415
    from .batch.manifest import read_status  # noqa: PLC0415
    from .batch.runner import REPORT_NAME, BatchConfig, run_batch, write_report  # noqa: PLC0415

    if status:
        _print_status(output, read_status(output))
        return
    config = build_config(kw)
    if kw["report"] is not None and not kw["report"].resolve().parent.is_relative_to(output.resolve()):
        check_report_path(kw["report"], source)  # (a report inside OUTPUT has its folder made by the batch)
    batch = BatchConfig(jobs=jobs, backend=backend, address=address, retries=retries, chunks=chunks,
                        chunk_seconds=chunk_seconds, overwrite=kw["overwrite"])
    found = discover(source, output, glob=glob, name=name_template or DEFAULT_NAME)
    quiet = kw["quiet"]
    if not quiet:
        click.echo(f"{len(found.jobs)} film(s) in {source}" +
                   (f"; {len(found.skipped)} other file(s) skipped" if found.skipped else "") +
                   (f"; {found.excluded} left out (the output folder)" if found.excluded else ""))
        for path in found.skipped[:10]:
            click.echo(f"  skipped (not a video): {path}")
        if len(found.skipped) > 10:
            click.echo(f"  ... and {len(found.skipped) - 10} more")
        for path in found.earlier_batches:
            click.echo(f"  left out: {path} (an earlier batch's output folder: it holds its manifest)")
    with progress_bar(quiet, "batch") as progress:
        report = run_batch(found.jobs, output, config, batch, resume=resume,
                           news=None if quiet else tqdm.write, progress=progress)
    report.skipped = [str(p) for p in found.skipped]
    report.excluded = str(found.excluded) if found.excluded else None
    report.earlier_batches = [str(p) for p in found.earlier_batches]
    write_report(report, output / REPORT_NAME)
    if kw["report"] is not None:
        write_report(report, kw["report"])
    if not quiet:
        _print_table(report.rows)
        c = report.counts
        damaged = f" ({report.damaged} with damage)" if report.damaged else ""
        click.echo(f"{c['done']} done{damaged}, {c['failed']} failed, {c['pending'] + c['running']} pending "
                   f"in {report.seconds:.1f} s; report: {output / REPORT_NAME}")
    if report.counts["failed"]:
        raise VidstyleError(f"{report.counts['failed']} of {len(report.rows)} film(s) failed; "
                            f"see {output / REPORT_NAME}")


def _print_table(rows: list[dict[str, Any]]) -> None:
    width = max([len(r["name"] or "") for r in rows] + [4])
    click.echo(f"{'film':<{width}}  {'state':<7}  {'frames':>7}  {'fps':>6}  note")
    for r in rows:
        fps = f"{r['fps']:.2f}" if r["fps"] else "-"
        frames = r["frames"] if r["frames"] is not None else "-"
        note = r["error"] or (plural(r["segments"], "segment") if r["segments"] else "")
        state = r["state"]
        if state == "done" and r.get("damage"):  # done with damage
            state = "damaged"
            note = "; ".join(filter(None, [DamageReport.from_dict(r["damage"]).brief(), note]))
        click.echo(f"{r['name'] or '':<{width}}  {state:<7}  {frames:>7}  {fps:>6}  {note}")


def _print_status(output: Path, rows: list) -> None:
    from .batch.runner import row_dict  # noqa: PLC0415

    table = [row_dict(r) for r in rows]
    _print_table(table)
    counts = {s: sum(r["state"] == s for r in table) for s in ("done", "failed", "running", "pending")}
    damaged = sum(1 for r in table if r["state"] == "done" and r["damage"])
    click.echo(f"{counts['done']} done" + (f" ({damaged} with damage)" if damaged else "")
               + f", {counts['failed']} failed, {counts['pending']} pending"
               + (f", {counts['running']} running or interrupted" if counts["running"] else "")
               + f" (of {len(table)}) in {output}")


@cli.command("preview")
@click.argument("input", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="The before | after video.")
@click.option("--start", type=TimeType(), default=None, help="Where to begin [default: the beginning].")
@click.option("--frames", type=click.IntRange(min=1), default=48, show_default=True, help="Frames to process.")
@click.option("--sheet", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Contact sheet PNG [default: OUTPUT with .png].")
@click.option("--show-repair", is_flag=True,
              help="Also write SHEET-repair.png: the frames as decoded, the pixels the repair replaced in red.")
@model_and_encode_options
def preview_command(input: Path, output: Path, start, frames: int, sheet: Path | None, show_repair: bool,
                    **kw: Any) -> None:
    """Try the settings on a short range before committing hours of compute.

    Writes the input (bicubic) | the output side by side, a PNG contact sheet,
    and prints the measured speed, an estimate for the whole file, and the
    warping error (see `vidstyle metrics`) of before and after.
    """
    config = build_config(kw, output=output)
    check_report_path(kw["report"], input, output, sheet or output.with_suffix(".png"))
    with progress_bar(kw["quiet"], "preview") as progress:
        result = preview(input, output, config, start=start, frames=frames, sheet=sheet, show_repair=show_repair,
                         progress=progress)
    write_report(kw["report"], result.to_dict())
    click.echo(f"wrote {result.output} (before | after) and {result.sheet}"
               + (f" and {result.repair_sheet}" if result.repair_sheet else ""))
    if line := repair_line(result.repair):
        click.echo(line)
    click.echo(
        f"model {result.model_fps:.2f} fps; a full run would go at about {result.estimated_fps:.2f} fps: "
        f"{result.total_frames} frames in about {format_seconds(result.estimated_seconds)}"
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    before, after = result.warping_error_before, result.warping_error_after
    if before == before and after == after:  # not NaN: two frames or more
        change = f" ({(after - before) / before:+.0%})" if before > 0 else ""
        click.echo(f"warping error (lower is steadier): before {before:.3g}, after {after:.3g}{change}; "
                   f"temporal {result.temporal['mode']}")


@cli.command("degrade")
@click.argument("input", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The damaged copy.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
              help="Picks the damage and its noise (0 or more).")
@click.option("--downscale", "scale", type=click.Choice([str(s) for s in SCALES]), default="1", show_default=True,
              help="Also shrink the picture by this factor (make low-resolution test material).")
@click.option("--scale", "legacy_scale", type=click.Choice([str(s) for s in SCALES]), default=None, hidden=True,
              help="The old name of --downscale.")
@click.option("--start", type=TimeType(), default=None, help="First frame to copy.")
@click.option("--end", type=TimeType(), default=None, help="Stop before this time or frame.")
@click.option("--frames", type=click.IntRange(min=1), default=None, help="Copy at most this many frames.")
@click.option("--crf", type=click.IntRange(0, 63), default=18, show_default=True, help="x264 quality.")
@click.option("--fps", type=FrameRateType(), default=None, help=FPS_HELP)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the damage settings used to this JSON file.")
def degrade_command(input: Path, output: Path, seed: int, scale: str, legacy_scale: str | None, start, end,
                    frames, crf: int, fps, overwrite: bool, quiet: bool, report: Path | None) -> None:
    """Make a copy of INPUT that looks like damaged old film, with its sound.

    Grain, dust, drifting scratches, flicker, gate weave, blur, fading and
    vignetting, drawn at random from --seed (the same seed gives the same damage):
    test material for remastering, and the model the generator is trained on.
    """
    from .degrade import degrade_video

    scale = legacy_scale or scale
    with usage_errors():
        rng = RangeConfig(start=start, end=end, frames=frames)
    check_report_path(report, input, output)

    with progress_bar(quiet, "degrade") as progress:
        result = degrade_video(
            input, output, seed=seed, scale=int(scale), encode=EncodeConfig(crf=crf),
            range=rng, overwrite=overwrite, progress=progress, fps=fps,
        )
    write_report(report, result)
    if not quiet:
        click.echo(f"wrote {output}: {result['frames']} frames damaged with seed {seed}")


@cli.command("info")
@click.argument("input", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--exact", is_flag=True,
              help="Count the frames by reading every video packet (no decoding; seconds for a "
                   "feature film). Without it the count is the container's, or where it lists "
                   "none (Matroska, WebM) an estimate from the duration.")
@click.option("--fps", type=FrameRateType(), default=None, help=FPS_HELP)
def info_command(input: Path, as_json: bool, exact: bool, fps) -> None:
    """Show what is in a video file or an image sequence: size, rate, bit depth, frames, colour,
    audio, subtitles (a sequence's frames are counted from its files)."""
    info = probe(input, exact=exact, fps=fps)
    click.echo(json.dumps(info.to_dict(), indent=2) if as_json else info.describe())


@cli.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--inspect", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Show what a model file is, without running it: architecture, scale, channels, "
                   "parameters, size requirements, half precision, tags, sha256.")
def models_command(as_json: bool, inspect: Path | None) -> None:
    """List the models --model accepts, with the held-out scores of the learned ones.

    \b
    --model also takes a weights file: ours (.safetensors with its JSON card), or a
    .pth, .pt, .ckpt or .safetensors of any architecture spandrel detects (ESRGAN,
    Real-ESRGAN Compact, SwinIR, HAT, DAT, SPAN, OmniSR, RealCUGAN ...). Pickles are
    read as tensors only; nothing in a model file is run.
    \b
    Examples:
      vidstyle models --inspect 4x-UltraSharp.pth
      vidstyle remaster reel.mkv -o reel_hd.mkv --model 4x-UltraSharp.pth
    """
    if inspect is not None:
        _inspect_model(inspect, as_json)
        return
    rows = []
    for e in available_models():
        card = card_of(e) or {}
        metrics = card.get("metrics", {}).get("held_out", {})
        rows.append({
            "name": e.name, "kind": e.kind, "scales": list(e.scales), "summary": e.summary,
            "parameters": card.get("parameters"), "sha256": card.get("sha256"), "held_out": metrics or None,
            # What --temporal auto picks: reuse when the weights carry a ReuseFusion.
            "temporal": "reuse" if card.get("hparams", {}).get("reuse_channels") else "off",
        })
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        scales = "/".join(f"x{s}" for s in row["scales"])
        line = f"{row['name']:<12} {row['kind']:<9} {scales:<9} {row['summary']}"
        held = row["held_out"]
        if held and "model_psnr" in held:
            line += (f"\n{'':<32}held-out PSNR-Y {held['model_psnr']:.2f} dB vs bicubic "
                     f"{held['bicubic_psnr']:.2f}, {row['parameters']:,} parameters")
        if row["temporal"] == "reuse":
            line += f"\n{'':<32}--temporal reuse (the default): reuses features between keyframes"
        click.echo(line)
    click.echo("\nor a weights file: --model FILE.pth|.pt|.ckpt|.safetensors (any architecture spandrel "
               "detects); see what it is with `vidstyle models --inspect FILE`")


def _inspect_model(path: Path, as_json: bool) -> None:
    """``vidstyle models --inspect FILE``: the file loaded on the CPU and described, never run."""
    if not is_model_file(str(path)):
        raise ModelError(f"--inspect takes a weights file ({', '.join(MODEL_SUFFIXES)}), got {str(path)!r}; "
                         "`vidstyle models` lists the named models")
    facts = model_facts(load_model(str(path), scale=None))
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    arch = facts.get("architecture") or "?"
    size = [f"a multiple of {facts['size_multiple']} px"] if facts["size_multiple"] > 1 else []
    size += [f"at least {facts['size_minimum']} px"] if facts.get("size_minimum") else []
    size += ["square"] if facts.get("size_square") else []
    half = "yes" if facts["supports_half"] else "no"
    bf16 = {True: "yes", False: "no", None: "not known"}[facts.get("supports_bfloat16")]
    rows = [
        ("file", facts.get("file")),
        ("architecture", arch + (f" (network {facts['network']})" if facts.get("network", arch) != arch else "")
         + (f", detected by {facts['loaded_by']}" if facts.get("loaded_by") else ", vidstyle's own, with its card")),
        ("purpose", PURPOSES.get(facts.get("purpose"), facts.get("purpose")) or "remaster (restore and upscale)"),
        ("scale", f"x{facts['scale']}"),
        ("channels", f"{facts.get('input_channels', 3)} in, {facts.get('output_channels', 3)} out"),
        ("parameters", f"{facts['parameters']:,}"),
        ("input size", ", ".join(size) + " (vidstyle pads to fit)" if size else "any"),
        ("precision", f"fp16 {half}, bf16 {bf16}"),
        ("tags", " ".join(facts.get("tags") or []) or "-"),
        ("temporal", f"auto picks {facts['temporal_auto']}; blend and off work"
         + ("; reuse works" if facts["supports_reuse"] else "; no feature reuse")),
        ("sha256", facts.get("sha256")),
    ]
    for key, value in rows:
        click.echo(f"{key:<13}{value}")
    click.echo(f"\nuse: vidstyle remaster IN -o OUT --model {path}")


@cli.command("styles")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def styles_command(as_json: bool) -> None:
    """List the bundled styles --style accepts (train your own with `vidstyle train-style`) and
    the bundled film looks --look accepts (or give any .cube 3D LUT)."""
    from .finish.looks import bundled_looks  # noqa: PLC0415
    from .models.styles import bundled_styles  # noqa: PLC0415

    rows = []
    for e in bundled_styles():
        metrics = e.card.get("metrics", {})
        rows.append({"kind": "style", "name": e.name, "scale": e.scale, "summary": e.summary,
                     "weights": str(e.weights), "thumbnail": str(e.thumbnail) if e.thumbnail else None,
                     "style_distance_ratio": metrics.get("style_distance_ratio"),
                     "minutes": e.card.get("minutes"), "sha256": e.card.get("sha256")})
    looks = [{"kind": "look", "name": e.name, "title": e.title, "summary": e.summary, "path": str(e.path)}
             for e in bundled_looks()]
    if as_json:
        click.echo(json.dumps(rows + looks, indent=2))
        return
    if not rows:
        click.echo("no bundled styles are installed")
    for row in rows:
        click.echo(f"{row['name']:<10} x{row['scale']}  {row['summary']}")
    if rows:
        click.echo("\nuse: vidstyle remaster IN -o OUT --style NAME [--style-strength 0.8]")
    if looks:
        click.echo("\nfilm looks, applied after the network (or any .cube 3D LUT):")
        width = max(len(look["name"]) for look in looks)
        for look in looks:
            click.echo(f"{look['name']:<{width}}  {look['summary']}")
        click.echo("\nuse: vidstyle remaster IN -o OUT --look NAME|FILE.cube [--grain 4]")


@cli.command("train-style")
@click.argument("image", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The style model to write (.safetensors); its card (.json) and a preview "
                   "(NAME.preview.png) go beside it.")
@click.option("--scale", type=click.Choice(["2", "4"]), default="2", show_default=True,
              help="The upscaling factor the style model works at (use the same with --style).")
@click.option("--minutes", type=click.FloatRange(min=1.0), default=20.0, show_default=True,
              help="Time for the whole run. 20 minutes on two CPU cores gives a usable style; "
                   "more gives a cleaner one.")
@click.option("--name", default=None, help="The style's name in its card [default: the output's stem].")
@click.option("--description", default=None, help="One line about the style, for its card.")
@click.option("--resume", is_flag=True, help="Carry on with a run that was interrupted (same IMAGE, "
                                             "OUTPUT and settings; --minutes may grow).")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUTPUT.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for training [default: all cores].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary.")
def train_style_command(image: Path, output: Path, scale: str, minutes: float, name: str | None,
                        description: str | None, resume: bool, overwrite: bool, threads: int | None,
                        quiet: bool) -> None:
    """Train a style from one IMAGE: a model that restores, upscales and paints like it.

    It starts from the remaster model of the scale and learns the image's strokes, texture and
    palette on the training pictures (`pip install 'vidstyle[train]'`), with the same feature
    reuse between frames as the remaster models. The film stays the film: seen from a normal
    distance (the picture blurred by 2 and 4 pixels) its shapes must stay those of the clean
    frame, and only the fine detail is free for strokes and paper; a learned blur after the
    network's pixel shuffle and a loss on the grid keep its 4-pixel cells out of the picture,
    and the style's own losses do not look at a patch's border, so no line is drawn along the
    frame's edge; the fine detail, up to blotches a few pixels across, may carry no more colour
    than the image's own, so strokes do not come out as coloured speckle. The card says how well
    on held-out frames: structure (aim >= 0.75), edge agreement (>= 0.6), grid energy
    (<= 0.001), border line (levels; bicubic about 1.6) and fine and middle chroma (levels,
    beside the image's), with the style distance.

    A preview of held-out frames is refreshed every two minutes while it trains; Ctrl-C keeps
    what was done, and --resume carries on.

    \b
    Examples:
      vidstyle train-style painting.jpg -o painting.safetensors
      vidstyle remaster reel.mkv -o reel_painted.mkv --style painting.safetensors
    """
    from .models.registry import shipped_weights  # noqa: PLC0415
    from .train.style import (  # noqa: PLC0415
        StyleRecipe,
        exemplar_source,
        preview_path_for,
        read_style_image,
        train_style,
    )

    if output.suffix != ".safetensors":
        raise ConfigError(f"the output must be a .safetensors file, got {output.name}")
    if not output.parent.is_dir():
        raise ConfigError(f"the output folder {output.parent} does not exist")
    if output.exists() and not overwrite:
        raise ConfigError(f"{output} exists; pass --overwrite to replace it")
    if output.resolve() == image.resolve():
        raise ConfigError("the output would replace the style image")
    recipe = StyleRecipe(scale=int(scale), minutes=minutes)
    exemplar, note = read_style_image(image, recipe.exemplar_size)
    if note and not quiet:
        click.echo(f"note: {note}", err=True)
    bar = None if quiet else tqdm(total=round(minutes * 60), unit="s", desc="train-style",
                                  bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]{postfix}")

    def progress(fraction: float, stats: dict[str, float]) -> None:
        if bar is not None:
            bar.update(round(fraction * bar.total) - bar.n)
            bar.set_postfix(style=f"{stats['style']:.3f}", refresh=False)

    if bar is not None:
        click.echo(f"preview (refreshed as it trains): {preview_path_for(output)}", err=True)
    try:
        result = train_style(exemplar, output, recipe=recipe, init=shipped_weights(f"remaster-x{scale}"),
                             name=name or output.stem, description=description or f"the style of {image.name}",
                             source=exemplar_source(path=image), resume=resume, threads=threads,
                             command="vidstyle " + " ".join(sys.argv[1:]), progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if not quiet:
        m = result.card["metrics"]
        picture = m["picture"]
        click.echo(f"wrote {result.weights}: {result.card['steps']} steps in {result.card['minutes']:.1f} min; "
                   f"style distance on held-out frames {m['style_distance_ratio']:.0%} of the input's; "
                   f"structure {picture['structure']:.2f} (bicubic {picture['bicubic']['structure']:.2f}), "
                   f"edge F {picture['edge_f']:.2f}, grid energy {picture['grid_energy']:.4f}; "
                   f"preview: {result.preview}")


@cli.command("metrics")
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--ref", type=click.Path(path_type=Path), default=None, metavar="CLEAN",
              help="The clean reference, same size and frame count as OUTPUT: adds PSNR and SSIM, "
                   "and the flow is computed on it.")
@click.option("--flow-from", type=click.Path(path_type=Path), default=None, metavar="VIDEO",
              help="Compute the flow on this video instead (typically the input; same frame count, "
                   "any size) [default: --ref, else OUTPUT].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text (n/a is null).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def metrics_command(
    output: Path, ref: Path | None, flow_from: Path | None, as_json: bool, quiet: bool
) -> None:
    """Measure how steady OUTPUT is from frame to frame, and how close it is to a clean reference.

    \b
    warping error  Each frame against the next one warped back onto it by optical
                   flow: mean squared difference, RGB in [0, 1], over the pixels the
                   flow can follow (Lai et al. 2018). Lower is steadier; 0 for a
                   still picture.
    flicker        Mean change of average brightness between consecutive frames, in
                   8-bit luma levels (BT.601). Lower is steadier.
    PSNR-Y, SSIM-Y With --ref only: closeness to the clean video on luma, per frame,
                   averaged. Higher is closer (dB; SSIM at most 1).
    \b
    Warping error and flicker need 2 frames or more in a shot (n/a otherwise);
    pairs of frames across a scene cut are left out and listed. Compute the
    flow on the input or a clean video, so a flickering output cannot hide its
    flicker by spoiling its own flow.
    \b
    Examples:
      vidstyle metrics reel_hd.mkv --flow-from reel.mkv
      vidstyle metrics restored.mkv --ref clean.mkv --json
    """
    from .temporal.metrics import video_metrics

    with progress_bar(quiet, "metrics") as progress:
        result = video_metrics(output, ref=ref, flow_from=flow_from, progress=progress)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.describe())


# -- entry point -----------------------------------------------------------------------------


@contextmanager
def stop_signals_as_interrupts() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`~vidstyle.errors.Terminated` in the main thread.

    Terminated is a KeyboardInterrupt, so a run stopped by a scheduler, ``timeout`` or a closed
    terminal unwinds as on Ctrl-C: the workers stop, temporaries are removed, the batch manifest
    puts the running work back. The first signal is enough; later ones are ignored so that the
    clean-up can finish. A signal ignored when vidstyle started (``nohup``) stays ignored. This is
    the one place that installs handlers; the previous ones come back at the end.
    """
    Terminated.last_received = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame) -> None:
        for s in STOP_SIGNALS:
            signal.signal(s, lambda *_: None)
        raise Terminated.received(signum)

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(s, stop)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code instead of exiting."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        with stop_signals_as_interrupts():
            cli.main(args=list(argv) if argv is not None else None, prog_name="vidstyle", standalone_mode=False)
        return EXIT_OK
    except click.exceptions.Exit as ex:
        return ex.exit_code
    except click.UsageError as ex:
        hint = f" (see '{ex.ctx.command_path} --help')" if ex.ctx is not None else ""
        _error(f"{ex.format_message()}{hint}")
        return EXIT_USAGE
    except (KeyboardInterrupt, click.exceptions.Abort) as ex:  # Ctrl-C, and SIGTERM/SIGHUP (Terminated)
        # click turns a KeyboardInterrupt into an Abort raised from it: the signal is the cause's
        signum = signal_number(ex.__cause__ if isinstance(ex.__cause__, KeyboardInterrupt) else ex)
        _error(f"{stop_reason(signum)}; no output was written")
        return EXIT_SIGNAL + signum
    except Interrupted as ex:
        _error(str(ex))
        return EXIT_SIGNAL + ex.signum
    except VidstyleError as ex:
        _error(str(ex))
        return EXIT_ERROR
    except click.ClickException as ex:
        _error(ex.format_message())
        return ex.exit_code
    except Exception as ex:  # a bug, not a user mistake: still one line unless asked
        if debug:
            traceback.print_exc()
        _error(f"unexpected {type(ex).__name__}: {ex} (run with --debug for details)")
        return EXIT_ERROR


def _error(message: str) -> None:
    """Print ``error: MESSAGE`` as one line: a newline or another control character in it (a file
    name or an option value may hold one) is written as its escape, ``\\n``."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message.strip())
    click.echo(f"error: {text}", err=True)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


if __name__ == "__main__":
    main()
