"""`pip install .` (not only editable) gives a working tool with its data files."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    # Build from a copy of the tracked files, so the checkout gets no build/ folder.
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if files.returncode != 0:
        pytest.skip("not a git checkout")
    for name in files.stdout.splitlines():
        src = REPO / name
        if src.is_file():
            dst = build / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(build)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("vidstyle-*.whl")
    return path


def test_wheel_carries_data_and_weights(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "vidstyle/data/sample_reel.mp4" in names
    assert "vidstyle/weights/__init__.py" in names
    for name in ("remaster-x1", "remaster-x2", "remaster-x4"):
        assert f"vidstyle/weights/{name}.safetensors" in names and f"vidstyle/weights/{name}.json" in names
    assert "vidstyle/damage/degrade.py" in names
    styles = sorted((REPO / "weights").glob("style-*.json"))
    for card in styles:  # the bundled styles: weights, card and exemplar thumbnail
        for suffix in (".safetensors", ".json", ".png"):
            assert f"vidstyle/weights/{card.stem}{suffix}" in names
    assert not any(n.endswith(".preview.png") for n in names)
    looks = sorted((REPO / "vidstyle" / "finish" / "looks").glob("*.cube"))
    assert len(looks) == 5  # the bundled film looks (--look NAME)
    for look in looks:
        assert f"vidstyle/finish/looks/{look.name}" in names
    assert any(n.endswith("entry_points.txt") for n in names)


def test_installed_tool_runs(wheel, tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import vidstyle; print(vidstyle.__file__); print(vidstyle.sample_clip())"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    module_file, sample = proc.stdout.split()
    assert module_file.startswith(str(site)) and Path(sample).is_file()
    proc = subprocess.run(
        [sys.executable, "-m", "vidstyle", "info", sample], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0 and "512x288" in proc.stdout, proc.stderr
    # The shipped weights load from the installed package, their hashes checked.
    code = "from vidstyle.models import load_model; m = load_model('remaster-x2', scale=2); print(m.meta['file'])"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(site))


def test_runs_without_the_test_and_train_extras(tmp_path):
    """A plain `pip install .` has no scikit-image or scikit-video: remaster (reuse, the
    default), preview and metrics must not need them."""
    src = REPO / "vidstyle" / "data" / "sample_reel.mp4"
    script = (
        "import sys\n"
        "sys.modules['skimage'] = None\n"  # an import of it now fails, as when not installed
        "sys.modules['skvideo'] = None\n"
        "from vidstyle.cli import run\n"
        f"out = {str(tmp_path)!r}\n"
        f"args = [{str(src)!r}, '--frames', '6', '-q']\n"
        "codes = [run(['remaster', args[0], '-o', out + '/r.mp4', '--frames', '6', '-q']),\n"
        "         run(['preview', *args[:1], '-o', out + '/p.mp4', '--frames', '6', '-q']),\n"
        "         run(['metrics', out + '/r.mp4', '--ref', out + '/r.mp4', '-q'])]\n"
        "sys.exit(max(codes))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SSIM-Y         1.0000" in proc.stdout
    assert (tmp_path / "r.mp4").is_file() and (tmp_path / "p.mp4").is_file()
