"""The repair stage as the pipeline runs it: frames, batches, cuts, reports, the CLI."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import decode_all, file_hash, write_lossless
from skimage import data as skdata

from vidstyle import EncodeConfig, RemasterConfig, remaster
from vidstyle.cli import run
from vidstyle.config import RepairConfig, TemporalConfig
from vidstyle.errors import ConfigError
from vidstyle.io.reader import FrameBatch
from vidstyle.preview import preview
from vidstyle.restore.stage import PackedMask, RepairStage, open_repair
from vidstyle.train.data import clip_frames

H, W = 96, 128


def panning(count: int, step: float = 1.5, image: np.ndarray | None = None) -> list[np.ndarray]:
    """``count`` frames of a textured still panning right by ``step`` pixels a frame."""
    still = skdata.astronaut() if image is None else image
    still = cv2.resize(still, (W * 2, H * 2), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(count):
        shift = np.float32([[1, 0, -20 - step * i], [0, 1, -30]])
        frames.append(cv2.warpAffine(still, shift, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return frames


def speckled(frames: list[np.ndarray], seed: int = 3) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Dark and bright specks (radius 2-3) on every frame, each speck on one frame only."""
    rng = np.random.default_rng(seed)
    out, masks = [], []
    for frame in frames:
        frame = frame.copy()
        mask = np.zeros((H, W), np.uint8)
        for _ in range(4):
            x, y, r = int(rng.integers(10, W - 10)), int(rng.integers(10, H - 10)), int(rng.integers(2, 4))
            cv2.circle(mask, (x, y), r, 1, -1)
            value = 250 if rng.random() < 0.5 else 5
            cv2.circle(frame, (x, y), r, (value, value, value), -1)
        out.append(frame)
        masks.append(mask.astype(bool))
    return out, masks


def spots_only() -> RepairConfig:
    return RepairConfig("auto", spots=True, scratches=False, flicker=False)


ON = RepairConfig("auto")


class TestFrames:
    def test_every_frame_comes_out_in_order(self):
        frames = panning(7)
        for config in (ON, spots_only(), RepairConfig("auto", spots=False, scratches=False, flicker=True)):
            out = list(RepairStage(config).frames(frames))
            assert len(out) == len(frames)
            assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 and m.shape == (H, W) for f, m in out)

    @pytest.mark.parametrize("count", [1, 2])
    def test_a_film_shorter_than_the_look_ahead(self, count):
        frames = panning(count)
        out = [f for f, _ in RepairStage(ON).frames(frames)]
        assert len(out) == count

    def test_specks_on_a_moving_picture_are_mended(self):
        clean = panning(8)
        dirty, masks = speckled(clean)
        stage = RepairStage(spots_only())
        out = [f for f, _ in stage.frames(dirty)]
        before = after = 0.0
        for c, d, o, m in list(zip(clean, dirty, out, masks))[1:-1]:  # the ends have one neighbour
            before += float(np.mean((d[m].astype(float) - c[m]) ** 2))
            after += float(np.mean((o[m].astype(float) - c[m]) ** 2))
        assert after < 0.3 * before, (after, before)
        report = stage.report()
        assert report["spots"] > 0 and report["pixels_touched"] > 0 and report["frames"] == 8

    def test_specks_on_a_flickering_picture_are_filled_at_the_frames_brightness(self):
        # Every other frame 14 % brighter than the frames beside it: a speck's neighbours are both darker, or both
        # brighter, than the frame it is on, and their mean as it is would leave a patch 6 to 26 levels off.
        clean = panning(8)
        lit = [np.clip(np.rint(f * (1.08 if i % 2 else 0.94)), 0, 255).astype(np.uint8) for i, f in enumerate(clean)]
        dirty, drawn = speckled(lit)
        out = list(RepairStage(spots_only()).frames(dirty))
        left = unmatched = 0.0
        for i in range(1, len(clean) - 1):
            filled = drawn[i] & out[i][1]
            assert filled.sum() >= 0.25 * drawn[i].sum()
            left += abs(float(np.mean(out[i][0][filled].astype(float) - lit[i][filled])))
            beside = 0.5 * (lit[i - 1][filled].astype(float) + lit[i + 1][filled])
            unmatched += abs(float(np.mean(beside - lit[i][filled])))
        assert unmatched > 6 * 6.0  # what the neighbours' own brightness would leave (about 18 levels a frame)
        assert left < 0.25 * unmatched, (left, unmatched)

    def test_a_caption_held_over_a_pan_is_kept(self):
        # The flow follows the picture, 12 pixels a frame, and puts the caption's strokes where the
        # neighbours have none: without the screen guard 55 of its pixels were painted over here.
        frames = []
        for frame in panning(8, step=12.0):
            frame = frame.copy()
            cv2.putText(frame, "1927", (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            frames.append(frame)
        dirty, masks = speckled(frames)
        caption = np.zeros((H, W), bool)
        caption[62:86, 36:84] = True
        out = list(RepairStage(spots_only()).frames(dirty))
        # Beside a speck (the mask's grown rim), a pixel of the box is no stroke of the caption.
        strokes = [caption & ~cv2.dilate(drawn.view(np.uint8), np.ones((5, 5), np.uint8)).view(bool) for drawn in masks]
        assert not any((mask & where).any() for (_, mask), where in zip(out, strokes))
        found = sum(int((mask & drawn).sum()) for (_, mask), drawn in zip(out, masks))
        assert found > 0  # the dust is still found

    def test_a_caption_held_over_a_pan_under_flicker_is_kept(self):
        # A grey caption over a faster pan, each frame's light changing by 10 %, the caption's with it: its
        # strokes differ from the neighbours' by 20 levels, but not against the picture around them. Read on
        # grey levels alone (the screen guard until 2026-12-07) 31 of its pixels were painted over here.
        frames = []
        for k, frame in enumerate(panning(8, step=20.0)):
            frame = frame.copy()
            cv2.putText(frame, "1927", (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (190, 190, 190), 1, cv2.LINE_AA)
            frames.append(np.clip(np.rint(frame * (0.9, 1.0, 1.1)[k % 3]), 0, 255).astype(np.uint8))
        dirty, masks = speckled(frames)
        caption = np.zeros((H, W), bool)
        caption[62:86, 36:84] = True
        out = list(RepairStage(spots_only()).frames(dirty))
        painted = sum(int((mask & caption & ~drawn).sum()) for (_, mask), drawn in zip(out, masks))
        assert painted == 0
        assert sum(int((mask & drawn).sum()) for (_, mask), drawn in zip(out[1:-1], masks[1:-1])) > 0

    def test_the_first_and_last_frames_are_mended_from_their_side(self):
        """The first frame is read against the two after it, the last against the two before it: a speck in
        the picture is mended there; one near the picture's edge, where a thing may have just come in, is left
        as it is (``find_spots``'s ``side``)."""
        clean = panning(5)
        dirty = [frame.copy() for frame in clean]
        inside, edge = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
        cv2.circle(inside, (90, 40), 3, 1, -1)
        cv2.circle(edge, (8, 50), 3, 1, -1)
        for index in (0, len(dirty) - 1):
            dirty[index][(inside | edge) > 0] = 250
        stage = RepairStage(spots_only())
        out = list(stage.frames(dirty))
        for index in (0, len(dirty) - 1):
            frame, mask = out[index]
            assert mask[inside > 0].mean() > 0.9 and not mask[edge > 0].any()
            assert not (mask & ~cv2.dilate(inside, np.ones((5, 5), np.uint8)).view(bool)).any()
            error = np.abs(frame.astype(float) - clean[index])[inside > 0].mean()
            assert error < 0.2 * np.abs(dirty[index].astype(float) - clean[index])[inside > 0].mean()
        assert not any(mask.any() for _, mask in out[1:-1])
        assert stage.report()["spots"] == 2

    @pytest.mark.parametrize("guards", [True, False])
    def test_things_coming_in_on_a_shots_ends_are_kept(self, guards):
        """bikes.mp4's training frames 125-149 and 150-174 as two clips, at half size: on the last frame of the
        first a car's tail light moves behind railings, on the first frame of the second a coat behind a bar,
        each on neither of the two frames on its side, as a speck would be. The frame's picture goes on from
        them (``continued``) and they are kept; a speck drawn beside each is still mended. Without that guard
        and ``motion_edge`` they are painted over (the test's control)."""
        frames = clip_frames("bikes.mp4")
        for span, end in ((range(125, 150), -1), (range(150, 175), 0)):
            clip = [cv2.resize(frames[k], (320, 136), interpolation=cv2.INTER_AREA) for k in span]
            speck = np.zeros(clip[0].shape[:2], np.uint8)
            cv2.circle(speck, (250, 110), 3, 1, -1)
            clip[end] = clip[end].copy()
            clip[end][speck > 0] = 240
            stage = RepairStage(spots_only())
            if not guards:
                stage.spot_settings = replace(stage.spot_settings, continued=1.0, motion_edge=0.0)
            _, mask = list(stage.frames(clip))[end]
            assert mask[speck > 0].mean() > 0.9
            others = mask & ~cv2.dilate(speck, np.ones((5, 5), np.uint8)).view(bool)
            assert others.any() != guards, int(others.sum())

    def test_no_neighbour_across_a_cut(self):
        """Shots of 4, 2 and 4 frames: the last frame of the first and the first of the third are mended from
        the two frames on their side of the cut; the two-frame shot, one neighbour each, is left as it is (a
        neighbour taken across a cut would have mended its specks too)."""
        first, middle, last = panning(4), panning(2, image=skdata.chelsea()), panning(4, image=skdata.coffee())
        dirty, drawn = speckled(first + middle + last)
        stage = RepairStage(spots_only())
        out = list(stage.frames(dirty))
        for index in (3, 6):  # the last of the first shot, the first of the third
            assert (out[index][1] & drawn[index]).any()
        for index in (4, 5):
            assert not out[index][1].any()
        report = stage.report()
        assert [shot["first_frame"] for shot in report["shots"]] == [0, 4, 6]
        assert [shot["frames"] for shot in report["shots"]] == [4, 2, 4]


class TestBatches:
    @pytest.mark.parametrize("batch_size", [1, 3, 4])
    def test_boundaries_timestamps_and_indices_are_kept(self, batch_size):
        frames = np.stack(panning(10))
        batches = [FrameBatch(frames[i:i + batch_size], np.arange(i, min(i + batch_size, 10)) * 40, i)
                   for i in range(0, 10, batch_size)]
        out = list(RepairStage(ON).batches(iter(batches), depth=2))
        assert [len(b) for b in out] == [len(b) for b in batches]
        assert [b.first_index for b in out] == [b.first_index for b in batches]
        assert all(np.array_equal(a.pts, b.pts) for a, b in zip(out, batches))

    def test_the_plan_is_made_on_the_decoded_frames(self):
        """The temporal stage plans (cuts, flow, keyframes) before the repair replaces the frames, so a repair never
        moves a keyframe: here the stand-in repair blanks every frame, and the plan still sees the cut at frame 6."""
        import torch

        from vidstyle.models.registry import load_model
        from vidstyle.temporal.stage import open_temporal

        frames = np.stack(panning(6) + panning(6, image=skdata.coffee()))
        batches = [FrameBatch(frames[i:i + 4], np.arange(i, i + 4) * 40, i) for i in range(0, 12, 4)]
        model = load_model("bicubic", scale=2, device=torch.device("cpu"))
        temporal = open_temporal(TemporalConfig(mode="blend"), model)

        def blank(planned):
            for batch in planned:
                yield replace(batch, frames=np.full_like(batch.frames, 128))

        out = list(temporal.batches(iter(batches), depth=2, between=blank))
        assert [p.cut for b in out for p in b.plans] == [i == 6 for i in range(12)]
        assert all((b.frames == 128).all() for b in out)  # the model gets the replaced frames

    def test_planned_batches_keep_the_frames_as_decoded(self):
        """Reuse's blend gate reads the source's noise on the frames as decoded, not on the repaired ones."""
        from vidstyle.temporal.flow import FlowEstimator
        from vidstyle.temporal.plan import KeyframePlanner, plan_batches

        frames = np.stack(panning(8))
        batches = [FrameBatch(frames[i:i + 4], np.arange(i, i + 4) * 40, i) for i in range(0, 8, 4)]
        planned = plan_batches(iter(batches), KeyframePlanner("reuse", 4, FlowEstimator("fast", 2)), depth=2)
        out = list(RepairStage(ON).batches(planned, depth=2))
        assert all(np.array_equal(b.decoded, frames[b.first_index : b.first_index + 4]) for b in out)
        assert any(not np.array_equal(b.frames, b.decoded) for b in out)  # the repair changed something

    def test_off_is_no_stage(self):
        assert open_repair(RepairConfig("off"), TemporalConfig()) is None
        assert RepairConfig().mode == "auto"  # on by default
        assert open_repair(RepairConfig("auto", spots=False, scratches=False, flicker=False, grain=False),
                           TemporalConfig()) is None
        assert isinstance(open_repair(ON, TemporalConfig()), RepairStage)

    def test_the_repair_keeps_its_own_flow(self):
        """Its thresholds were chosen on DIS medium flows: the temporal stage's preset does not change it."""
        for preset in ("ultrafast", "medium", "fine"):
            stage = open_repair(ON, TemporalConfig(flow_preset=preset, flow_downscale=3))
            assert (stage.estimator.preset, stage.estimator.downscale) == ("medium", 3)


class TestConfig:
    def test_parts_from_words(self):
        assert RepairConfig.from_parts("auto", "spots,flicker") == RepairConfig("auto", scratches=False, grain=False)
        only_grain = RepairConfig("auto", spots=False, scratches=False, flicker=False)
        assert RepairConfig.from_parts("auto", "grain") == only_grain
        assert RepairConfig.from_parts("auto", "none").active is False
        assert RepairConfig.from_parts("auto", "all", "auto").grade is True
        with pytest.raises(ConfigError, match="unknown repair part 'dust'"):
            RepairConfig.from_parts("auto", "spots,dust")
        with pytest.raises(ConfigError):
            RepairConfig(mode="maybe")


@pytest.fixture
def dusty_clip(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    clean = panning(10)
    dirty, _ = speckled(clean)
    return write_lossless(tmp_path / "dusty.mkv", dirty), clean


class TestPipeline:
    def test_remaster_repairs_and_reports(self, dusty_clip, tmp_path):
        src, clean = dusty_clip
        outs = {}
        for mode in ("auto", "off"):
            config = RemasterConfig(scale=1, model="bicubic", repair=RepairConfig(mode=mode),
                                    temporal=TemporalConfig(mode="off"),
                                    encode=EncodeConfig("ffv1", crf=None, preset=None))
            result = remaster(src, tmp_path / f"{mode}.mkv", config)
            outs[mode] = (np.stack(decode_all(tmp_path / f"{mode}.mkv")[0]), result.to_dict()["repair"])
        target = np.stack(clean)[1:-1].astype(float)
        error = {mode: float(np.mean((frames[1:-1] - target) ** 2)) for mode, (frames, _) in outs.items()}
        assert error["auto"] < error["off"]
        assert outs["auto"][1]["spots"] > 0 and outs["off"][1] == {"mode": "off"}

    def test_cli_bad_parts_is_one_line(self, dusty_clip, tmp_path, capsys):
        src, _ = dusty_clip
        before = file_hash(src)
        code = run(["remaster", str(src), "-o", str(tmp_path / "o.mkv"), "--repair", "auto", "--repair-parts", "dust"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("rror:") == 1 and "unknown repair part 'dust'" in err  # a usage error
        assert not (tmp_path / "o.mkv").exists() and file_hash(src) == before
        assert run(["remaster", str(src), "-o", str(tmp_path / "o.mkv"), "--repair", "sometimes"]) == 2

    def test_preview_shows_the_repair(self, dusty_clip, tmp_path, capsys):
        src, _ = dusty_clip
        code = run(["preview", str(src), "-o", str(tmp_path / "p.mp4"), "--frames", "6", "--model", "bicubic",
                    "--scale", "2", "--repair", "auto", "--show-repair", "-q"])
        out = capsys.readouterr().out
        assert code == 0, out
        sheet = cv2.imread(str(tmp_path / "p-repair.png"))
        assert sheet is not None and sheet.shape[1] == 2 * W
        red = (sheet[..., 2] == 255) & (sheet[..., 1] == 0) & (sheet[..., 0] == 0)
        assert red.any() and "repair:" in out
        # 6 frames of 10: the repair also read the 4 after them, and its line says so
        assert "(counted with the 4 frames around the range that it reads)" in out

    @pytest.mark.parametrize("source", ["file", "sequence"])
    @pytest.mark.parametrize("start", ["f20", "0.8"])
    def test_a_preview_repairs_its_range_as_the_whole_run_does(self, tmp_path, start, source):
        """bikes.mp4's training frames 0-47 at a quarter size with grain, specks and flicker, as a video file and
        as PNG frames at 25 fps: a preview of frames 20-27 (by index or by time) reads the frames the repair reads
        around them, so its right side is the whole run's output there, bit for bit; without them its first
        frames would start a shot afresh."""
        rng = np.random.default_rng(5)
        frames = []
        for k, frame in enumerate(clip_frames("bikes.mp4")[:48]):
            small = cv2.resize(frame, (160, 68), interpolation=cv2.INTER_AREA).astype(np.float32)
            small = small * (1 + 0.06 * np.sin(k)) + rng.normal(0, 4, small.shape)
            for _ in range(3):
                cv2.circle(small, (int(rng.integers(8, 152)), int(rng.integers(8, 60))), 2, (250, 250, 250), -1)
            frames.append(np.clip(small, 0, 255).astype(np.uint8))
        config = RemasterConfig(scale=1, model="bicubic", temporal=TemporalConfig(mode="off"),
                                encode=EncodeConfig("ffv1", crf=None, preset=None, pix_fmt="bgr0"))
        if source == "file":
            src = write_lossless(tmp_path / "reel.mkv", frames)
        else:
            (tmp_path / "scans").mkdir()
            for k, frame in enumerate(frames):
                cv2.imwrite(str(tmp_path / "scans" / f"reel_{k + 1:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            src, config = tmp_path / "scans" / "reel_%04d.png", replace(config, fps=Fraction(25))
        remaster(src, tmp_path / "whole.mkv", config)
        whole = np.stack(decode_all(tmp_path / "whole.mkv")[0])
        result = preview(src, tmp_path / "p.mkv", config, start=start, frames=8)
        sides = np.stack(decode_all(tmp_path / "p.mkv")[0])
        assert result.frames == 8 and sides.shape == (8, 68, 320, 3)
        assert result.repair["context_frames"] == 40  # frames 0-19 and 28-47
        assert np.array_equal(sides[:, :, 160:], whole[20:28])
        assert not np.array_equal(whole[20:28], np.stack(frames[20:28]))  # the repair changed them

    @pytest.mark.parametrize("off", [["--repair", "off"], ["--repair-parts", "none"]])
    def test_show_repair_needs_the_repair(self, dusty_clip, tmp_path, capsys, off):
        src, _ = dusty_clip
        digest = file_hash(src)
        code = run(["preview", str(src), "-o", str(tmp_path / "p.mp4"), "--frames", "4", "--model", "bicubic",
                    "--show-repair", *off])
        err = capsys.readouterr().err
        assert code == 1 and err.count("error:") == 1 and "--repair auto" in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["dusty.mkv"] and file_hash(src) == digest


@pytest.mark.parametrize("option, value", [("--repair", "sometimes"), ("--grade", "strong")])
def test_bad_repair_options_are_usage_errors(dusty_clip, tmp_path, capsys, option, value):
    src, _ = dusty_clip
    digest = file_hash(src)
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in ("remaster", "preview"):
        code = run([command, str(src), "-o", str(tmp_path / "o.mp4"), option, value])
        err = capsys.readouterr().err
        assert code == 2
        assert [line for line in err.splitlines() if line.startswith("error:")] == [err.strip()]
        assert option in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert file_hash(src) == digest


def flickering(frames: list[np.ndarray], seed: int = 5) -> list[np.ndarray]:
    """``frames`` with their brightness scaled by a random +-8 % a frame."""
    rng = np.random.default_rng(seed)
    return [np.clip(f * rng.uniform(0.92, 1.08), 0, 255).astype(np.uint8) for f in frames]


class TestChunked:
    """A film repaired in segments, joined by stream copy, is the film repaired in one run: each segment decodes the
    repair's reach before its first frame and past its last (``repair_context``) and writes only its own frames."""

    @staticmethod
    def run_chunked(src: Path, dst: Path, config: RemasterConfig, chunks: int, context: tuple[int, int]) -> None:
        from vidstyle.batch.segments import plan_segments, render_segment
        from vidstyle.io.remux import join_segments, keyframe_indices

        keyframes, total = keyframe_indices(src)
        before, after = context
        segments = plan_segments(total, keyframes, chunks=chunks, warmup=before, cooldown=after)
        assert len(segments) == chunks
        parts = []
        for segment in segments:
            part = dst.with_name(f"{dst.stem}.part{segment.index}{dst.suffix}")
            result = render_segment(src, part, config, segment)
            assert result.frames == segment.frames
            parts.append((part, result.first_pts))
        join_segments(src, parts, dst)

    def test_the_runner_plans_the_repairs_reach(self):
        from vidstyle.batch.runner import BatchConfig, segments_for

        segments = segments_for(60, list(range(60)), 25.0, BatchConfig(chunks=3), 4, context=(18, 17))
        assert [(s.first_frame, s.warmup, s.cooldown) for s in segments] == [(0, 0, 17), (20, 18, 17), (40, 18, 0)]
        plain = segments_for(60, list(range(60)), 25.0, BatchConfig(chunks=3), 4)  # --repair off: as before
        assert [(s.warmup, s.cooldown) for s in plain] == [(0, 0), (4, 0), (4, 0)]

    def test_segments_repair_as_one_run(self, tmp_path):
        from vidstyle.restore import repair_context

        rng = np.random.default_rng(8)  # grain too, so that every part reads its neighbours
        grain = [np.clip(f + rng.normal(0, 6, f.shape[:2] + (1,)), 0, 255).astype(np.uint8) for f in panning(60)]
        dirty, _ = speckled(flickering(grain))
        src = write_lossless(tmp_path / "src.mkv", dirty)
        config = RemasterConfig(scale=1, model="bicubic", device="cpu", batch_size=4, repair=ON,
                                temporal=TemporalConfig(mode="off"), encode=EncodeConfig(codec="ffv1"))
        report = remaster(src, tmp_path / "whole.mkv", config).repair
        assert report["grain_frames"] == 60 and report["spots"] > 0
        whole, whole_pts = decode_all(tmp_path / "whole.mkv")
        assert not np.array_equal(np.stack(whole), np.stack(dirty))  # the repair did something
        context = repair_context(ON)
        assert context == (30, 29)  # flicker radius 24 + smoothing 3; spots (two frames at a shot's ends), scratches
        self.run_chunked(src, tmp_path / "joined.mkv", config, 3, context)
        joined, joined_pts = decode_all(tmp_path / "joined.mkv")
        assert joined_pts == whole_pts
        assert np.array_equal(np.stack(joined), np.stack(whole))
        # Without the look-ahead past each segment's end (and with the batch runner's old warm-up of 4 frames) the
        # frames near the joins come out otherwise.
        self.run_chunked(src, tmp_path / "short.mkv", config, 3, (4, 0))
        short, _ = decode_all(tmp_path / "short.mkv")
        assert not np.array_equal(np.stack(short), np.stack(whole))


class TestFlickerThroughTheStage:
    """The flicker part as the stage feeds it: the flow between frames of different brightness."""

    def test_same_brightness_takes_the_median_difference(self):
        from vidstyle.restore.stage import same_brightness

        picture = panning(1)[0][..., 0]
        brighter = np.clip(picture.astype(np.int16) + 7, 0, 255).astype(np.uint8)
        brighter[:20, :40] = 255  # a bright thing came in: the means differ by more than the light
        shifted = same_brightness(picture, brighter)
        assert shifted.dtype == np.uint8 and shifted.shape == picture.shape
        assert float(brighter.mean() - picture.mean()) > 9.0
        np.testing.assert_array_equal(shifted, np.clip(picture.astype(np.int16) + 7, 0, 255))
        assert same_brightness(picture, picture) is picture
        darker = same_brightness(brighter, picture)
        assert darker.min() == 0 or picture.min() > 7  # clipped, never wrapped around

    def test_the_damage_models_flicker_on_bigbuckbunny_training_frames(self):
        # bigbuckbunny.mp4 frames 40-79 (training frames: the held-out part starts at 92) under the
        # damage model's flicker alone, +-8 %. With the flow computed on frames of different
        # brightness the fits read about 0.93 of each change, and 2.57x the clean frames' flicker
        # was left here (2.87x and 3.02x with seeds 1 and 2); now 1.63x (1.61x, 2.08x).
        from vidstyle.damage.degrade import FilmDegrader
        from vidstyle.damage.settings import DegradeSettings
        from vidstyle.temporal.metrics import flicker
        from vidstyle.train.data import HELD_OUT_CLIP_FRAMES, clip_frames

        assert HELD_OUT_CLIP_FRAMES["bigbuckbunny.mp4"][0] >= 80
        frames = clip_frames("bigbuckbunny.mp4")[40:80]
        clean = [cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA) for f in frames]
        degrader = FilmDegrader(DegradeSettings(flicker_amplitude=0.08, scale=1), seed=3, height=180, width=320)
        damaged = [degrader.degrade(f) for f in clean]
        out = [f for f, _ in RepairStage(RepairConfig.from_parts("auto", "flicker")).frames(damaged)]
        assert flicker(damaged) > 10 * flicker(clean)
        assert flicker(out) <= 2.0 * flicker(clean)


def test_masks_held_back_take_a_bit_a_pixel_and_come_back_the_same():
    rng = np.random.default_rng(5)
    for shape in ((1080, 1920), (7, 13), (1, 1)):
        mask = rng.random(shape) < 0.01
        packed = PackedMask.of(mask)
        assert packed.bits.nbytes == -(-mask.size // 8)
        back = packed.unpack()
        assert back.dtype == bool and back.shape == shape and np.array_equal(back, mask)
