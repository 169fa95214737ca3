"""Baseline models, the model descriptor, and remaster/preview through the library."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import decode_all, make_clip, stream_durations

from vidstyle import RangeConfig, RemasterConfig, preview, probe, remaster
from vidstyle.errors import ConfigError, ModelError
from vidstyle.models import Bicubic, Lanczos, ModelDescriptor, available_models, load_model
from vidstyle.models.descriptor import run_frames


class TestBaselines:
    @pytest.mark.parametrize("scale", [2, 4])
    def test_bicubic_matches_opencv(self, scale):
        x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(0))
        ours = Bicubic(scale=scale)(x)[0].permute(1, 2, 0).numpy()
        ref = cv2.resize(x[0].permute(1, 2, 0).numpy(), (24 * scale, 20 * scale), interpolation=cv2.INTER_CUBIC)
        border = 2 * scale  # OpenCV and torch treat the border differently
        np.testing.assert_allclose(ours[border:-border, border:-border], ref[border:-border, border:-border], atol=1e-5)

    @pytest.mark.parametrize("scale", [2, 4])
    def test_lanczos_matches_opencv(self, scale):
        # Our default is OpenCV's INTER_LANCZOS4 kernel: 4 lobes.
        x = torch.rand(1, 3, 24, 28, generator=torch.Generator().manual_seed(1))
        ours = Lanczos(scale=scale)(x)[0].permute(1, 2, 0).numpy()
        ref = cv2.resize(x[0].permute(1, 2, 0).numpy(), (28 * scale, 24 * scale), interpolation=cv2.INTER_LANCZOS4)
        border = 4 * scale
        np.testing.assert_allclose(ours[border:-border, border:-border], ref[border:-border, border:-border], atol=1e-5)

    @pytest.mark.parametrize("name", ["bicubic", "lanczos"])
    @pytest.mark.parametrize("scale", [2, 4])
    def test_opencv_cpu_path_matches_torch_path(self, name, scale):
        model = load_model(name, scale=scale)
        assert model.cpu_frames is not None
        frames = np.random.default_rng(2).integers(0, 256, (2, 20, 26, 3), dtype=np.uint8)
        fast = model.cpu_frames(frames).astype(int)
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
        slow = (model(x) * 255).round().permute(0, 2, 3, 1).numpy().astype(int)
        border = 4 * scale
        inner = (slice(None), slice(border, -border), slice(border, -border))
        assert fast.shape == slow.shape
        assert np.abs(fast[inner] - slow[inner]).max() <= 1

    def test_lanczos_keeps_flat_fields(self):
        x = torch.full((2, 3, 9, 11), 0.37)
        torch.testing.assert_close(Lanczos(scale=4)(x), torch.full((2, 3, 36, 44), 0.37))

    def test_scale_one_is_identity(self):
        x = torch.rand(1, 3, 8, 8)
        assert torch.equal(load_model("bicubic", scale=1)(x), x)


class TestDescriptor:
    def test_pads_and_crops_to_size_multiple(self):
        seen = []

        class Probe(torch.nn.Module):
            def forward(self, x):
                seen.append(tuple(x.shape[-2:]))
                return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

        model = ModelDescriptor("probe", Probe(), scale=2, size_multiple=8)
        out = model(torch.rand(1, 3, 13, 21))
        assert seen == [(16, 24)] and out.shape == (1, 3, 26, 42)

    def test_rejects_wrong_shapes(self):
        model = load_model("bicubic", scale=2)
        with pytest.raises(ValueError, match=r"expected a \(B, 3, H, W\) tensor, instead got shape \(3, 8, 8\)"):
            model(torch.rand(3, 8, 8))
        with pytest.raises(ValueError, match="float"):
            model(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))

    def test_run_frames_uint8_edge(self):
        frames = np.random.default_rng(0).integers(0, 256, (2, 10, 12, 3), dtype=np.uint8)
        out = run_frames(load_model("bicubic", scale=1), frames)
        np.testing.assert_array_equal(out, frames)
        assert run_frames(load_model("lanczos", scale=2), frames).shape == (2, 20, 24, 3)

    def test_registry(self):
        assert [m.name for m in available_models()][:2] == ["bicubic", "lanczos"]
        with pytest.raises(ModelError, match="unknown model 'nope'; known models: bicubic, lanczos"):
            load_model("nope", scale=2)


class TestRemaster:
    def test_full_file(self, clip, tmp_path):
        dst = tmp_path / "out.mp4"
        result = remaster(clip, dst, RemasterConfig(scale=2, batch_size=4))
        assert result.frames == 30 and result.output_size == (128, 96)
        info_in, info_out = probe(clip), probe(dst)
        assert info_out.frame_count == 30 and (info_out.width, info_out.height) == (128, 96)
        _, pts_in = decode_all(clip)
        _, pts_out = decode_all(dst)
        assert [p * info_out.time_base for p in pts_out] == [p * info_in.time_base for p in pts_in]
        d = stream_durations(dst)
        assert abs(d["audio"] - d["video"]) <= float(info_in.frame_duration)
        assert abs(info_out.duration - info_in.duration) <= float(info_in.frame_duration)
        # The defaults: the repair stage (--repair auto) mends the frames before the flow and keyframe plan, and
        # --temporal auto reuses features on the CPU: the repair, the flow and the blend are stages too.
        assert list(result.stage_seconds) == ["decode", "repair", "flow", "model", "blend", "encode"]
        assert result.repair["frames"] == 30

    def test_range(self, clip, tmp_path):
        dst = tmp_path / "part.mkv"
        config = RemasterConfig(scale=1, model="bicubic", range=RangeConfig(start="0.4", end="f25"))
        result = remaster(clip, dst, config)
        assert result.frames == 15
        frames, pts = decode_all(dst)
        assert len(frames) == 15
        tb = probe(dst).time_base
        assert float(pts[0] * tb) == 0.0  # the range starts at time zero of the output
        assert float(pts[-1] * tb) == pytest.approx(14 / 25, abs=1e-3)
        d = stream_durations(dst)
        assert abs(d["audio"] - 15 / 25) <= 1 / 25

    def test_content_is_the_upscaled_input(self, tmp_path):
        src = make_clip(tmp_path / "c.mkv", frames=6, codec="ffv1", pix_fmt="yuv444p", audio=False)
        dst = tmp_path / "o.mkv"
        remaster(src, dst, RemasterConfig(scale=2, model="bicubic", encode=_lossless()))
        src_frames, _ = decode_all(src)
        out_frames, _ = decode_all(dst)
        model = load_model("bicubic", scale=2)
        expected = run_frames(model, np.stack(src_frames))
        # Only the RGB -> YUV 4:4:4 -> RGB round trip of the encoder separates the two.
        diff = np.abs(np.stack(out_frames).astype(int) - expected.astype(int))
        assert diff.mean() < 1.0 and diff.max() <= 4

    def test_a_model_already_loaded(self, tmp_path):
        """remaster(..., model=...) runs that model (a script's wrapper, say); its scale must be the run's."""
        src = make_clip(tmp_path / "c.mkv", frames=4, codec="ffv1", pix_fmt="yuv444p", audio=False)
        lanczos = load_model("lanczos", scale=2)
        given = RemasterConfig(scale=2, model="bicubic", encode=_lossless())
        remaster(src, tmp_path / "given.mkv", given, model=lanczos)
        remaster(src, tmp_path / "named.mkv", RemasterConfig(scale=2, model="lanczos", encode=_lossless()))
        assert all(np.array_equal(a, b) for a, b in zip(decode_all(tmp_path / "given.mkv")[0],
                                                       decode_all(tmp_path / "named.mkv")[0]))
        with pytest.raises(ConfigError, match="upscales x2, but the run asks for x4"):
            remaster(src, tmp_path / "o.mkv", RemasterConfig(scale=4), model=lanczos)
        assert not (tmp_path / "o.mkv").exists()

    def test_progress_callback(self, clip, tmp_path):
        calls = []
        remaster(clip, tmp_path / "o.mp4", RemasterConfig(batch_size=8), progress=lambda d, t: calls.append((d, t)))
        assert calls == [(8, 30), (16, 30), (24, 30), (30, 30)]


def _lossless():
    from vidstyle import EncodeConfig

    return EncodeConfig(codec="ffv1", pix_fmt="yuv444p")


class TestPreview:
    def test_side_by_side_and_sheet(self, tmp_path):
        src = make_clip(tmp_path / "c.mp4", frames=40)
        dst = tmp_path / "try.mp4"
        result = preview(src, dst, RemasterConfig(scale=2, model="lanczos"), start="f8", frames=12)
        assert result.frames == 12 and result.sheet == tmp_path / "try.png"
        info = probe(dst)
        assert (info.width, info.height) == (256, 96) and info.frame_count == 12
        sheet = cv2.imread(str(result.sheet))
        assert sheet.shape == (4 * 96, 256, 3)
        assert result.total_frames == 40 and result.estimated_seconds > 0 and result.model_fps > 0
        json.dumps(result.to_dict())
