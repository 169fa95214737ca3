"""Temporal-consistency metrics: warping error, flicker, PSNR/SSIM, and `vidstyle metrics`."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from conftest import make_clip, write_lossless

from vidstyle.cli import run
from vidstyle.errors import ConfigError
from vidstyle.io.probe import probe
from vidstyle.temporal.metrics import MetricsAccumulator, flicker, video_metrics, warping_error

WIDTH, HEIGHT, FRAMES = 64, 48, 12


def texture(seed: int = 0) -> np.ndarray:
    """Smooth random texture, RGB uint8, wide enough to cut a frame from at every pan step."""
    noise = np.random.default_rng(seed).random((HEIGHT + 8, WIDTH + 2 * FRAMES + 8, 3))
    noise = noise.astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).round().astype(np.uint8)


def moving(frames: int = FRAMES, step: int = 2) -> list[np.ndarray]:
    """The texture panned ``step`` pixels to the left each frame."""
    tex = texture()
    offsets = range(0, step * frames, step)
    return [np.ascontiguousarray(tex[4 : 4 + HEIGHT, x : x + WIDTH]) for x in offsets]


def long_clip(frames: int) -> list[np.ndarray]:
    """``frames`` frames of :func:`moving` panning back and forth: longer than the texture allows one way."""
    there = moving()
    cycle = there + there[-2:0:-1]
    return [cycle[i % len(cycle)] for i in range(frames)]


def half_size(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [cv2.resize(f, (WIDTH // 2, HEIGHT // 2), interpolation=cv2.INTER_AREA) for f in frames]


def with_noise(frames: list[np.ndarray], sigma: float, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8) for f in frames]


def plain_difference(frames: list[np.ndarray]) -> float:
    """Mean MSE between consecutive frames without any motion compensation, RGB in [0, 1]."""
    pairs = zip(frames[:-1], frames[1:])
    return float(np.mean([np.mean((a / 255.0 - b / 255.0) ** 2) for a, b in pairs]))


def cli(capsys, *args: object) -> tuple[int, str, str]:
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error(err: str, *parts: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for part in parts:
        assert part in lines[0], lines[0]
    assert "Traceback" not in err


class TestOnFrames:
    def test_static_is_zero(self):
        still = [texture()[:HEIGHT, :WIDTH]] * 6
        assert warping_error(still) < 1e-6
        assert flicker(still) == 0.0

    def test_flow_compensates_motion(self):
        frames = moving()
        error = warping_error(frames)
        assert plain_difference(frames) > 1e-3  # the pan is a large change without the flow
        assert error < 0.01 * plain_difference(frames)

    def test_noise_raises_warping_error(self):
        clean = moving()
        noisy = with_noise(clean, sigma=8)
        # Same flow (from the clean frames) for both: only the outputs differ.
        assert warping_error(noisy, clean) > 100 * warping_error(clean, clean)
        assert warping_error(noisy, clean) > 1e-3  # about 2 (8/255)^2 for independent noise

    def test_guide_at_half_size(self):
        frames = moving()
        # The flow found at 32x24 must be scaled x2 for 64x48; unscaled, the error is ~0.3 of the
        # plain frame difference.
        assert warping_error(frames, half_size(frames)) < 0.01 * plain_difference(frames)

    def test_brightness_flicker(self):
        still = texture()[:HEIGHT, :WIDTH].astype(np.int16)
        pumping = [np.clip(still + (6 if t % 2 else -6), 0, 255).astype(np.uint8) for t in range(6)]
        assert 10 < flicker(pumping) <= 12  # 12 levels apart, a little less where clipped
        assert flicker([still.astype(np.uint8)] * 6) == 0.0

    def test_fewer_than_two_frames_is_nan(self):
        one = [texture()[:HEIGHT, :WIDTH]]
        assert math.isnan(warping_error(one)) and math.isnan(flicker(one))
        assert math.isnan(warping_error([]))

    def test_accumulator_scores_against_reference(self):
        frames = moving(frames=3)
        acc = MetricsAccumulator()
        for frame in frames:
            acc.add(frame, reference=frame)
        assert acc.frames == 3 and acc.psnr == math.inf and acc.ssim == pytest.approx(1.0)
        no_ref = MetricsAccumulator()
        no_ref.add(frames[0])
        assert no_ref.psnr is None and no_ref.ssim is None

    def test_accumulator_rejects_inconsistent_frames(self):
        frames = moving(frames=2)
        acc = MetricsAccumulator()
        acc.add(frames[0])
        with pytest.raises(ValueError, match=r"expected \(48, 64, 3\)"):
            acc.add(frames[1][:32])
        with pytest.raises(ValueError, match="reference"):
            acc.add(frames[1], reference=frames[1])
        with pytest.raises(ValueError, match="RGB uint8"):
            acc.add(frames[1].astype(np.float32))
        with pytest.raises(ValueError, match="as many guides"):
            warping_error(frames, frames[:1])


class TestVideoMetrics:
    def test_moving_clip_with_reference(self, tmp_path):
        clean = moving()
        ref = write_lossless(tmp_path / "clean.mkv", clean)
        noisy = write_lossless(tmp_path / "noisy.mkv", with_noise(clean, sigma=8))
        calls = []
        same = video_metrics(ref, ref=ref, progress=lambda done, total: calls.append(done))
        worse = video_metrics(noisy, ref=ref)
        assert (same.frames, same.width, same.height) == (FRAMES, WIDTH, HEIGHT)
        assert calls == list(range(1, FRAMES + 1))
        assert same.psnr == math.inf and same.ssim == pytest.approx(1.0)
        assert 25 < worse.psnr < 40 and 0 < worse.ssim < 0.99
        assert worse.warping_error > 100 * same.warping_error
        assert worse.flow_source == ref
        data = worse.to_dict()
        assert data["psnr"] == pytest.approx(worse.psnr) and data["ref"] == str(ref)
        assert same.to_dict()["psnr"] == "inf"

    def test_flow_from_smaller_input(self, tmp_path):
        frames = moving()
        out = write_lossless(tmp_path / "out.mkv", frames)
        source = write_lossless(tmp_path / "in.mkv", half_size(frames))
        result = video_metrics(out, flow_from=source)
        assert result.flow_source == source and result.psnr is None
        assert result.warping_error < 0.01 * plain_difference(frames)

    def test_one_frame(self, tmp_path):
        result = video_metrics(write_lossless(tmp_path / "one.mkv", moving(frames=1)))
        assert result.frames == 1
        assert math.isnan(result.warping_error) and math.isnan(result.flicker)
        assert result.to_dict()["warping_error"] is None

    def test_frame_count_found_while_decoding(self, tmp_path):
        # Matroska lists no frame count, and streams longer than probe's first-packet scan are only
        # estimated: the mismatch shows when the shorter file ends.
        short = write_lossless(tmp_path / "short.mkv", long_clip(125))
        full = write_lossless(tmp_path / "full.mkv", long_clip(128))
        assert not probe(short).frame_count_exact and not probe(full).frame_count_exact
        with pytest.raises(ConfigError, match="short.mkv ends after 125, .*full.mkv has more"):
            video_metrics(full, ref=short)
        with pytest.raises(ConfigError, match="short.mkv ends after 125"):
            video_metrics(short, flow_from=full)

    def test_short_matroska_counts_found_before_decoding(self, tmp_path):
        # A stream short enough for probe to count from its first packets is compared up front.
        short = write_lossless(tmp_path / "short.mkv", moving(frames=5))
        full = write_lossless(tmp_path / "full.mkv", moving(frames=8))
        with pytest.raises(ConfigError, match="full.mkv has 8, .*short.mkv has 5"):
            video_metrics(full, ref=short)


class TestCli:
    def test_text(self, capsys, tmp_path):
        ref = write_lossless(tmp_path / "ref.mkv", moving())
        out = write_lossless(tmp_path / "out.mkv", with_noise(moving(), sigma=4))
        code, text, err = cli(capsys, "metrics", out, "--ref", ref, "-q")
        assert code == 0, err
        lines = text.splitlines()
        assert lines[0].startswith(f"frames         {FRAMES}, 64x48")
        assert any(line.startswith("warping error") and "flow on ref.mkv" in line for line in lines)
        assert any(line.startswith("flicker") and "luma levels" in line for line in lines)
        assert any(line.startswith("PSNR-Y") and " dB " in line for line in lines)
        assert err == ""

    def test_json(self, capsys, tmp_path):
        out = write_lossless(tmp_path / "out.mkv", moving())
        code, text, err = cli(capsys, "metrics", out, "--json", "--quiet")
        assert code == 0, err
        data = json.loads(text)
        assert data["frames"] == FRAMES and data["flow_source"] == str(out)
        assert data["psnr"] is None and 0 <= data["warping_error"] < 1e-3 and data["flicker"] >= 0

    def test_one_frame_prints_na(self, capsys, tmp_path):
        out = make_clip(tmp_path / "one.mp4", frames=1, audio=False)
        code, text, err = cli(capsys, "metrics", out, "-q")
        assert code == 0, err
        assert "warping error  n/a" in text and "flicker        n/a" in text
        code, text, _ = cli(capsys, "metrics", out, "-q", "--json")
        assert code == 0 and json.loads(text)["warping_error"] is None

    def test_help_teaches(self, capsys):
        code, text, _ = cli(capsys, "metrics", "--help")
        assert code == 0
        assert "Lower is steadier" in text and "luma levels" in text and "--flow-from" in text

    @pytest.mark.parametrize(
        "case", ["size", "frames listed", "frames decoded", "flow frames", "missing"]
    )
    def test_errors(self, capsys, tmp_path, case):
        out = make_clip(tmp_path / "out.mp4", frames=6, audio=False)
        if case == "size":
            other = make_clip(tmp_path / "small.mp4", frames=6, width=32, height=24, audio=False)
            args, parts = ["--ref", other], ["32x24", "64x48", "same size"]
        elif case == "frames listed":  # MP4 lists exact counts: found before decoding
            other = make_clip(tmp_path / "long.mp4", frames=9, audio=False)
            args, parts = ["--ref", other], ["out.mp4 has 6", "long.mp4 has 9"]
        elif case == "frames decoded":
            out = write_lossless(tmp_path / "out.mkv", long_clip(126))  # past probe's count of short streams
            other = write_lossless(tmp_path / "short.mkv", long_clip(124))
            args, parts = ["--ref", other], ["short.mkv ends after 124", "out.mkv has more"]
        elif case == "flow frames":
            other = make_clip(tmp_path / "in.mp4", frames=3, width=32, height=24, audio=False)
            args, parts = ["--flow-from", other], ["out.mp4 has 6", "in.mp4 has 3"]
        else:
            args, parts = ["--ref", tmp_path / "nope.mp4"], ["input not found"]
        code, _, err = cli(capsys, "metrics", out, *args, "-q")
        assert code == 1
        assert_one_error(err, *parts)


def test_ssim_matches_scikit_image():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    from vidstyle.quality import ssim

    rng = np.random.default_rng(3)
    a = rng.random((48, 70)) * 255
    b = cv2.GaussianBlur(a, (5, 5), 1.0) + rng.normal(0, 5, a.shape)
    expected = skimage_metrics.structural_similarity(
        a, b, data_range=255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)
