"""Shared test helpers: small real clips written with PyAV into tmp_path."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest


def frame_pattern(index: int, width: int, height: int) -> np.ndarray:
    """A frame that is easy to tell from its neighbours: a moving bar over a gradient."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    img[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    img[..., 2] = (index * 37) % 256
    bar = (index * 5) % width
    img[:, bar : bar + 4] = 255
    return img


def make_clip(
    path: Path,
    *,
    frames: int = 30,
    width: int = 64,
    height: int = 48,
    fps: int = 25,
    audio: bool = True,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    gop: int = 10,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int = 0,
    colour: tuple[int, int, int, int] | None = None,
    sar: Fraction | None = None,
    audio_codec: str = "aac",
    subtitles: bool = False,
) -> Path:
    """Write a small real video (and a sine tone) with PyAV.

    ``pts`` gives explicit timestamps in ``time_base`` (variable frame rate);
    ``colour`` is (primaries, transfer, matrix, range) tags.
    """
    out = av.open(str(path), "w")
    vs = out.add_stream(codec, rate=fps, options={"g": str(gop)} if codec in ("libx264", "libx265") else {})
    vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
    tb = time_base or Fraction(1, fps)
    vs.codec_context.time_base = tb
    vs.time_base = tb
    if codec == "libx264":
        vs.codec_context.options = {**vs.codec_context.options, "g": str(gop), "keyint_min": str(gop)}
    if rotation:
        vs.set_display_rotation(rotation)
    if colour:
        cc = vs.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = colour
    if sar:
        vs.codec_context.sample_aspect_ratio = sar
    aus = None
    if audio:
        aus = out.add_stream(audio_codec, rate=48000)
        aus.layout = "stereo"
    subs = None
    if subtitles:  # a line of text every 10 frames, as subrip (Matroska)
        subs = out.add_mux_stream("subrip")
        subs.time_base = Fraction(1, 1000)
    timestamps = list(pts) if pts is not None else [round(i / fps / tb) for i in range(frames)]
    for i, p in enumerate(timestamps):
        frame = av.VideoFrame.from_ndarray(frame_pattern(i, width, height), format="rgb24")
        frame.pts = p
        frame.time_base = tb
        for packet in vs.encode(frame):
            out.mux(packet)
    for packet in vs.encode():
        out.mux(packet)
    if subs is not None:
        for i in range(0, len(timestamps), 10):
            ms = round(timestamps[i] * tb * 1000)
            packet = av.Packet(f"line {i}".encode())
            packet.pts = packet.dts = ms
            packet.duration = 200
            packet.time_base = subs.time_base
            packet.stream = subs
            out.mux(packet)
    if aus is not None:
        duration = float((timestamps[-1] + round(1 / fps / tb)) * tb)
        samples = int(duration * 48000)
        t = np.arange(samples) / 48000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        fmt = aus.codec_context.format.name if aus.codec_context.format else "fltp"
        chunk = 1024
        for start in range(0, samples, chunk):
            part = tone[start : start + chunk]
            if fmt == "s16":
                data = (np.stack([part, part]) * 32767).astype(np.int16).T.reshape(1, -1)
            elif fmt.endswith("p"):
                data = np.stack([part, part])
            else:
                data = np.stack([part, part]).T.reshape(1, -1)
            af = av.AudioFrame.from_ndarray(data, format=fmt, layout="stereo")
            af.sample_rate = 48000
            af.pts = start
            for packet in aus.encode(af):
                out.mux(packet)
        for packet in aus.encode():
            out.mux(packet)
    out.close()
    return path


def write_lossless(path: Path, frames: list[np.ndarray]) -> Path:
    """FFV1 RGB in Matroska: decodes to exactly ``frames``; the container lists no frame count."""
    out = av.open(str(path), "w")
    stream = out.add_stream("ffv1", rate=25)
    stream.height, stream.width = frames[0].shape[:2]
    stream.pix_fmt = "bgr0"
    for index, frame in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
        picture.pts, picture.time_base = index, Fraction(1, 25)
        for packet in stream.encode(picture):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


def make_audio_only(path: Path) -> Path:
    """A file with one short AAC stream and no video."""
    out = av.open(str(path), "w")
    stream = out.add_stream("aac", rate=48000)
    frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
    frame.sample_rate, frame.pts = 48000, 0
    for packet in list(stream.encode(frame)) + list(stream.encode()):
        out.mux(packet)
    out.close()
    return path


def decode_all(path: Path) -> tuple[list[np.ndarray], list[int]]:
    """Every frame of the first video stream, as RGB arrays, with its pts (plain PyAV)."""
    frames, pts = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            pts.append(frame.pts)
    return frames, pts


def stream_durations(path: Path) -> dict[str, float]:
    """End time minus start time of the video and first audio stream, from their packets."""
    result = {}
    with av.open(str(path)) as container:
        for kind, streams in (("video", container.streams.video), ("audio", container.streams.audio)):
            if not streams:
                continue
            stream = streams[0]
            first = last = None
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                t0 = float(packet.pts * packet.time_base)
                t1 = t0 + float((packet.duration or 0) * packet.time_base)
                first = t0 if first is None else min(first, t0)
                last = t1 if last is None else max(last, t1)
            container.seek(0)
            result[kind] = (last - first) if first is not None else 0.0
    return result


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """30 frames, 64x48, 25 fps, keyframe every 10 frames, with stereo AAC."""
    return make_clip(tmp_path / "clip.mp4")


def load_pipeline(name: str):
    """``pipelines/NAME.py`` imported as a module, once per session (the scripts are not a package)."""
    module_name = f"vidstyle_pipeline_{name}"
    if module_name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "pipelines" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def moving_crops(picture: np.ndarray, count: int, step: tuple[float, float], width: int,
                 height: int) -> list[np.ndarray]:
    """``count`` RGB uint8 (height, width, 3) crops of ``picture`` (grey or RGB), the view moving by
    ``step`` (x, y) pixels a frame from (20, 20): a camera pan with a known motion."""
    if picture.ndim == 2:
        picture = np.dstack([picture] * 3)
    frames = []
    for k in range(count):
        shift = np.float32([[1, 0, -(20 + step[0] * k)], [0, 1, -(20 + step[1] * k)]])
        frames.append(cv2.warpAffine(picture, shift, (width, height), flags=cv2.INTER_CUBIC,
                                     borderMode=cv2.BORDER_REFLECT))
    return frames


def cli(capsys, *args) -> tuple[int, str, str]:
    """``vidstyle ARGS`` in this process: (exit code, stdout, stderr)."""
    from vidstyle.cli import run

    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error(err: str, pattern: str) -> None:
    """``err`` holds exactly one ``error:`` line, containing ``pattern``, and no traceback."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert pattern in lines[0], lines[0]
    assert "Traceback" not in err


def write_sequence(pattern: Path, frames: np.ndarray, encoder: str, pix_fmt: str, *, first: int = 1) -> Path:
    """``frames`` (T, H, W, 3) uint8 or uint16 written with PyAV's image2 muxer, numbered from ``first``."""
    out = av.open(str(pattern), "w", format="image2", options={"start_number": str(first)})
    stream = out.add_stream(encoder, rate=24)
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
    source = "rgb48le" if frames.dtype == np.uint16 else "rgb24"
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format=source).reformat(format=pix_fmt)
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return pattern


def read_sequence(pattern: Path, first: int) -> tuple[np.ndarray, str]:
    """Every frame of a sequence as RGB uint16 (T, H, W, 3), and the pixel format of its files."""
    with av.open(str(pattern), format="image2", options={"start_number": str(first), "framerate": "24"}) as c:
        frames = [(f.to_ndarray(format="rgb48le"), f.format.name) for f in c.decode(video=0)]
    return np.stack([f for f, _ in frames]), frames[0][1]
