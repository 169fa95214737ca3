"""Stopped from outside, and left behind: real signals on real runs, and the `.partial` rule.

SIGTERM (a scheduler, `timeout`, a container stop) and SIGHUP (a closed terminal) stop a run as
Ctrl-C does: no temporary file stays, the input is untouched, a batch's manifest puts the running
work back, and the exit code is 128 + the signal (143, 129). Each command runs in a process of
its own, on a clip long enough to be still working when its temporary file appears.

A run also removes the temporaries its own output kept from a run that died (``kill -9``), leaves
a live run's alone, and refuses to write an output another run is writing.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import file_hash, make_clip

from vidstyle.cli import run
from vidstyle.errors import OutputError
from vidstyle.io.atomic import atomic_write, claim_output, leftover_partials, refuse_live_partials

SLOW_MODEL = ["--model", "remaster-x2", "--quiet"]


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> Path:
    """300 frames of 160x120 with sound: several seconds of remaster-x2 (or of damage) on any machine."""
    return make_clip(tmp_path_factory.mktemp("films") / "film.mp4", frames=300, width=160, height=120)


def temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if ".partial-" in p.name)


def start(*args: object) -> subprocess.Popen:
    """``vidstyle ARGS`` in a session of its own, with the default signal dispositions (a test
    run started with nohup or in the background would hand ignored signals down)."""

    def default_signals() -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)

    return subprocess.Popen([sys.executable, "-m", "vidstyle", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_signals)


def wait_until_writing(proc: subprocess.Popen, folder: Path, timeout: float = 120.0) -> None:
    """Until a temporary file appears under ``folder`` (the run is past its checks, writing)."""
    deadline = time.monotonic() + timeout
    while not temporaries(folder):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.02)
    time.sleep(0.3)
    assert proc.poll() is None, "finished before it could be stopped"


def stop(proc: subprocess.Popen, signum: int) -> str:
    """Send ``signum`` to the run (its process only, as a scheduler does); its stderr."""
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"stopped by {signal.Signals(signum).name}" in errors[0], err
    return errors[0]


def manifest_states(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        return {Path(name).name: state for name, state in db.execute("SELECT input, state FROM jobs")}


@pytest.mark.slow
class TestStopSignals:
    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
    def test_remaster(self, film, tmp_path, signum, capsys):
        digest, out = file_hash(film), tmp_path / "hd.mkv"
        proc = start("remaster", film, "-o", out, *SLOW_MODEL)
        wait_until_writing(proc, tmp_path)
        # A second run on the same output, meanwhile, refuses cleanly and leaves the first one be.
        assert run(["remaster", str(film), "-o", str(out), "--model", "bicubic", "-q"]) == 1
        err = capsys.readouterr().err
        assert err.count("error:") == 1 and "is writing" in err and f"PID {proc.pid}" in err
        assert len(temporaries(tmp_path)) == 1
        stop(proc, signum)
        assert not list(tmp_path.iterdir()) and file_hash(film) == digest

    def test_preview(self, film, tmp_path):
        digest = file_hash(film)
        proc = start("preview", film, "-o", tmp_path / "try.mp4", "--frames", "300", *SLOW_MODEL)
        wait_until_writing(proc, tmp_path)
        stop(proc, signal.SIGTERM)
        assert not list(tmp_path.iterdir()) and file_hash(film) == digest  # no video, no sheet

    def test_degrade(self, film, tmp_path):
        digest = file_hash(film)
        proc = start("degrade", film, "-o", tmp_path / "old.mkv", "--seed", "3", "--quiet")
        wait_until_writing(proc, tmp_path)
        stop(proc, signal.SIGTERM)
        assert not list(tmp_path.iterdir()) and file_hash(film) == digest

    def test_remaster_chunks(self, film, tmp_path):
        digest, out = file_hash(film), tmp_path / "hd.mkv"
        proc = start("remaster", film, "-o", out, "--chunks", "3", *SLOW_MODEL)
        wait_until_writing(proc, tmp_path)
        line = stop(proc, signal.SIGTERM)
        # remaster carries on by itself: it must not point at a --resume it does not accept.
        assert "run the same command again" in line.lower() and "--resume" not in line
        assert not temporaries(tmp_path) and not out.exists() and file_hash(film) == digest
        work = tmp_path / ".hd.mkv.vidstyle"
        assert set(manifest_states(work / "vidstyle-batch.sqlite").values()) <= {"pending", "done"}

    def test_batch_local(self, film, tmp_path):
        digest, source, out = file_hash(film), film.parent, tmp_path / "hd"
        proc = start("batch", source, "-o", out, *SLOW_MODEL)
        wait_until_writing(proc, out)
        assert "--resume" in stop(proc, signal.SIGTERM)
        assert not temporaries(out) and file_hash(film) == digest
        assert manifest_states(out / "vidstyle-batch.sqlite") == {"film.mp4": "pending"}
        assert not (out / "film.mkv").exists()

    def test_batch_ray(self, film, tmp_path):
        pytest.importorskip("ray")
        digest, source, out = file_hash(film), film.parent, tmp_path / "hd"
        proc = start("batch", source, "-o", out, "--backend", "ray", *SLOW_MODEL)
        wait_until_writing(proc, out, timeout=240)
        assert "--resume" in stop(proc, signal.SIGTERM)
        assert not temporaries(out) and file_hash(film) == digest
        assert manifest_states(out / "vidstyle-batch.sqlite") == {"film.mp4": "pending"}


def hold_claim(path: Path) -> subprocess.Popen:
    """Another process that claims ``path``'s temporary and keeps it, as a live run does."""
    code = ("import sys, time; from pathlib import Path; from vidstyle.io.atomic import claim_output; "
            "claim = claim_output(Path(sys.argv[1])); print(claim.tmp, flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line, "the claiming process did not start"
    return proc


class TestLeftovers:
    def test_a_dead_runs_temporary_goes_a_live_ones_stays(self, tmp_path):
        out = tmp_path / "hd.mkv"
        holder = hold_claim(out)
        try:
            (live,) = leftover_partials(out)
            with pytest.raises(OutputError, match=f"PID {holder.pid}.* is writing"):
                refuse_live_partials(out)
            assert live.exists()
        finally:
            holder.kill()  # kill -9: no clean-up of its own
            holder.wait()
        assert live.exists()  # left behind ...
        refuse_live_partials(out)  # ... and removed by the next run on the output, its lock gone
        assert not live.exists()

    def test_one_claim_at_a_time(self, tmp_path):
        out = tmp_path / "report.json"
        with claim_output(out) as claim:
            with pytest.raises(OutputError, match="is writing"):
                claim_output(out)
            claim.tmp.write_text("{}")
            claim.commit()
        assert out.read_text() == "{}" and not leftover_partials(out)
        with pytest.raises(KeyboardInterrupt), atomic_write(out) as tmp:  # stopped half-way: no trace
            tmp.write_text('{"half')
            raise KeyboardInterrupt
        assert out.read_text() == "{}" and not leftover_partials(out)

    def test_remaster_removes_a_killed_runs_temporary(self, tmp_path, capsys):
        src = make_clip(tmp_path / "c.mp4", frames=8, audio=False)
        out, other = tmp_path / "hd.mkv", tmp_path / "other.mkv"
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
        stale = tmp_path / f".hd.partial-{dead}.mkv"
        stale.write_bytes(b"half a film")
        not_ours = tmp_path / f".other.partial-{dead}.mkv"  # another output's: not this run's to judge
        not_ours.write_bytes(b"half another film")
        assert run(["remaster", str(src), "-o", str(out), "--model", "bicubic", "-q"]) == 0, capsys.readouterr().err
        assert out.is_file() and not stale.exists() and not_ours.exists()
        assert not other.exists()

    def test_remaster_refuses_an_output_a_live_run_writes(self, tmp_path, capsys):
        src = make_clip(tmp_path / "c.mp4", frames=8, audio=False)
        out = tmp_path / "hd.mkv"
        holder = hold_claim(out)
        try:
            assert run(["remaster", str(src), "-o", str(out), "--model", "bicubic"]) == 1
            err = capsys.readouterr().err
            assert err.count("error:") == 1 and f"another vidstyle run (PID {holder.pid}) is writing" in err
            assert len(leftover_partials(out)) == 1 and not out.exists()
        finally:
            holder.kill()
            holder.wait()
        assert run(["remaster", str(src), "-o", str(out), "--model", "bicubic", "-q"]) == 0
        assert out.is_file() and not leftover_partials(out)


def test_the_exit_code_follows_the_signal_when_the_exception_was_replaced():
    """The exit code comes from the signal even where a library replaced the exception (as Ray's
    blocking calls turn it into a plain KeyboardInterrupt): the CLI's handler notes the signal."""
    code = ("import os, signal, sys; from vidstyle.cli import cli, run\n"
            "@cli.command('sleepy')\n"
            "def sleepy():\n"
            "    try:\n"
            "        os.kill(os.getpid(), signal.SIGTERM)\n"
            "        signal.pause()\n"
            "    except KeyboardInterrupt:\n"
            "        raise KeyboardInterrupt from None  # the exception replaced, the signal kept\n"
            "sys.exit(run(['sleepy']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip() == "error: stopped by SIGTERM; no output was written"
