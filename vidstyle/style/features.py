"""Style statistics: multi-scale features, their Gram matrices, and a style distance.

For a feed-forward stylization network (Johnson et al., ECCV 2016) a style is the set of Gram
matrices of an image's features at several depths and scales (Gatys et al., CVPR 2016): which
features fire together, wherever they are. Those features usually come from VGG19 trained on
ImageNet. vidstyle never downloads anything, so when torchvision's VGG19 weights are not in the
local torch cache it uses :class:`RandomMultiscaleFeatures`: shallow convolutions with fixed,
seeded random filters at three scales. Ustyuzhaninov et al. ("What does it take to generate
natural textures?", ICLR 2017) found such random multi-scale filters capture enough texture
statistics to synthesise natural textures, which is what a style exemplar is to us.

:func:`style_features` picks one (``kind`` says which, for the weights cards); the benchmark's
style distance always uses the random extractor, so its figures do not depend on what a machine
has cached.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["VGG19_FILE", "GaussianHalf", "RandomMultiscaleFeatures", "gaussian_blur", "gaussian_taps", "gram",
           "style_distance", "style_features", "to_tensor", "vgg19_cache_path"]

#: File name under ``torch.hub.get_dir()/checkpoints`` of torchvision's VGG19 IMAGENET1K_V1 weights.
VGG19_FILE = "vgg19-dcbb9e9d.pth"

#: Seed of the random extractor's filters: changing it changes every style distance.
RANDOM_SEED = 20261129


class RandomMultiscaleFeatures(nn.Module):
    """Two random 3x3 convolution layers at full, half and quarter resolution, frozen.

    Weights are drawn once from a seeded generator (He initialisation, so activations keep their
    scale), the same on every machine and torch version that keeps ``torch.Generator`` streams.
    The first layer's filters sum to zero over their 3x3 taps, channel by channel: a flat
    picture, of any brightness or colour, gives no response, so the statistics are those of
    strokes, grain, edges and their colours, and a picture cannot come closer to a style just by
    taking on its paper's brightness.
    """

    kind = "random-multiscale-v1"

    def __init__(self, channels: tuple[int, int] = (48, 96), scales: int = 3, seed: int = RANDOM_SEED) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.scales = scales
        self.first = nn.ModuleList()
        self.second = nn.ModuleList()
        for _ in range(scales):
            first = self._conv(3, channels[0], generator)
            with torch.no_grad():
                first.weight.sub_(first.weight.mean(dim=(2, 3), keepdim=True))
            self.first.append(first)
            self.second.append(self._conv(channels[0], channels[1], generator))
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def _conv(cin: int, cout: int, generator: torch.Generator) -> nn.Conv2d:
        conv = nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect")
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / (cin * 9)) ** 0.5)
            conv.bias.zero_()
        return conv

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) in [0, 1] -> feature maps, two per scale (first and second layer)."""
        maps = []
        for scale in range(self.scales):
            if scale:
                x = F.avg_pool2d(x, 2)
            first = F.relu(self.first[scale](x))
            maps += [first, F.relu(self.second[scale](first))]
        return maps


class _VGG19Style(nn.Module):
    """relu1_2, relu2_2, relu3_4 and relu4_4 of VGG19 with the cached ImageNet weights."""

    kind = "vgg19"
    _LAYERS = (3, 8, 17, 26)

    def __init__(self, state_path) -> None:
        super().__init__()
        from torchvision.models import vgg19  # noqa: PLC0415  (only when the weights are there)

        network = vgg19(weights=None)  # never downloads
        network.load_state_dict(torch.load(state_path, map_location="cpu", weights_only=True))
        self.features = network.features[: max(self._LAYERS) + 1].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        maps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._LAYERS:
                maps.append(x)
        return maps


def vgg19_cache_path() -> Path:
    """Where torchvision keeps its ImageNet VGG19 weights in the local torch cache (the style
    features here and the perceptual loss of training both read them; nothing downloads them)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


def style_features(kind: str = "auto") -> nn.Module:
    """``vgg19`` (needs its weights in the torch cache), ``random`` or ``auto`` (VGG19 if cached)."""
    if kind not in ("auto", "vgg19", "random"):
        raise ValueError(f"style features must be auto, vgg19 or random, got {kind!r}")
    path = vgg19_cache_path()
    if kind == "vgg19" or (kind == "auto" and path.is_file()):
        if not path.is_file():
            raise FileNotFoundError(f"VGG19 weights are not in the torch cache ({path})")
        return _VGG19Style(path)
    return RandomMultiscaleFeatures()


class GaussianHalf(nn.Module):
    """Gaussian blur (``sigma`` in full-resolution pixels), then every second pixel: the scale a
    style is learnt and measured at (:mod:`vidstyle.train.style`, :func:`style_distance`).

    The blur takes away what a 2x2 average would let through at the scale of the pixel
    shuffle's 4x4 cells (at sigma 1.5 a pattern of period 4 keeps 6% of its contrast) and keeps
    strokes (a period of 12 pixels keeps 73%), so patterns of cells cannot pass for strokes.
    """

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.register_buffer("taps", gaussian_taps(sigma), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _separable(x, self.taps)[..., ::2, ::2]


def gaussian_taps(sigma: float, radius: int | None = None) -> torch.Tensor:
    """The normalised taps of a 1-D Gaussian of ``sigma`` pixels, float32 (2 radius + 1,); the
    radius is ceil(2.5 sigma) unless given."""
    radius = max(1, math.ceil(2.5 * sigma)) if radius is None else radius
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
    return taps / taps.sum()


def gaussian_blur(x: torch.Tensor, sigma: float, *, radius: int | None = None) -> torch.Tensor:
    """``x`` (B, C, H, W) blurred with a Gaussian of ``sigma`` pixels (:func:`gaussian_taps`), edges
    reflected; the same shape. Sides must exceed the radius."""
    return _separable(x, gaussian_taps(sigma, radius).to(x))


def _separable(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """``x`` (B, C, H, W) convolved with ``taps`` (odd length) down and across, edges reflected."""
    c, radius = x.shape[1], taps.numel() // 2
    x = F.pad(x, (radius,) * 4, mode="reflect")
    x = F.conv2d(x, taps.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, taps.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def gram(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) Gram matrices, divided by C H W so sizes compare."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) or (N, H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    if images.ndim == 3:
        images = images[None]
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def style_distance(images: np.ndarray, exemplar: np.ndarray, extractor: nn.Module | None = None, *,
                   sigma: float | None = None) -> float:
    """How far ``images`` are from the style of ``exemplar``: 0 for the same statistics.

    For each feature map of the extractor (default: the fixed random one), the Frobenius norm of
    the difference of Gram matrices relative to the exemplar's; the mean over maps, then over
    images. A relative figure, so maps of any scale weigh alike, and a ratio of two distances
    (output against input) reads as "how much of the way to the style".

    Args:
        images: RGB uint8 (H, W, 3) or (N, H, W, 3).
        exemplar: RGB uint8 (h, w, 3), any size.
        sigma: when given, images and exemplar alike are seen through :class:`GaussianHalf`
            (blurred, half resolution), the scale a style model is trained at; None: as they are.
    """
    extractor = extractor or RandomMultiscaleFeatures()
    view = GaussianHalf(sigma) if sigma else nn.Identity()
    targets = [gram(f) for f in extractor(view(to_tensor(exemplar)))]
    total = 0.0
    batch = to_tensor(images)
    for image in batch.split(1):
        maps = extractor(view(image))
        total += float(np.mean([((gram(f) - t).norm() / t.norm().clamp_min(1e-12)).item()
                                for f, t in zip(maps, targets)]))
    return total / len(batch)
