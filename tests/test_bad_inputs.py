"""Bad invocations across the commands, one table: each ends with its exit code and one ``error:``
line, no traceback, every file as it was, and nothing written.

These extend the cases of test_cli.py (remaster's bad inputs), test_checks.py (output paths,
encoder options, seeds, ranges), test_finish_*.py (--look, --grain) and test_outside_models.py
(model files) to the other commands and the options those leave out.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import file_hash, make_audio_only, make_clip

from vidstyle.cli import run


def _text(d: Path, name: str = "notes.mp4") -> Path:
    (d / name).write_text("not a video\n" * 40)
    return d / name


def _png_named(d: Path, name: str) -> Path:
    cv2.imwrite(str(d / "p.png"), np.full((48, 64, 3), 100, np.uint8))
    (d / "p.png").rename(d / name)
    return d / name


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "pipe.mp4")
    return d / "pipe.mp4"


def _folder(d: Path, name: str) -> Path:
    (d / name).mkdir()
    return d / name


def _not_sqlite_manifest(d: Path) -> Path:
    (_folder(d, "done") / "vidstyle-batch.sqlite").write_text("these are my notes, not a database\n")
    return d / "done"


def _other_database(d: Path) -> Path:
    with sqlite3.connect(_folder(d, "done") / "vidstyle-batch.sqlite") as db:
        db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    db.close()
    return d / "done"


def _list_of_nothing(d: Path) -> Path:
    (d / "films.txt").write_text("# the films of reel 4, to come\n\n")
    return d / "films.txt"


def _card_temporal(d: Path, temporal: dict) -> Path:
    """remaster-x2 beside a card whose ``temporal`` says ``temporal``."""
    import json
    import shutil

    from vidstyle.models.registry import shipped_weights

    source = shipped_weights("remaster-x2")
    card = json.loads(source.with_suffix(".json").read_text())
    card["temporal"] = temporal
    shutil.copyfile(source, d / "w.safetensors")
    (d / "w.json").write_text(json.dumps(card))
    return d / "w.safetensors"


def _unknown_residual_warp(d: Path) -> Path:
    """remaster-x2 beside a card naming a way of warping the keyframe's residual there is not."""
    return _card_temporal(d, {"residual_warp": "pixels"})


def _reversed_grain_gate(d: Path) -> Path:
    """remaster-x2 beside a card whose grain gate opens above where it closes."""
    return _card_temporal(d, {"residual_warp": "picture", "grain_gate": [3.0, 1.5]})


def _malformed_blend_gate(d: Path) -> Path:
    """remaster-x2 beside a card whose blend gate is one level, not two."""
    return _card_temporal(d, {"residual_warp": "picture", "grain_gate": [1.5, 3.0], "blend_gate": [2.0]})


def _negative_whole_gate(d: Path) -> Path:
    """remaster-x2 beside a card whose whole gate is below 0 levels."""
    return _card_temporal(d, {"residual_warp": "picture", "grain_gate": [1.5, 3.0], "whole_gate": -1.0})


def _garbage(d: Path, name: str) -> Path:
    (d / name).write_bytes(np.random.default_rng(3).bytes(2048))
    return d / name


def _unknown_conditioning(d: Path) -> Path:
    """remaster-x2 beside a card asking for a kind of damage conditioning there is not (3)."""
    import json
    import shutil

    from vidstyle.models.registry import shipped_weights

    source = shipped_weights("remaster-x2")
    card = json.loads(source.with_suffix(".json").read_text())
    card["hparams"]["condition"] = 3
    shutil.copyfile(source, d / "m.safetensors")
    (d / "m.json").write_text(json.dumps(card))
    return d / "m.safetensors"


#: name: (the command line, given the folder d and a clip c in it; exit code; part of the error line)
CASES: dict[str, tuple[Callable[[Path, Path], list], int, str]] = {
    # info
    "info: missing file": (lambda d, c: ["info", d / "nope.mp4"], 1, "input not found"),
    "info: a folder": (lambda d, c: ["info", _folder(d, "reels")], 1, "is a directory"),
    "info: zero bytes": (lambda d, c: ["info", (d / "z.mkv").touch() or d / "z.mkv"], 1, "empty (0 bytes)"),
    "info: text named .mp4": (lambda d, c: ["info", _text(d)], 1, "cannot open"),
    "info: audio only": (lambda d, c: ["info", make_audio_only(d / "a.m4a")], 1, "no video stream"),
    "info: garbage named .mkv": (lambda d, c: ["info", _garbage(d, "g.mkv")], 1, "cannot open"),
    "info: a named pipe": (lambda d, c: ["info", _fifo(d)], 1, "not a regular file"),
    "info: a device": (lambda d, c: ["info", "/dev/null"], 1, "not a regular file"),
    "info: a newline in the name": (lambda d, c: ["info", d / "reel\none.mp4"], 1, "reel\\none.mp4"),
    "info: no input": (lambda d, c: ["info"], 2, "Missing argument"),
    # preview
    "preview: missing file": (lambda d, c: ["preview", d / "nope.mp4", "-o", d / "p.mp4"], 1, "input not found"),
    "preview: malformed --start": (lambda d, c: ["preview", c, "-o", d / "p.mp4", "--start", "1:2:3:4"], 2,
                                   "malformed"),
    "preview: --start past the end": (lambda d, c: ["preview", c, "-o", d / "p.mp4", "--start", "00:10:00",
                                                    "--model", "bicubic"], 1, "after the end"),
    "preview: --scale 3": (lambda d, c: ["preview", c, "-o", d / "p.mp4", "--scale", "3"], 2, "--scale"),
    "preview: unknown --model": (lambda d, c: ["preview", c, "-o", d / "p.mp4", "--model", "magic"], 1,
                                 "unknown model 'magic'"),
    "preview: --sheet is a folder": (lambda d, c: ["preview", c, "-o", d / "p.mp4", "--sheet", _folder(d, "s")], 2,
                                     "--sheet"),
    "preview: output is the input": (lambda d, c: ["preview", c, "-o", c, "--model", "bicubic", "--overwrite"], 1,
                                     "must not be the input"),
    "preview: bad --on-damage": (lambda d, c: ["preview", c, "-o", d / "p.mp4", "--on-damage", "ignore"], 2,
                                 "--on-damage"),
    "preview: text named .mp4": (lambda d, c: ["preview", _text(d), "-o", d / "p.mp4", "--model", "bicubic"], 1,
                                 "cannot open"),
    # degrade
    "degrade: missing file": (lambda d, c: ["degrade", d / "nope.mp4", "-o", d / "o.mkv"], 1, "input not found"),
    "degrade: --downscale 3": (lambda d, c: ["degrade", c, "-o", d / "o.mkv", "--downscale", "3"], 2,
                               "--downscale"),
    "degrade: malformed --end": (lambda d, c: ["degrade", c, "-o", d / "o.mkv", "--end", "soon"], 2, "malformed"),
    "degrade: --crf 64": (lambda d, c: ["degrade", c, "-o", d / "o.mkv", "--crf", "64"], 2, "--crf"),
    "degrade: output is the input": (lambda d, c: ["degrade", c, "-o", c, "--overwrite"], 1, "must not be the input"),
    "degrade: output in a missing folder": (lambda d, c: ["degrade", c, "-o", d / "no" / "o.mkv"], 1,
                                            "output folder does not exist"),
    "degrade: zero bytes": (lambda d, c: ["degrade", (d / "z.mp4").touch() or d / "z.mp4", "-o", d / "o.mkv"], 1,
                            "empty (0 bytes)"),
    # remaster
    "remaster: malformed --end": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--end", "abc"], 2, "malformed"),
    "remaster: --frames 0": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--frames", "0"], 2, "--frames"),
    "remaster: a time too long to be one": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--start",
                                                          "f" + "9" * 5000], 2, "longer than 40 characters"),
    "remaster: a PNG named .mp4 at --start 1": (lambda d, c: ["remaster", _png_named(d, "still.mp4"), "-o",
                                                              d / "o.mkv", "--start", "1", "--model", "bicubic"],
                                                1, "selects no frame"),
    "remaster: look file missing": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--look", d / "warm.cube"], 2,
                                    "unknown look"),
    "remaster: look file not text": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--look",
                                                   _garbage(d, "warm.cube")], 2, "not a text file"),
    "remaster: bad --on-damage": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--on-damage", "skip"], 2,
                                  "--on-damage"),
    "remaster: reuse with a resampler": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--model", "bicubic",
                                                       "--temporal", "reuse"], 1, "cannot reuse features"),
    "remaster: -x with no key": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "-x", "=1"], 2, "key=value"),
    "remaster: --chunks 0": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--chunks", "0"], 2, "--chunks"),
    "remaster: --blend-strength 1": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--blend-strength", "1"], 2,
                                     "--blend-strength"),
    "remaster: output is a folder": (lambda d, c: ["remaster", c, "-o", _folder(d, "out.mkv"), "--model", "bicubic"],
                                     1, "output is a folder"),
    "remaster: unknown output extension": (lambda d, c: ["remaster", c, "-o", d / "o.xyz", "--model", "bicubic"], 1,
                                           "unknown container"),
    "remaster: --report is a folder": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--report", _folder(d, "r")],
                                       2, "--report"),
    "remaster: no -o": (lambda d, c: ["remaster", c], 2, "Missing option '-o'"),
    "remaster: a named pipe": (lambda d, c: ["remaster", _fifo(d), "-o", d / "o.mkv"], 1, "not a regular file"),
    "remaster: a card with an unknown conditioning": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--model",
                                                                    _unknown_conditioning(d)], 1,
                                                      "condition must be False, True or 2, got 3"),
    "remaster: a card with an unknown residual warp": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--model",
                                                                     _unknown_residual_warp(d)], 1,
                                                       "temporal.residual_warp must be one of cells, picture"),
    "remaster: a card with a reversed grain gate": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--model",
                                                                  _reversed_grain_gate(d)], 1,
                                                    "temporal.grain_gate must be two levels [low, high] with 0 <= low"),
    "remaster: a card with a blend gate of one level": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--model",
                                                                      _malformed_blend_gate(d)], 1,
                                                        "temporal.blend_gate must be two levels [low, high], got"),
    "remaster: a card with a negative whole gate": (lambda d, c: ["remaster", c, "-o", d / "o.mkv", "--model",
                                                                  _negative_whole_gate(d)], 1,
                                                    "temporal.whole_gate must be a level of 0 or more, got -1.0"),
    # batch
    "batch: missing folder": (lambda d, c: ["batch", d / "nowhere", "-o", d / "hd"], 1, "nowhere"),
    "batch: --status without a manifest": (lambda d, c: ["batch", d, "-o", _folder(d, "hd"), "--status"], 1,
                                           "no batch manifest"),
    "batch: --status on a file that is not SQLite": (lambda d, c: ["batch", d, "-o", _not_sqlite_manifest(d),
                                                                   "--status"], 1, "is not a SQLite database"),
    "batch: --status on another program's database": (lambda d, c: ["batch", d, "-o", _other_database(d),
                                                                     "--status"], 1, "has no jobs table"),
    "batch: a list that names no film": (lambda d, c: ["batch", _list_of_nothing(d), "-o", d / "hd"], 1,
                                         "names no video"),
    "batch: --glob that matches nothing": (lambda d, c: ["batch", d, "-o", d / "hd", "--glob", "*.mov"], 1,
                                           "matches --glob '*.mov'"),
    "batch: unknown --name field": (lambda d, c: ["batch", d, "-o", d / "hd", "--name", "{title}.mkv"], 1,
                                    "unknown field {title}"),
    "batch: unknown --backend": (lambda d, c: ["batch", d, "-o", d / "hd", "--backend", "slurm"], 2, "--backend"),
    "batch: --retries -1": (lambda d, c: ["batch", d, "-o", d / "hd", "--retries", "-1"], 2, "--retries"),
    "batch: --chunks 0": (lambda d, c: ["batch", d, "-o", d / "hd", "--chunks", "0"], 2, "--chunks"),
    # metrics, models, train-style, and the command itself
    "metrics: missing file": (lambda d, c: ["metrics", d / "nope.mkv"], 1, "input not found"),
    "metrics: text named .mkv": (lambda d, c: ["metrics", _text(d, "t.mkv")], 1, "cannot open"),
    "models --inspect: not a weights file": (lambda d, c: ["models", "--inspect", _text(d, "m.txt")], 1,
                                             "not a weights file vidstyle reads"),
    "models --inspect: garbage weights": (lambda d, c: ["models", "--inspect", _garbage(d, "m.safetensors")], 1,
                                          "m.safetensors"),
    "train-style: output not .safetensors": (lambda d, c: ["train-style", _png_named(d, "art.png"), "-o",
                                                           d / "style.pth"], 1, "must be a .safetensors file"),
    "train-style: --minutes 0": (lambda d, c: ["train-style", _png_named(d, "art.png"), "-o", d / "s.safetensors",
                                               "--minutes", "0"], 2, "--minutes"),
    "an unknown command": (lambda d, c: ["remastr", c], 2, "No such command 'remastr'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_invocation_ends_in_one_line(capsys, tmp_path, case):
    make, code, message = CASES[case]
    clip = make_clip(tmp_path / "c.mp4", frames=6, audio=False)
    argv = [str(a) for a in make(tmp_path, clip)]
    before = {p: (file_hash(p) if p.is_file() else None) for p in tmp_path.rglob("*")}
    assert run(argv) == code
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err + out, err
    assert message in lines[0], lines[0]
    after = {p: (file_hash(p) if p.is_file() else None) for p in tmp_path.rglob("*")}
    assert after == before  # every input as it was, no output, no temporary


def test_the_table_is_long_enough():
    """Issue 19 asks for 40 listed bad inputs or more (besides those of the other test files)."""
    assert len(CASES) >= 40 and len({name.split(":")[0] for name in CASES}) >= 7
