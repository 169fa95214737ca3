"""A fuzz corpus of damaged real video files, and the run that feeds every file to the commands.

Issue 19 asks that no input, however broken, gets a traceback, a hang, a changed input or a file
left behind. This module makes the inputs and checks the runs:

* **The corpus.** Eight clean clips are written with PyAV (64x48, 10 to 20 frames: H.264 in MP4
  and Matroska, MPEG-2 in MPEG-TS, each with and without AAC sound, and MJPEG in AVI with and
  without PCM sound), then each
  corpus file is one of them damaged one way: cut short at a random point, 1 to 1000 random bits
  flipped, the header zeroed, a block of bytes overwritten, remuxed with the sound first (and
  sometimes a few bits flipped as well), a chunk of bytes repeated or taken out, zero bytes, or
  garbage under a video extension (half of it after a real file's first bytes). File ``i`` of
  seed ``s`` is the same damage on every run (:func:`make_case`), and the same bytes wherever the
  clean clips are: FFmpeg's own encoders (MPEG-2, MJPEG) write them bit-exact, x264 did on this
  machine but once wrote another second frame on a CI machine.
* **The runs.** Each file goes through ``info`` (``--exact`` on odd files), ``remaster --model
  bicubic`` (at ``--scale 2`` on every fourth file, else 1; Matroska and MP4 outputs in turn),
  ``preview`` and ``degrade``, each in a process of its own with a timeout. A run passes when
  it ends in time with exit code 0, 1 or 2, with no traceback and, on failure, exactly one
  ``error:`` line as the last line of its stderr (nor the CLI's ``error: unexpected ...``, which
  means a bug); when its input is unchanged; when its output folder holds exactly its outputs
  on success and nothing at all on failure (no ``.partial`` file, nothing stray), nothing new
  appeared beside the input, and each output opens and decodes (:func:`check_run`).

A new Python per run (``python -m vidstyle``, ``--cold``) costs about 4 s of imports here, so by
default each run is a process forked from a server that imported vidstyle once
(``multiprocessing``'s forkserver, which never runs any of it): the command's own work is then
all a run costs. The child calls the same :func:`vidstyle.cli.run` that ``python -m vidstyle``
does, waits for the threads it left as the interpreter would at exit, and prints a traceback for
anything that escapes, as the interpreter would.

Run it as ``python -m pipelines.fuzz --files 500 --log runs.jsonl``: it prints a table of exit
codes and problems per command and exits with 1 when any run had a problem (the broken inputs of
those runs are kept). The tests run a slice of it (``tests/test_fuzz.py``); the whole corpus is
behind the ``fuzz`` pytest marker.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

# `python -m pipelines.fuzz`: multiprocessing runs the main module again in each forked child, after the
# fork server imported it by its name; runpy's warning about the second import is noise here.
warnings.filterwarnings("ignore", message="'pipelines.fuzz' found in sys.modules", category=RuntimeWarning)

if not __package__:  # run as a file: the repository first on the path, so the fork server finds this module
    sys.path[0] = str(Path(__file__).resolve().parents[1])

__all__ = [
    "BASES",
    "KINDS",
    "Base",
    "Case",
    "Run",
    "Runner",
    "check_run",
    "commands_for",
    "make_case",
    "make_corpus",
    "run_case",
    "summary",
    "write_base",
]

#: Frame size and rate of the clean clips.
WIDTH, HEIGHT, FPS = 64, 48, 25
#: No random identifier or date in the files (Matroska writes both), so a corpus is the same bytes every time.
BITEXACT = {"fflags": "+bitexact"}


@dataclass(frozen=True)
class Base:
    """A clean clip the corpus damages: its file name, video codec and pixel format, its sound's codec
    (None: no sound), its length in frames."""

    name: str
    codec: str
    pix_fmt: str
    audio: str | None
    frames: int

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix


BASES = (
    Base("h264-aac.mp4", "libx264", "yuv420p", "aac", 16),
    Base("h264.mp4", "libx264", "yuv420p", None, 12),
    Base("h264-aac.mkv", "libx264", "yuv420p", "aac", 20),
    Base("h264.mkv", "libx264", "yuv420p", None, 10),
    Base("mpeg2-aac.ts", "mpeg2video", "yuv420p", "aac", 15),
    Base("mpeg2.ts", "mpeg2video", "yuv420p", None, 18),
    # AVI with AAC shifts the pictures by the AAC encoder's priming (a frame goes missing): PCM, as
    # cameras that write MJPEG AVI record it
    Base("mjpeg-pcm.avi", "mjpeg", "yuvj420p", "pcm_s16le", 12),
    Base("mjpeg.avi", "mjpeg", "yuvj420p", None, 20),
)


def write_base(path: Path, base: Base) -> Path:
    """Write ``base`` as a real file: a gradient with a moving bar and some noise (so the encoder has
    detail to code), a keyframe every 5 frames, and with ``audio`` a 440 Hz tone, interleaved
    with the pictures as a camera or a muxer writes them."""
    rng = np.random.default_rng(len(base.name))
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    with av.open(str(path), "w", container_options=BITEXACT) as out:
        video = out.add_stream(base.codec, rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, base.pix_fmt
        video.codec_context.time_base = Fraction(1, FPS)
        video.codec_context.gop_size = 5
        video.codec_context.thread_count = 1  # x264's threads make other bytes from run to run
        audio = out.add_stream(base.audio, rate=48000, layout="mono") if base.audio else None
        samples = base.frames * 48000 // FPS
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
        sound = 0  # samples encoded so far
        for index in range(base.frames + 1):
            if index < base.frames:
                picture = np.stack([x * 4, y * 5, np.full_like(x, index * 12)], axis=-1)
                picture[:, (index * 3) % WIDTH: (index * 3) % WIDTH + 4] = 255
                picture = np.clip(picture + rng.integers(0, 24, picture.shape), 0, 255).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, FPS)
                out.mux(video.encode(frame))
            else:
                out.mux(video.encode())
            while audio is not None and sound < min(samples, (index + 1) * 48000 // FPS):
                part = tone[None, sound:sound + 1024]
                if base.audio == "pcm_s16le":
                    chunk = av.AudioFrame.from_ndarray((part * 32767).astype(np.int16), format="s16", layout="mono")
                else:
                    chunk = av.AudioFrame.from_ndarray(part, format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 48000, sound
                out.mux(audio.encode(chunk))
                sound += 1024
        if audio is not None:
            out.mux(audio.encode())
    return path


def swap_streams(src: Path, dst: Path) -> None:
    """Remux ``src`` into ``dst`` by stream copy with the sound first: the video is no longer stream 0."""
    with av.open(str(src)) as source, av.open(str(dst), "w", container_options=BITEXACT) as out:
        order = [*source.streams.audio, *source.streams.video]
        copies = {s.index: out.add_stream_from_template(s) for s in order}
        for packet in source.demux(order):
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            packet.stream = copies[packet.stream.index]
            out.mux(packet)


# -- damage: each takes the clean bytes and a generator, gives the damaged bytes and what it did --


Damage = Callable[[bytes, np.random.Generator], tuple[bytes, dict[str, Any]]]


def _truncate(data: bytes, rng: np.random.Generator) -> tuple[bytes, dict[str, Any]]:
    cut = int(rng.integers(1, len(data)))
    return data[:cut], {"kept": cut, "of": len(data)}


def _bitflip(data: bytes, rng: np.random.Generator, most: int = 1000) -> tuple[bytes, dict[str, Any]]:
    count = int(rng.integers(1, most + 1))
    bits = rng.integers(0, len(data) * 8, count)
    damaged = np.frombuffer(data, np.uint8).copy()
    np.bitwise_xor.at(damaged, bits // 8, (1 << (bits % 8)).astype(np.uint8))
    return damaged.tobytes(), {"bits": count}


def _header_zero(data: bytes, rng: np.random.Generator) -> tuple[bytes, dict[str, Any]]:
    count = min(int(rng.integers(8, 513)), len(data))
    return bytes(count) + data[count:], {"zeroed": count}


def _span(data: bytes, rng: np.random.Generator, low: int, high: int) -> tuple[int, int]:
    """A random ``(start, length)`` inside ``data``, ``length`` from ``low`` to ``high`` bytes."""
    length = min(int(rng.integers(low, high + 1)), len(data) - 1)
    return int(rng.integers(0, len(data) - length)), length


def _overwrite_block(data: bytes, rng: np.random.Generator) -> tuple[bytes, dict[str, Any]]:
    start, length = _span(data, rng, 16, 4096)
    return data[:start] + rng.bytes(length) + data[start + length:], {"at": start, "bytes": length}


def _duplicate_chunk(data: bytes, rng: np.random.Generator) -> tuple[bytes, dict[str, Any]]:
    start, length = _span(data, rng, 16, 2048)
    end = start + length
    return data[:end] + data[start:end] + data[end:], {"at": start, "bytes": length}


def _delete_chunk(data: bytes, rng: np.random.Generator) -> tuple[bytes, dict[str, Any]]:
    start, length = _span(data, rng, 16, 2048)
    return data[:start] + data[start + length:], {"at": start, "bytes": length}


def _zero_length(data: bytes, rng: np.random.Generator) -> tuple[bytes, dict[str, Any]]:
    return b"", {}


def _garbage(data: bytes, rng: np.random.Generator) -> tuple[bytes, dict[str, Any]]:
    size = int(rng.integers(1, 65536))
    head = int(rng.integers(4, 65)) if rng.random() < 0.5 else 0  # a real file's first bytes, then noise
    return data[:head] + rng.bytes(size), {"real_head": head, "bytes": head + size}


def _swapped(data: bytes, rng: np.random.Generator) -> tuple[bytes, dict[str, Any]]:
    """The remuxed bytes (see :func:`make_case`), with a few bits flipped in half of them."""
    if rng.random() < 0.5:
        return data, {"flipped": 0}
    damaged, facts = _bitflip(data, rng, most=10)
    return damaged, {"flipped": facts["bits"]}


DAMAGE: dict[str, Damage] = {
    "truncate": _truncate,
    "bitflip": _bitflip,
    "header_zero": _header_zero,
    "overwrite_block": _overwrite_block,
    "swap_streams": _swapped,
    "duplicate_chunk": _duplicate_chunk,
    "delete_chunk": _delete_chunk,
    "zero_length": _zero_length,
    "garbage": _garbage,
}
#: The kinds of damage, each once in the first ``len(KINDS)`` files of a corpus.
KINDS = tuple(DAMAGE)
#: The order the kinds come in after that, weighed towards the kinds with the most to explore.
_DECK = KINDS + ("truncate", "bitflip", "bitflip", "truncate", "overwrite_block", "bitflip", "swap_streams")


@dataclass(frozen=True)
class Case:
    """One corpus file: its number, the clip it was made from, how it was damaged."""

    index: int
    base: Base
    kind: str
    path: Path
    facts: dict[str, Any] = field(default_factory=dict)


def make_case(folder: Path, index: int, *, seed: int = 0, clean: dict[str, Path] | None = None) -> Case:
    """Write corpus file ``index`` of ``seed`` into ``folder``: the same damage of the same clean clip
    every time.

    ``clean`` caches the clean clips by name (they are written into ``folder/clean`` when missing).
    """
    clean = {} if clean is None else clean
    folder.mkdir(parents=True, exist_ok=True)
    kind = _DECK[index % len(_DECK)]
    bases = [b for b in BASES if b.audio] if kind == "swap_streams" else list(BASES)
    base = bases[(index // len(_DECK) + index) % len(bases)]
    if base.name not in clean:
        (folder / "clean").mkdir(parents=True, exist_ok=True)
        clean[base.name] = write_base(folder / "clean" / base.name, base)
    source = clean[base.name]
    path = folder / f"{index:04d}-{kind}-{base.name}"
    if kind == "swap_streams":
        swap_streams(source, path)
        source = path
    rng = np.random.default_rng([seed, index])
    data, facts = DAMAGE[kind](source.read_bytes(), rng)
    path.write_bytes(data)
    return Case(index, base, kind, path, facts)


def make_corpus(folder: Path, count: int, *, seed: int = 0, first: int = 0) -> list[Case]:
    """Corpus files ``first`` to ``first + count - 1`` of ``seed``, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    clean: dict[str, Path] = {}
    return [make_case(folder, index, seed=seed, clean=clean) for index in range(first, first + count)]


# -- runs --------------------------------------------------------------------------------------


def commands_for(case: Case, out: Path) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    """The command lines ``case`` goes through, each with the files it writes into ``out`` on success."""
    src = str(case.path)
    scale = "2" if case.index % 4 == 0 else "1"
    remastered = "r.mkv" if case.index % 2 == 0 else "r.mp4"
    fast = ["--model", "bicubic", "--quiet"]
    return {
        "info": (["info", src] + (["--exact"] if case.index % 2 else []), ()),
        "remaster": (["remaster", src, "-o", str(out / remastered), "--scale", scale, *fast], (remastered,)),
        "preview": (["preview", src, "-o", str(out / "p.mp4"), "--scale", "1", "--frames", "8", *fast],
                    ("p.mp4", "p.png")),
        "degrade": (["degrade", src, "-o", str(out / "d.mkv"), "--quiet"], ("d.mkv",)),
    }


@dataclass
class Run:
    """What one command did: exit code (None: killed at the timeout), output, time, problems."""

    case: int
    command: str
    argv: list[str]
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case, "command": self.command, "argv": self.argv, "rc": self.rc,
                "seconds": round(self.seconds, 3), "problems": self.problems, "stderr": self.stderr[-2000:]}


def _child(argv: list[str], stdout_path: str, stderr_path: str) -> None:
    """A run in a forked child: as ``python -m vidstyle ARGV``, with its output to two files.

    multiprocessing ends the child as the interpreter ends a program: an exception that escapes is
    printed with its traceback (exit code 1), and the threads that are not daemons are waited for.
    """
    for fd, name in ((1, stdout_path), (2, stderr_path)):
        handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, fd)
        os.close(handle)
    from vidstyle.cli import run

    sys.exit(run(argv))


class Runner:
    """Runs vidstyle command lines with a timeout: forked from a server that imported vidstyle once,
    or (``cold``) each in a new ``python -m vidstyle``. ``prefix`` replaces that command (tests)."""

    def __init__(self, *, timeout: float = 60.0, cold: bool = False, prefix: Sequence[str] | None = None) -> None:
        self.timeout = timeout
        self.cold = cold or prefix is not None
        self.prefix = list(prefix) if prefix is not None else [sys.executable, "-m", "vidstyle"]
        self._context = None
        if not self.cold:
            self._context = multiprocessing.get_context("forkserver")
            self._context.set_forkserver_preload(["vidstyle.cli", __name__])

    def __call__(self, argv: list[str], scratch: Path) -> tuple[int | None, str, str, float]:
        """``(exit code or None when killed at the timeout, stdout, stderr, seconds)``."""
        start = time.monotonic()
        if self.cold:
            try:
                proc = subprocess.run([*self.prefix, *argv], capture_output=True, text=True, timeout=self.timeout,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as ex:
                return None, _text(ex.stdout), _text(ex.stderr), time.monotonic() - start
            return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start
        out, err = scratch / "stdout.txt", scratch / "stderr.txt"
        child = self._context.Process(target=_child, args=(argv, str(out), str(err)))
        child.start()
        child.join(self.timeout)
        rc = child.exitcode
        if child.is_alive():
            child.kill()
            child.join()
            rc = None
        seconds = time.monotonic() - start
        texts = [p.read_text(errors="replace") if p.exists() else "" for p in (out, err)]
        for p in (out, err):
            p.unlink(missing_ok=True)
        return rc, texts[0], texts[1], seconds


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


#: Lines a command may print to stderr: its error, warnings and notes, the model line, log records.
_STDERR_LINE = re.compile(r"^(error|warning|note|model): |^(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.-]+: ")


def check_run(rc: int | None, stdout: str, stderr: str, *, before: str, after: str, produced: Sequence[str],
              expected: Sequence[str], beside: Sequence[str] = (), bad_outputs: Sequence[str] = ()) -> list[str]:
    """The problems of one run; none when it behaved.

    Args:
        rc: the exit code, None when the run was killed at the timeout.
        before, after: the input's sha256 before and after the run.
        produced: the names in the run's output folder afterwards (the folder was empty before).
        expected: what the command writes there on success.
        beside: files that appeared beside the input.
        bad_outputs: outputs that do not open, each with the reason.
    """
    problems = []
    if rc is None:
        problems.append("hang: killed at the timeout")
    elif rc not in (0, 1, 2):
        problems.append(f"exit code {rc}")
    if "Traceback (most recent call last)" in stderr + stdout:
        problems.append("traceback")
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    if any(line.startswith("error: unexpected") for line in errors):
        problems.append("unexpected error (a bug caught by the CLI's last resort)")
    if rc not in (None, 0) and (len(errors) != 1 or lines[-1] != errors[0]):
        problems.append(f"{len(errors)} error lines" if len(errors) != 1 else "the error line is not the last line")
    if rc == 0 and errors:
        problems.append("an error line on success")
    odd = [line for line in lines if not _STDERR_LINE.match(line)]
    if odd and rc is not None and "traceback" not in problems:
        problems.append(f"stray stderr line: {odd[0][:120]!r}")
    if before != after:
        problems.append("input changed")
    wanted = set(expected) if rc == 0 else set()
    leftovers = sorted(set(produced) - wanted)
    if leftovers and rc is not None:
        problems.append("leftover: " + ", ".join(leftovers))
    if rc == 0 and set(expected) - set(produced):
        problems.append("missing output: " + ", ".join(sorted(set(expected) - set(produced))))
    problems += [f"stray beside the input: {name}" for name in beside]
    problems += [f"output does not open: {why}" for why in bad_outputs]
    return problems


def output_problem(path: Path) -> str | None:
    """Why a finished output is not a whole file, or None: a video must open and decode a frame."""
    if path.suffix == ".png":
        return None if path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" else f"{path.name}: not a PNG"
    try:
        with av.open(str(path)) as container:
            next(container.decode(video=0))
    except (av.FFmpegError, StopIteration, IndexError) as ex:
        return f"{path.name}: {type(ex).__name__} {ex}"
    return None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"


def run_case(case: Case, runner: Runner, scratch: Path, commands: Sequence[str] | None = None) -> list[Run]:
    """``case`` through each of its commands (all by default), every run checked."""
    runs = []
    for command, (argv, expected) in _commands(case, scratch, commands):
        out = scratch / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        before, neighbours = sha256(case.path), set(os.listdir(case.path.parent))
        rc, stdout, stderr, seconds = runner(argv, scratch)
        produced = sorted(os.listdir(out))
        bad = [why for name in expected if name in produced and rc == 0
               if (why := output_problem(out / name)) is not None]
        beside = sorted(set(os.listdir(case.path.parent)) - neighbours)
        problems = check_run(rc, stdout, stderr, before=before, after=sha256(case.path), produced=produced,
                             expected=expected, beside=beside, bad_outputs=bad)
        runs.append(Run(case.index, command, argv, rc, stdout, stderr, seconds, problems))
        shutil.rmtree(out, ignore_errors=True)
    return runs


def _commands(case: Case, scratch: Path, only: Sequence[str] | None) -> Iterator[tuple[str, tuple]]:
    for command, plan in commands_for(case, scratch / "out").items():
        if only is None or command in only:
            yield command, plan


# -- the summary -------------------------------------------------------------------------------


#: The problem kinds the table counts, by the start of a problem's text.
PROBLEM_KINDS = ("hang", "exit code", "traceback", "unexpected", "error line", "stray stderr", "input changed",
                 "leftover", "missing output", "stray beside", "output does not open")


def summary(cases: Sequence[Case], runs: Sequence[Run], *, seed: int, seconds: float, mode: str) -> str:
    """A plain-text table of the exit codes and problems of each command, then the problem runs."""
    kinds = Counter(c.kind for c in cases)
    lines = [f"fuzz corpus: {len(cases)} files (seed {seed}) from {len({c.base.name for c in cases})} clean clips; "
             f"{len(runs)} runs ({mode}) in {seconds / 60:.1f} min",
             "damage: " + ", ".join(f"{k} {kinds[k]}" for k in KINDS if kinds[k])]
    codes = sorted({r.rc for r in runs if r.rc is not None})
    header = ["command", "runs", *(f"rc {c}" for c in codes), "hangs", "tracebacks", "unexpected",
              "error lines", "leftovers", "input changed", "other problems", "mean s"]
    rows = []
    for command in [*dict.fromkeys(r.command for r in runs), "total"]:
        mine = [r for r in runs if command in ("total", r.command)]
        count = Counter(_kind(p) for r in mine for p in r.problems)
        named = ("hang", "traceback", "unexpected", "error line", "leftover", "input changed")
        rows.append([command, len(mine), *(sum(r.rc == c for r in mine) for c in codes), count["hang"],
                     count["traceback"], count["unexpected"], count["error line"], count["leftover"],
                     count["input changed"], sum(v for k, v in count.items() if k not in named),
                     f"{np.mean([r.seconds for r in mine]):.2f}" if mine else "-"])
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        lines.append("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(row, widths))))
    bad = [r for r in runs if r.problems]
    lines.append(f"runs with a problem: {len(bad)}")
    by_index = {c.index: c for c in cases}
    for r in bad[:40]:
        lines.append(f"  {by_index[r.case].path.name} {r.command} (rc {r.rc}): {'; '.join(r.problems)}")
    return "\n".join(lines)


def _kind(problem: str) -> str:
    return next((k for k in PROBLEM_KINDS if k in problem), "other")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=500, help="corpus files to make and run (default 500)")
    parser.add_argument("--first", type=int, default=0, help="the number of the first file (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="the corpus seed (default 0)")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the corpus and the runs (default: a new temporary folder)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a run may take (default 60)")
    parser.add_argument("--cold", action="store_true", help="a new `python -m vidstyle` per run (about 4 s more each)")
    parser.add_argument("--log", type=Path, default=None, help="write every run as a JSON line to this file")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="vidstyle-fuzz-"))
    started = time.monotonic()
    cases = make_corpus(work / "corpus", args.files, seed=args.seed, first=args.first)
    runner = Runner(timeout=args.timeout, cold=args.cold)
    runs: list[Run] = []
    log = open(args.log, "w") if args.log else None  # noqa: SIM115 (closed below, written as the runs go)
    try:
        for number, case in enumerate(cases, start=1):
            mine = run_case(case, runner, work / "scratch")
            runs += mine
            for run in mine:
                if log:
                    log.write(json.dumps({"file": case.path.name, "kind": case.kind, "facts": case.facts,
                                          **run.to_dict()}) + "\n")
                    log.flush()
            if not any(r.problems for r in mine):
                case.path.unlink()  # a file that passed is not needed again: it is remade from its seed
            if number % 25 == 0:
                print(f"{number}/{len(cases)} files, {sum(bool(r.problems) for r in runs)} runs with a problem, "
                      f"{(time.monotonic() - started) / 60:.1f} min", file=sys.stderr, flush=True)
    finally:
        if log:
            log.close()
    print(summary(cases, runs, seed=args.seed, seconds=time.monotonic() - started,
                  mode="python -m vidstyle each" if args.cold else "forked"))
    print(f"corpus and runs in {work} (files with a problem are kept)")
    return 1 if any(r.problems for r in runs) else 0


if __name__ == "__main__":
    from pipelines.fuzz import main as fuzz_main  # by this name, which the fork server imports

    sys.exit(fuzz_main())
