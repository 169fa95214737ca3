"""Losses of the remaster generator and its discriminator.

All image arguments are float tensors (B, 3, H, W) in [0, 1]; every loss returns a scalar tensor.

* :func:`charbonnier_loss` and :func:`l1_loss`: reconstruction. Charbonnier's penalty
  ``sqrt(d^2 + eps^2)`` (Charbonnier et al., ICIP 1994; used for super-resolution by LapSRN,
  Lai et al., CVPR 2017) behaves like L2 for tiny errors and like L1 otherwise, so it is smooth at
  zero yet robust to the outliers the damage leaves. We subtract ``eps`` so a perfect output
  scores exactly 0; the gradient is unchanged.
* :func:`discriminator_hinge_loss` / :func:`generator_hinge_loss`: the hinge form of the GAN
  objective (Lim & Ye, "Geometric GAN", 2017; as used with spectral normalisation by Miyato et al.,
  ICLR 2018), averaged over the scales of a multi-scale discriminator.
* :func:`feature_matching_loss`: L1 between the discriminator's intermediate features of the
  output and of the clean target, per scale and layer (pix2pixHD, Wang et al., CVPR 2018). It
  gives the generator a dense, stable signal that the logits alone do not.
* :class:`PerceptualLoss`: L1 between VGG19 features (Johnson et al., ECCV 2016) when
  torchvision's ImageNet VGG19 weights are already in the local torch cache, else a multi-scale
  image-gradient loss; :attr:`PerceptualLoss.kind` says which, for the weights card.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..models.discriminator import DiscriminatorOutput
from ..style.features import vgg19_cache_path

__all__ = [
    "PerceptualLoss",
    "charbonnier_loss",
    "discriminator_hinge_loss",
    "feature_matching_loss",
    "generator_hinge_loss",
    "gradient_loss",
    "l1_loss",
    "masked_l1",
    "vgg19_cache_path",
]

log = logging.getLogger(__name__)

# ImageNet statistics the VGG19 weights expect.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# Indices in torchvision's vgg19().features of relu2_2 and relu3_4, and their loss weights.
# Deeper layers (relu4_4, relu5_4) would cost several times more on a CPU and see mostly
# semantics, which a restorer at x2/x4 has little use for.
_VGG_LAYERS = {8: 1.0, 17: 1.0}


def _check_pair(output: torch.Tensor, target: torch.Tensor) -> None:
    if output.shape != target.shape:
        raise ValueError(
            f"output and target should have the same shape, instead got "
            f"{tuple(output.shape)} and {tuple(target.shape)}"
        )


def charbonnier_loss(output: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of ``sqrt((output - target)^2 + eps^2) - eps``: 0 for a perfect output."""
    _check_pair(output, target)
    diff = output - target
    return (diff * diff + eps * eps).sqrt().mean() - eps


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |a - b| over the pixels where ``mask`` (B, 1, H, W) is 1 (the temporal losses)."""
    return ((a - b).abs() * mask).sum() / (mask.sum() * a.shape[1]).clamp_min(1.0)


def l1_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    _check_pair(output, target)
    return (output - target).abs().mean()


def discriminator_hinge_loss(
    real: Sequence[DiscriminatorOutput], fake: Sequence[DiscriminatorOutput]
) -> torch.Tensor:
    """``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``, averaged over scales.

    0 once every real logit is at least 1 and every fake one at most -1.
    """
    if len(real) != len(fake) or not real:
        raise ValueError(f"expected the same number of scales, got {len(real)} and {len(fake)}")
    total = sum(
        F.relu(1.0 - r.logits).mean() + F.relu(1.0 + f.logits).mean() for r, f in zip(real, fake)
    )
    return total / len(real)


def generator_hinge_loss(fake: Sequence[DiscriminatorOutput]) -> torch.Tensor:
    """``-mean(D(fake))``, averaged over scales: lower when the discriminator believes the output."""
    if not fake:
        raise ValueError("expected at least one scale")
    return -sum(f.logits.mean() for f in fake) / len(fake)


def feature_matching_loss(
    real: Sequence[DiscriminatorOutput], fake: Sequence[DiscriminatorOutput]
) -> torch.Tensor:
    """L1 between the discriminator's features of the output and of the target.

    Averaged over layers and scales; the real features are treated as constants, so only the
    generator learns from it. 0 when the two images give the same features.
    """
    if len(real) != len(fake) or not real:
        raise ValueError(f"expected the same number of scales, got {len(real)} and {len(fake)}")
    terms = []
    for r, f in zip(real, fake):
        if len(r.features) != len(f.features):
            raise ValueError(f"expected the same layers, got {len(r.features)} and {len(f.features)}")
        terms.extend((fo - ro.detach()).abs().mean() for ro, fo in zip(r.features, f.features))
    return sum(terms) / len(terms)


def _image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def gradient_loss(output: torch.Tensor, target: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """L1 between horizontal and vertical pixel differences of output and target, at several scales.

    Scale ``k`` compares the images average-pooled by ``2**k``; the terms are averaged. It is 0
    when the two images differ by a constant, and grows with every edge that is blurred, moved or
    invented, at fine and coarse scales.
    """
    _check_pair(output, target)
    total = output.new_zeros(())
    for k in range(scales):
        if k:
            if min(output.shape[-2:]) < 4:
                scales = k
                break
            output, target = F.avg_pool2d(output, 2), F.avg_pool2d(target, 2)
        (ox, oy), (tx, ty) = _image_gradients(output), _image_gradients(target)
        # Coarser differences span more pixels and are larger: scale them back to per-pixel steps.
        total = total + ((ox - tx).abs().mean() + (oy - ty).abs().mean()) / 2**k
    return total / scales


class _VGG19Features(nn.Module):
    """relu2_2 and relu3_4 of a frozen VGG19 with ImageNet weights, on inputs in [0, 1]."""

    def __init__(self, state_path: Path) -> None:
        super().__init__()
        from torchvision.models import vgg19  # only needed when the weights are there

        network = vgg19(weights=None)  # never downloads; the weights come from the cache file
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
        self.features = network.features[: max(_VGG_LAYERS) + 1].eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        taken = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _VGG_LAYERS:
                taken.append(x)
        return taken


class PerceptualLoss(nn.Module):
    """A perceptual loss that never downloads anything.

    ``kind="vgg19"``: mean L1 between relu2_2 and relu3_4 features of a VGG19 with torchvision's
    ImageNet weights, read from :func:`vgg19_cache_path` (``weights=None`` and the state dict
    loaded from the file). ``kind="gradient"``: :func:`gradient_loss`. ``kind="auto"`` (default)
    takes VGG19 when its weights file is in the cache and the gradient loss otherwise.

    Why the gradient loss is the fallback: with small weights beside Charbonnier, what a
    perceptual term adds is pressure against blurred and misplaced edges and fine structure,
    the errors a per-pixel average tolerates. Differences of neighbouring pixels at three scales
    measure exactly that, as VGG's early layers largely do (they are mostly oriented edge
    filters), at almost no cost and without learned weights. A randomly initialised feature
    network was the other candidate; its features have no reason to weigh edges over colour and
    their scale is arbitrary. A Fourier-domain loss would weigh grain-like high frequencies that
    the restorer should remove, not reproduce.

    Attributes:
        kind: ``"vgg19"`` or ``"gradient"``: what the loss computes; the weights card reports it.
    """

    KINDS = ("auto", "vgg19", "gradient")

    def __init__(self, kind: str = "auto") -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {', '.join(self.KINDS)}, got {kind!r}")
        path = vgg19_cache_path()
        if kind == "auto":
            kind = "vgg19" if path.is_file() else "gradient"
            if kind == "gradient":
                log.info("VGG19 weights not in the torch cache (%s): using the gradient loss", path)
        if kind == "vgg19" and not path.is_file():
            raise FileNotFoundError(
                f"VGG19 weights not found at {path}; they are never downloaded, use kind='auto'"
            )
        self.kind = kind
        self.vgg = _VGG19Features(path) if kind == "vgg19" else None

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        if self.vgg is not None:
            self.vgg.eval()  # a fixed feature extractor, whatever the caller's mode
        return self

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss of ``output`` against ``target``, both (B, 3, H, W) in [0, 1]."""
        _check_pair(output, target)
        if self.vgg is None:
            return gradient_loss(output, target)
        out_features = self.vgg(output)
        with torch.no_grad():
            target_features = self.vgg(target)
        weights = list(_VGG_LAYERS.values())
        total = sum(w * (o - t).abs().mean() for w, o, t in zip(weights, out_features, target_features))
        return total / sum(weights)
