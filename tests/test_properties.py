"""Properties that hold for any input (hypothesis): what a user hands vidstyle either reads as a
consistent value or is refused with the project's own error, never another exception.

The parsers of times and ranges, the option validators (through the real command line as well),
and the readers of the files vidstyle is given besides videos: ``.cube`` looks, the cards of
weights files, and the batch manifest. The examples are derandomized, so a run is repeatable and
leaves no example database behind; the sizes keep the file well under 30 s.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from fractions import Fraction
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vidstyle.batch.manifest import MANIFEST_NAME, JobSpec, Manifest, read_status, settings_hash
from vidstyle.cli import run
from vidstyle.cli_options import parse_key_value
from vidstyle.config import (
    EncodeConfig,
    GrainConfig,
    RangeConfig,
    RemasterConfig,
    RepairConfig,
    TemporalConfig,
)
from vidstyle.errors import ConfigError, LookError, ManifestError, ModelError, RangeError
from vidstyle.finish import Look, read_cube
from vidstyle.models import load_model
from vidstyle.models.generator import RemasterGenerator
from vidstyle.models.weights import save_weights
from vidstyle.timecode import TimePoint, format_seconds, parse_frame_rate, parse_timepoint

#: Repeatable examples, no database folder, no deadline (the machine is shared), fixtures reused.
QUICK = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FEW = settings(QUICK, max_examples=60)

#: Text that looks like what people type for a time: digits, colons, points, f, s, signs, spaces.
TIMEISH = st.text(alphabet="0123456789:.fsFS+-eE_ \t", max_size=24)
ANY_TEXT = st.one_of(TIMEISH, st.text(max_size=30), st.from_regex(r"\A(\d{1,3}:){0,3}\d{0,3}(\.\d{0,4})?\Z"))


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` damaged by 1 to 4 edits: bytes overwritten, a run deleted or repeated, cut short."""
    edit = st.tuples(st.sampled_from(["overwrite", "delete", "repeat", "cut"]), st.floats(0, 1),
                     st.binary(min_size=1, max_size=16))

    def apply(edits: list[tuple[str, float, bytes]]) -> bytes:
        out = bytearray(data)
        for kind, where, payload in edits:
            at = min(int(where * len(out)), max(len(out) - 1, 0))
            if kind == "overwrite":
                out[at:at + len(payload)] = payload
            elif kind == "delete":
                del out[at:at + len(payload)]
            elif kind == "repeat":
                out[at:at] = out[at:at + len(payload)]
            else:
                del out[at:]
        return bytes(out)

    return st.lists(edit, min_size=1, max_size=4).map(apply)


# -- times and ranges ---------------------------------------------------------------------------


class TestTimes:
    @QUICK
    @given(ANY_TEXT)
    @example("f" + "9" * 5000)  # more digits than Python turns into a number
    @example("9" * 5000)
    @example("1:" + "9" * 5000 + ":00")
    @example("\u0661\u0662")  # digits of another script: Python reads them as 12
    def test_any_text_is_a_time_or_a_range_error(self, text):
        try:
            point = parse_timepoint(text)
        except RangeError:
            return
        assert (point.seconds is None) != (point.frame is None)
        assert (point.seconds or 0) >= 0 and (point.frame or 0) >= 0
        again = parse_timepoint(str(point))  # what a message or a report shows reads back the same
        assert (again.seconds, again.frame) == (point.seconds, point.frame)

    @QUICK
    @given(st.one_of(st.floats(), st.integers(min_value=-(10**50), max_value=10**50)))
    @example(10**5000)
    def test_any_number_is_a_time_or_a_range_error(self, number):
        try:
            point = parse_timepoint(number)
        except RangeError:
            assert not 0 <= number < 10**40  # (False for NaN too)
            return
        assert point.seconds == Fraction(str(number)) and point.frame is None

    @QUICK
    @given(st.one_of(ANY_TEXT, st.text(alphabet="0123456789./ ", max_size=20), st.floats(), st.integers(),
                     st.fractions()))
    @example("1" * 5000)
    @example("1/" + "9" * 5000)
    @example(10**5000)
    def test_any_frame_rate_is_a_rate_or_a_range_error(self, value):
        try:
            rate = parse_frame_rate(value)
        except RangeError:
            return
        assert isinstance(rate, Fraction) and 0 < rate <= 1000

    @QUICK
    @given(st.integers(min_value=0, max_value=10**12))
    def test_format_then_parse_round_trips_to_the_millisecond(self, millis):
        seconds = Fraction(millis, 1000)
        text = format_seconds(seconds)
        assert parse_timepoint(text).seconds == seconds
        assert format_seconds(parse_timepoint(text).seconds) == text

    @QUICK
    @given(st.fractions(min_value=0, max_value=10**7))
    def test_format_rounds_to_the_nearest_millisecond(self, seconds):
        assert abs(parse_timepoint(format_seconds(seconds)).seconds - seconds) <= Fraction(1, 2000) + Fraction(1, 10**6)

    @QUICK
    @given(st.one_of(st.none(), ANY_TEXT), st.one_of(st.none(), ANY_TEXT),
           st.one_of(st.none(), st.integers(min_value=-5, max_value=10**6)))
    def test_any_range_is_consistent_or_refused(self, start, end, frames):
        try:
            rng = RangeConfig(start=start, end=end, frames=frames)
        except (ConfigError, RangeError):
            return
        for point in (rng.start, rng.end):
            assert point is None or isinstance(point, TimePoint)
        assert rng.frames is None or rng.frames >= 1
        if rng.start is not None and rng.end is not None:
            if rng.start.seconds is not None and rng.end.seconds is not None:
                assert rng.end.seconds > rng.start.seconds
            if rng.start.frame is not None and rng.end.frame is not None:
                assert rng.end.frame > rng.start.frame
        assert rng.is_full == (start is None and end is None and frames is None)


# -- option validators ----------------------------------------------------------------------------


NUMBERISH = st.one_of(st.integers(-(10**6), 10**6).map(str), st.floats().map(str), TIMEISH)
#: remaster's options that take a value, with values to try besides any text.
OPTIONS = {
    "--scale": st.sampled_from(["1", "2", "4", "3", "0", "-2", "2.0", "x2"]),
    "--crf": NUMBERISH, "--preset": st.sampled_from(["ultrafast", "veryslow", "placebo", "fast ", "", "nonsense"]),
    "--codec": st.sampled_from(["libx264", "libx265", "ffv1", "aac", "nope264", "", "h264"]),
    "--pix-fmt": st.sampled_from(["yuv420p", "yuv420p10le", "rgb24", "gray", "nope"]),
    "-x": st.one_of(st.text(max_size=20), st.sampled_from(["tune=grain", "g=12", "=1", "a=", "crf=-1", "preset="])),
    "--repair": st.sampled_from(["auto", "off", "on", ""]),
    "--repair-parts": st.one_of(st.text(alphabet="spotscrahelik,none ", max_size=30),
                                st.sampled_from(["all", "none", "spots,flicker", "spots,,", ",", "dust"])),
    "--grade": st.sampled_from(["auto", "off", "on"]),
    "--grain": st.one_of(st.text(alphabet="0123456789.:-einfa", max_size=12), st.sampled_from(["4", "6:1.5", "nan"])),
    "--on-damage": st.sampled_from(["warn", "fail", "conceal", "ignore", ""]),
    "--temporal": st.sampled_from(["auto", "reuse", "blend", "off", "on"]),
    "--keyframe-interval": NUMBERISH, "--blend-strength": NUMBERISH, "--blend-tolerance": NUMBERISH,
    "--batch-size": NUMBERISH, "--style-strength": NUMBERISH, "--frames": NUMBERISH,
    "--start": ANY_TEXT, "--end": ANY_TEXT,
    "--device": st.sampled_from(["auto", "cpu", "gpu", "cuda:x"]),
    "--flow-preset": st.sampled_from(["ultrafast", "fast", "medium", "slow"]),
    "--tile": st.one_of(st.sampled_from(["auto", "off", "0", "512", "-1", "\u00b2", "1" * 5000]), NUMBERISH),
    "--fps": st.one_of(st.sampled_from(["24", "23.976", "24000/1001", "0", "1/0", "1001", "9" * 5000]), NUMBERISH),
}


@st.composite
def option_lines(draw) -> list[str]:
    """One to three of remaster's options, each with a likely or an arbitrary value."""
    names = draw(st.lists(st.sampled_from(sorted(OPTIONS)), min_size=1, max_size=3, unique=True))
    line = []
    for name in names:
        line += [name, draw(st.one_of(OPTIONS[name], st.text(max_size=12)))]
    return line


class TestOptions:
    @FEW
    @given(option_lines())
    @example(["--tile", "\u00b2"])  # a digit to str.isdigit(), not to int()
    @example(["--tile", "1" * 5000])  # more digits than int() takes
    @example(["--fps", "9" * 5000])
    @example(["--start", "f" + "9" * 5000])
    def test_options_are_refused_in_one_line_or_taken(self, capsys, tmp_path, line):
        """Through the real command line, on an input that is not there: a bad value is a usage error
        (exit 2) in one line; a good one gets as far as the input (exit 1, the input not found).
        An unknown codec or pixel format is the one runtime error an option can cause (exit 1)."""
        code = run(["remaster", str(tmp_path / "absent.mp4"), "-o", str(tmp_path / "o.mkv"), "--model", "bicubic",
                    "--quiet", *line])
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and "unexpected" not in err, err
        assert code == 2 or (code == 1 and ("input not found" in err or "--codec" in err or "--pix-fmt" in err)), err
        assert list(tmp_path.iterdir()) == []

    @QUICK
    @given(st.lists(st.text(max_size=20), max_size=4))
    def test_key_value_pairs_or_a_bad_parameter(self, values):
        param = click.Option(["-x"], multiple=True)
        try:
            pairs = parse_key_value(click.Context(click.Command("remaster")), param, values)
        except click.BadParameter:
            assert any("=" not in v or v.startswith("=") for v in values)
            return
        assert [f"{k}={v}" for k, v in pairs] == list(values)
        assert EncodeConfig(options=pairs).options == pairs

    @QUICK
    @given(st.text(max_size=40), st.sampled_from(["auto", "off", "on"]), st.sampled_from(["auto", "off", "x"]))
    def test_repair_parts(self, parts, mode, grade):
        try:
            config = RepairConfig.from_parts(mode, parts, grade)
        except ConfigError:
            return
        assert config.mode in ("auto", "off") and config.grade == (grade == "auto")

    @QUICK
    @given(st.one_of(st.text(max_size=16), st.text(alphabet="0123456789.:-+einfa_ ", max_size=14)))
    @example("nan")
    @example("4:inf")
    @example("1e400")
    def test_grain(self, text):
        try:
            grain = GrainConfig.parse(text)
        except ConfigError:
            return
        assert 0 <= grain.strength <= 64 and 0.5 <= grain.size <= 8

    @QUICK
    @given(st.integers(-100, 100), st.integers(-5, 70), st.integers(-3, 300), st.floats(), st.integers(-3, 10))
    def test_numbers_of_the_settings(self, scale, crf, batch_size, strength, keyframes):
        try:
            config = RemasterConfig(scale=scale, batch_size=batch_size, style_strength=strength,
                                    encode=EncodeConfig(crf=crf),
                                    temporal=TemporalConfig(keyframe_interval=keyframes, blend_strength=strength))
        except ConfigError:
            return
        assert config.scale in (1, 2, 4) and 0 <= config.encode.crf <= 63 and config.batch_size >= 1
        assert 0 <= config.style_strength < 1 and config.temporal.keyframe_interval >= 1


# -- .cube looks -------------------------------------------------------------------------------------


def _cube(size: int = 2) -> str:
    rows = [f"{r / (size - 1):.3f} {g / (size - 1):.3f} {b / (size - 1):.3f}"
            for b in range(size) for g in range(size) for r in range(size)]
    header = '# a look\nTITLE "fuzz"\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\n'
    return header + f"LUT_3D_SIZE {size}\n" + "\n".join(rows) + "\n"


CUBE_1D = "LUT_1D_SIZE 3\n0 0 0\n0.5 0.5 0.5\n1 1 1\n"
CUBE_WORDS = ["LUT_3D_SIZE", "LUT_1D_SIZE", "DOMAIN_MIN", "DOMAIN_MAX", "TITLE", "LUT_3D_INPUT_RANGE", "nan",
              "1e999", "-0", "2", "257", "0.5", "#", '"', "\ufeff", "\x00", "\r", "\n"]


@st.composite
def cube_texts(draw) -> bytes:
    """A well-formed 3D or 1D ``.cube``, its lines deleted, repeated or replaced by words the
    reader knows and by any text; or its bytes damaged."""
    text = draw(st.sampled_from([_cube(2), _cube(3), CUBE_1D]))
    if draw(st.booleans()):
        return draw(mutated(text.encode()))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "repeat", "replace", "insert"]))
        new = " ".join(draw(st.lists(st.one_of(st.sampled_from(CUBE_WORDS), st.text(max_size=6)), max_size=4)))
        if kind == "delete":
            del lines[at]
        elif kind == "repeat":
            lines.insert(at, lines[at])
        elif kind == "replace":
            lines[at] = new
        else:
            lines.insert(at, new)
        if not lines:
            break
    return "\n".join(lines).encode("utf-8", "surrogatepass")


class TestCube:
    @QUICK
    @given(cube_texts())
    @example(b"LUT_1D_SIZE 2\n0 0 0\n1 1 1\n")
    @example(b"\xff\xfe\x00\x00")
    def test_a_cube_reads_whole_or_raises_a_look_error(self, tmp_path, data):
        path = tmp_path / "fuzz.cube"
        path.write_bytes(data)
        try:
            lut = read_cube(path)
        except LookError as ex:
            assert "\n" not in str(ex).strip()
            return
        assert lut.table.dtype == np.float32 and np.isfinite(lut.table).all()
        n = lut.size
        assert lut.table.shape == ((n, n, n, 3) if lut.is_3d else (n, 3))
        assert 2 <= n <= (256 if lut.is_3d else 65536)
        assert all(lo < hi for lo, hi in zip(lut.domain_min, lut.domain_max))
        if not lut.is_3d:  # (a 3D look computes every 8-bit colour first: a second each, too slow here)
            frame = np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5
            assert Look(lut)(frame).shape == frame.shape


# -- weights cards -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> tuple[Path, dict]:
    """A tiny model of ours, ``m.safetensors`` with its card ``m.json``."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    model = RemasterGenerator(scale=2, channels=4, body_blocks=1, low_blocks=1, decoder_blocks=1)
    card = save_weights(model, folder / "m.safetensors", {"name": "m", "scale": 2})
    return folder / "m.safetensors", card


JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=8))
JSON = st.recursive(JSON_LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                    max_leaves=8)
CARD_KEYS = ["architecture", "hparams", "sha256", "scale", "name"]
HPARAMS = ["scale", "channels", "body_blocks", "low_blocks", "decoder_blocks", "reuse_channels", "reuse_rank",
           "colour_skip", "output_blur", "unknown"]


@st.composite
def cards(draw, card: dict) -> bytes:
    """The card's text: fields removed or replaced by any JSON, hyperparameters changed, the hash
    kept or left out (so that the reader goes past it); or the text's bytes damaged; or any JSON."""
    choice = draw(st.sampled_from(["fields", "hparams", "bytes", "any"]))
    if choice == "bytes":
        return draw(mutated(json.dumps(card).encode()))
    if choice == "any":
        return json.dumps(draw(JSON)).encode()
    card = json.loads(json.dumps(card))
    if draw(st.booleans()):
        del card["sha256"]
    if choice == "fields":
        for key in draw(st.lists(st.sampled_from(CARD_KEYS), min_size=1, max_size=3, unique=True)):
            if draw(st.booleans()):
                card.pop(key, None)
            else:
                card[key] = draw(JSON)
    else:
        for key in draw(st.lists(st.sampled_from(HPARAMS), min_size=1, max_size=3, unique=True)):
            card["hparams"][key] = draw(st.one_of(st.integers(-3, 12), st.integers(10**6, 10**12), JSON))
    return json.dumps(card).encode()


class TestWeightsCards:
    @QUICK
    @given(st.data())
    def test_a_card_loads_or_raises_a_model_error(self, tmp_path, weights, data):
        source, card = weights
        path = tmp_path / "m.safetensors"
        shutil.copy(source, path)
        path.with_suffix(".json").write_bytes(data.draw(cards(card)))
        self._loads_or_refuses(path)

    @FEW
    @given(st.data(), st.booleans())
    def test_damaged_weights_load_or_raise_a_model_error(self, tmp_path, weights, data, with_card):
        """The weights file's bytes damaged (its header and metadata first), with its card (the hash
        left out, so the reader goes on) or without one (then spandrel is asked)."""
        source, card = weights
        path = tmp_path / "m.safetensors"
        raw = source.read_bytes()
        head = data.draw(mutated(raw[:600]))
        path.write_bytes(head + raw[600:])
        if with_card:
            path.with_suffix(".json").write_text(json.dumps({k: v for k, v in card.items() if k != "sha256"}))
        self._loads_or_refuses(path)

    @staticmethod
    def _loads_or_refuses(path: Path) -> None:
        try:
            model = load_model(str(path), scale=None)
        except ModelError as ex:
            assert str(ex).strip() and "\n" not in str(ex).strip()
            return
        assert model.scale in (1, 2, 4)
        out = model(torch.rand(1, 3, 8, 8))
        assert out.shape == (1, 3, 8 * model.scale, 8 * model.scale)


# -- the batch manifest ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest_file(tmp_path_factory) -> Path:
    """A real manifest of three films: one done (with damage), one failed, one pending."""
    folder = tmp_path_factory.mktemp("manifest")
    specs = [JobSpec(Path(f"/films/{name}.mp4"), Path(f"/out/{name}.mkv"), f"{name}.mp4", 1000, 5,
                     settings_hash({"scale": 2}), 30) for name in ("a", "b", "c")]
    with Manifest.open(folder / MANIFEST_NAME) as manifest:
        ids = manifest.sync(specs).ids
        manifest.set_segments(ids[0], [(0, 15, 0), (15, 15, 4)])
        manifest.start_job(ids[0])
        manifest.finish_job(ids[0], frames=30, seconds=2.5,
                            damage={"streams": [{"index": 0, "frames": 30, "lost": [[3, 4]]}], "on_damage": "warn"})
        manifest.start_job(ids[1])
        manifest.fail_job(ids[1], "cannot open b.mp4")
    with sqlite3.connect(folder / MANIFEST_NAME) as db:  # everything in the main file, none in the WAL
        db.execute("PRAGMA journal_mode=DELETE")
    return folder / MANIFEST_NAME


COLUMNS = {
    "meta": ["key", "value"],
    "jobs": ["id", "input", "output", "name", "size", "mtime_ns", "settings", "state", "attempts", "error",
             "expected_frames", "frames", "seconds", "started", "finished", "segments", "damage"],
    "segments": ["job_id", "idx", "first_frame", "frames", "warmup", "state", "attempts", "error", "path",
                 "output_frames", "first_pts", "seconds", "damage"],
}
SQL_VALUES = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=10),
                       st.binary(max_size=6), st.sampled_from(["1", "2", "3", "done", "pending", "{}", "[]",
                                                               '{"streams": 5}', '{"streams": [{"index": "x"}]}']))


@st.composite
def foreign_schemas(draw) -> list[tuple[str, list[str], list[list]]]:
    """Tables named as the manifest's (or not), with some of its columns (or others), holding
    values of any type: a database of another program, another version, or edited by hand."""
    tables = []
    for name in draw(st.lists(st.sampled_from(["meta", "jobs", "segments", "other"]), min_size=1, unique=True)):
        known = COLUMNS.get(name, ["a", "b"])
        columns = draw(st.lists(st.sampled_from(known + ["extra"]), min_size=1, unique=True))
        if name == "meta" and draw(st.booleans()):
            columns = ["key", "value"]
        rows = draw(st.lists(st.lists(SQL_VALUES, min_size=len(columns), max_size=len(columns)), max_size=3))
        if name == "meta" and columns == ["key", "value"] and draw(st.booleans()):
            rows.append(["schema_version", draw(st.sampled_from(["1", "2", "3", "x"]))])
        tables.append((name, columns, rows))
    return tables


def _status_is_a_table_or_one_error(capsys, folder: Path) -> None:
    """``read_status`` and ``vidstyle batch --status``: the rows, or ManifestError in one line."""
    try:
        rows = read_status(folder)
    except ManifestError:
        rows = None
    code = run(["batch", str(folder), "-o", str(folder), "--status"])
    out, err = capsys.readouterr()
    assert "unexpected" not in err and "Traceback" not in err, err
    if rows is None or code != 0:
        assert code == 1 and err.count("\n") == 1 and err.startswith("error: "), (code, err)
    else:
        assert f"(of {len(rows)})" in out


class TestManifest:
    @QUICK
    @given(st.data())
    def test_a_damaged_manifest_reads_or_raises_a_manifest_error(self, capsys, tmp_path, manifest_file, data):
        folder = tmp_path / f"m{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        (folder / MANIFEST_NAME).write_bytes(data.draw(mutated(manifest_file.read_bytes())))
        _status_is_a_table_or_one_error(capsys, folder)
        try:  # opened to carry on a batch, it is refused in one line or opens
            Manifest.open(folder / MANIFEST_NAME).close()
        except ManifestError as ex:
            assert "\n" not in str(ex)

    @QUICK
    @given(foreign_schemas())
    def test_a_foreign_database_reads_or_raises_a_manifest_error(self, capsys, tmp_path, tables):
        folder = tmp_path / f"m{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        with sqlite3.connect(folder / MANIFEST_NAME) as db:
            for name, columns, rows in tables:
                db.execute(f"CREATE TABLE {name} ({', '.join(columns)})")
                db.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(columns))})", rows)
        db.close()
        _status_is_a_table_or_one_error(capsys, folder)
