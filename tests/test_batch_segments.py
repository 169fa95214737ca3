"""Chunked processing of one film: keyframes, the plan, segments rendered apart and joined.

The headline check: a clip remastered in four segments and joined by stream copy equals the
same clip remastered in one run (frames, timestamps, sound).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import decode_all, make_clip, stream_durations

from vidstyle import probe, remaster
from vidstyle.batch.segments import Segment, plan_segments, render_segment
from vidstyle.config import EncodeConfig, RangeConfig, RemasterConfig, TemporalConfig
from vidstyle.errors import EncodeError, OutputError, RangeError
from vidstyle.io.remux import frame_timestamps, join_segments, keyframe_indices
from vidstyle.restore import repair_context

LOSSLESS = EncodeConfig(codec="libx264", crf=None, options=(("qp", "0"),))  # B-frames at preset medium


def config(**kwargs) -> RemasterConfig:
    defaults = dict(scale=1, model="bicubic", device="cpu", batch_size=4, temporal=TemporalConfig(mode="off"))
    return RemasterConfig(**{**defaults, **kwargs})


def run_chunked(src: Path, dst: Path, cfg: RemasterConfig, chunks: int = 4, warmup: int = 4) -> int:
    """What a runner does: plan (each segment also reading the frames the repair looks at, as
    :func:`vidstyle.batch.runner.segments_for` plans them), render every segment, join. Returns the frames
    joined."""
    keyframes, total = keyframe_indices(src)
    before, after = repair_context(cfg.repair)
    segments = plan_segments(total, keyframes, chunks=chunks, warmup=max(warmup, before), cooldown=after)
    assert len(segments) == chunks
    parts = []
    for segment in segments:
        part = dst.with_name(f"{dst.stem}.part{segment.index}{dst.suffix}")
        result = render_segment(src, part, cfg, segment)
        assert result.frames == segment.frames
        parts.append((part, result.first_pts))
    return join_segments(src, parts, dst)


def packets(path: Path, kind: str) -> list[tuple[int | None, int | None]]:
    """(pts, dts) of the first stream of ``kind``, in file order."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [(p.pts, p.dts) for p in container.demux(stream) if p.size]


def same_probe(a: Path, b: Path) -> bool:
    """The two files have the same VideoInfo, but for their names and bit rates."""
    skip = {"path", "bit_rate"}
    first, second = probe(a).to_dict(), probe(b).to_dict()
    return {k: v for k, v in first.items() if k not in skip} == {k: v for k, v in second.items() if k not in skip}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


class TestKeyframeIndices:
    def test_known_gop(self, tmp_path):
        clip = make_clip(tmp_path / "c.mp4", frames=35, gop=10, audio=False)
        assert keyframe_indices(clip) == ([0, 10, 20, 30], 35)

    def test_matroska_counts_frames(self, tmp_path):
        # Matroska lists no frame count; the packets do.
        clip = make_clip(tmp_path / "c.mkv", frames=23, gop=8)
        assert keyframe_indices(clip) == ([0, 8, 16], 23)

    def test_timestamps_of_a_prefix(self, tmp_path):
        # B-frames: file order is not presentation order, yet a prefix read stops early and right.
        clip = make_clip(tmp_path / "c.mp4", frames=30, gop=10, audio=False)
        everything = frame_timestamps(clip)
        assert everything == [512 * i for i in range(30)]
        for upto in (0, 1, 7, 10, 28, 29, 40):
            assert frame_timestamps(clip, upto=upto) == everything[: upto + 1]


class TestPlanSegments:
    @staticmethod
    def spans(segments: list[Segment]) -> list[tuple[int, int, int]]:
        return [(s.first_frame, s.frames, s.warmup) for s in segments]

    def test_equal_chunks_at_keyframes(self):
        segments = plan_segments(100, list(range(0, 100, 10)), chunks=4, warmup=4)
        # Ideal cuts 25, 50, 75 move to the nearest keyframe (20 on the 25 tie).
        assert self.spans(segments) == [(0, 20, 0), (20, 30, 4), (50, 20, 4), (70, 30, 4)]
        assert [s.index for s in segments] == [0, 1, 2, 3]

    @pytest.mark.parametrize("chunks", [1, 2, 3, 5, 7, 50])
    def test_covers_every_frame_once(self, chunks):
        keyframes = [0, 3, 17, 18, 40, 41, 77, 90]
        segments = plan_segments(97, keyframes, chunks=chunks, warmup=6)
        covered = [i for s in segments for i in range(s.first_frame, s.end)]
        assert covered == list(range(97))
        assert all(s.first_frame in keyframes for s in segments)
        assert all(s.warmup == min(6, s.first_frame) for s in segments)

    def test_more_chunks_than_keyframes(self):
        segments = plan_segments(40, [0, 10, 30], chunks=8)
        assert self.spans(segments) == [(0, 10, 0), (10, 20, 4), (30, 10, 4)]

    def test_no_keyframe_after_the_first(self):
        assert self.spans(plan_segments(40, [0], chunks=4)) == [(0, 40, 0)]

    def test_one_frame_file(self):
        assert self.spans(plan_segments(1, [0], chunks=4)) == [(0, 1, 0)]

    def test_warmup_clipped_at_the_start(self):
        segments = plan_segments(20, [0, 2, 10], chunks=2, warmup=5)
        assert self.spans(segments) == [(0, 10, 0), (10, 10, 5)]
        segments = plan_segments(20, [0, 2], chunks=2, warmup=5)
        assert self.spans(segments) == [(0, 2, 0), (2, 18, 2)]

    def test_target_frames(self):
        keyframes = list(range(0, 1000, 24))
        segments = plan_segments(1000, keyframes, target_frames=240)  # round(4.17) = 4 segments
        assert len(segments) == 4
        assert all(abs(s.frames - 250) <= 24 for s in segments)
        assert self.spans(plan_segments(1000, keyframes, target_frames=5000)) == [(0, 1000, 0)]

    def test_ignores_keyframes_outside_the_file(self):
        assert self.spans(plan_segments(20, [0, 10, 20, 35], chunks=2, warmup=0)) == [(0, 10, 0), (10, 10, 0)]

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            (dict(), "exactly one"),
            (dict(chunks=2, target_frames=10), "exactly one"),
            (dict(chunks=0), "chunks must be 1 or more, got 0"),
            (dict(target_frames=0), "target_frames must be 1 or more"),
            (dict(chunks=2, warmup=-1), "warmup must be 0 or more, got -1"),
        ],
    )
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            plan_segments(10, [0, 5], **kwargs)

    def test_segment_checks_its_fields(self):
        with pytest.raises(ValueError, match="warmup must be between 0 and first_frame 3, got 4"):
            Segment(index=1, first_frame=3, frames=5, warmup=4)
        with pytest.raises(ValueError, match="1 frame or more"):
            Segment(index=0, first_frame=0, frames=0, warmup=0)


class TestChunkedEqualsWhole:
    def test_lossless_with_audio(self, tmp_path):
        """The issue's target: 4 segments joined are the unchunked run, frame for frame."""
        src = make_clip(tmp_path / "src.mp4", frames=40, gop=10, fps=25, audio=True)
        cfg = config(scale=2, encode=LOSSLESS)
        remaster(src, tmp_path / "whole.mp4", cfg)
        assert run_chunked(src, tmp_path / "joined.mp4", cfg) == 40

        whole_frames, whole_pts = decode_all(tmp_path / "whole.mp4")
        joined_frames, joined_pts = decode_all(tmp_path / "joined.mp4")
        assert len(joined_frames) == len(whole_frames) == 40
        assert joined_pts == whole_pts
        assert np.array_equal(np.stack(joined_frames), np.stack(whole_frames))

        whole, joined = stream_durations(tmp_path / "whole.mp4"), stream_durations(tmp_path / "joined.mp4")
        assert joined["video"] == pytest.approx(whole["video"], abs=1e-6)
        assert joined["audio"] == pytest.approx(whole["audio"], abs=1 / 25)
        assert packets(tmp_path / "joined.mp4", "audio") == packets(tmp_path / "whole.mp4", "audio")
        assert same_probe(tmp_path / "joined.mp4", tmp_path / "whole.mp4")
        # The segment files and the joined output are all there is: no temporary file is left.
        assert leftovers(tmp_path) == []

    def test_lossy_x264_with_b_frames(self, tmp_path):
        """Default libx264 (crf 18, medium: B-frames), blending across the cuts from warm-up frames."""
        src = make_clip(tmp_path / "src.mp4", frames=40, gop=10, audio=True)
        cfg = config(temporal=TemporalConfig(mode="blend"))
        remaster(src, tmp_path / "whole.mp4", cfg)
        assert run_chunked(src, tmp_path / "joined.mp4", cfg) == 40

        _, whole_pts = decode_all(tmp_path / "whole.mp4")
        joined_frames, joined_pts = decode_all(tmp_path / "joined.mp4")
        assert joined_pts == whole_pts and len(joined_frames) == 40
        video = packets(tmp_path / "joined.mp4", "video")
        dts = [d for _, d in video]
        assert any(p != d for p, d in video), "expected B-frames (pts != dts)"
        assert all(b > a for a, b in zip(dts, dts[1:])), f"dts not increasing: {dts}"
        assert all(d <= p for p, d in video)
        with av.open(str(tmp_path / "joined.mp4")) as container:  # decodes with no error
            assert sum(1 for _ in container.decode(video=0)) == 40
        assert packets(tmp_path / "joined.mp4", "audio") == packets(tmp_path / "whole.mp4", "audio")

    def test_matroska_output_of_a_finer_source(self, tmp_path):
        """29.97 fps on a 1/90000 clock, joined in Matroska (milliseconds): no timestamp off by one."""
        pts = [round(i * 3003) for i in range(40)]
        src = make_clip(tmp_path / "src.mp4", frames=40, gop=10, pts=pts, time_base=Fraction(1, 90000))
        cfg = config()
        remaster(src, tmp_path / "whole.mkv", cfg)
        assert run_chunked(src, tmp_path / "joined.mkv", cfg) == 40
        _, whole_pts = decode_all(tmp_path / "whole.mkv")
        _, joined_pts = decode_all(tmp_path / "joined.mkv")
        assert joined_pts == whole_pts
        assert packets(tmp_path / "joined.mkv", "audio") == packets(tmp_path / "whole.mkv", "audio")
        assert same_probe(tmp_path / "joined.mkv", tmp_path / "whole.mkv")  # the rate, not 1 / time base

    @pytest.mark.parametrize("ext", ["mp4", "mkv"])
    def test_same_properties(self, tmp_path, ext):
        """Rotation, colour tags, pixel aspect ratio, frame rate and duration as an unchunked run's."""
        src = make_clip(tmp_path / "src.mp4", frames=20, gop=10, rotation=90, colour=(1, 1, 1, 1),
                        sar=Fraction(4, 3))
        remaster(src, tmp_path / f"whole.{ext}", config())
        assert run_chunked(src, tmp_path / f"joined.{ext}", config(), chunks=2) == 20
        assert same_probe(tmp_path / f"joined.{ext}", tmp_path / f"whole.{ext}")
        assert probe(tmp_path / f"joined.{ext}").rotation == 90

    def test_subtitles_copied_once(self, tmp_path):
        src = make_clip(tmp_path / "src.mkv", frames=30, gop=10, subtitles=True)
        remaster(src, tmp_path / "whole.mkv", config())
        assert run_chunked(src, tmp_path / "joined.mkv", config(), chunks=3) == 30
        assert packets(tmp_path / "joined.mkv", "subtitles") == packets(tmp_path / "whole.mkv", "subtitles")
        assert len(packets(tmp_path / "joined.mkv", "subtitles")) == 3


class TestRenderSegment:
    def test_range_and_warmup(self, tmp_path):
        src = make_clip(tmp_path / "src.mp4", frames=30, gop=10, audio=True)
        segment = Segment(index=1, first_frame=10, frames=10, warmup=3)
        calls = []
        result = render_segment(src, tmp_path / "p.mkv", config(range=RangeConfig(start="f2")), segment,
                                progress=lambda done, total: calls.append((done, total)))
        frames, pts = decode_all(tmp_path / "p.mkv")
        assert result.frames == len(frames) == 10
        assert result.first_pts == 10 * 512  # the clip's MP4 time base is 1/12800
        assert pts == [40 * i for i in range(10)]  # milliseconds from the segment's first frame
        assert calls[-1] == (10, 10)
        with av.open(str(tmp_path / "p.mkv")) as container:
            assert not container.streams.audio

    def test_bad_container_leaves_nothing(self, tmp_path):
        src = make_clip(tmp_path / "src.mp4", frames=20, audio=False)
        with pytest.raises(OutputError, match="unknown container"):
            render_segment(src, tmp_path / "p.nope", config(), Segment(1, 10, 10, 2))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["src.mp4"]

    def test_past_the_end(self, tmp_path):
        src = make_clip(tmp_path / "src.mp4", frames=20, audio=False)
        with pytest.raises(RangeError, match="ends at frame 25 but src.mp4 has 20 frames"):
            render_segment(src, tmp_path / "p.mp4", config(), Segment(1, 10, 15, 2))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["src.mp4"]


class TestJoinRefuses:
    def test_parts_of_different_sizes(self, tmp_path):
        src = make_clip(tmp_path / "src.mp4", frames=20, gop=10)
        first = render_segment(src, tmp_path / "a.mp4", config(scale=1), Segment(0, 0, 10, 0))
        second = render_segment(src, tmp_path / "b.mp4", config(scale=2), Segment(1, 10, 10, 4))
        with pytest.raises(EncodeError, match="b.mp4 cannot be joined to a.mp4 by stream copy: size 128x96"):
            join_segments(src, [(tmp_path / "a.mp4", first.first_pts), (tmp_path / "b.mp4", second.first_pts)],
                          tmp_path / "out.mp4")
        assert not (tmp_path / "out.mp4").exists()
        assert leftovers(tmp_path) == []

    def test_parts_out_of_order(self, tmp_path):
        src = make_clip(tmp_path / "src.mp4", frames=20, gop=10)
        first = render_segment(src, tmp_path / "a.mp4", config(), Segment(0, 0, 10, 0))
        second = render_segment(src, tmp_path / "b.mp4", config(), Segment(1, 10, 10, 4))
        with pytest.raises(EncodeError, match="cannot join a.mp4: its decoding timestamps go back"):
            join_segments(src, [(tmp_path / "b.mp4", second.first_pts), (tmp_path / "a.mp4", first.first_pts)],
                          tmp_path / "out.mp4")
        assert not (tmp_path / "out.mp4").exists()
        assert leftovers(tmp_path) == []

    def test_existing_output_kept(self, tmp_path):
        src = make_clip(tmp_path / "src.mp4", frames=10, audio=False)
        result = render_segment(src, tmp_path / "a.mp4", config(), Segment(0, 0, 10, 0))
        (tmp_path / "out.mp4").write_bytes(b"keep")
        with pytest.raises(OutputError, match="output exists"):
            join_segments(src, [(tmp_path / "a.mp4", result.first_pts)], tmp_path / "out.mp4")
        assert (tmp_path / "out.mp4").read_bytes() == b"keep"
