"""Multi-scale PatchGAN discriminator for the GAN phase of training.

A PatchGAN (Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks",
CVPR 2017) classifies overlapping patches instead of the whole image, so it judges texture and
leaves global structure to the reconstruction loss. Several of them, each on the image
average-pooled by a further factor of 2 (Wang et al., "High-Resolution Image Synthesis and
Semantic Manipulation with Conditional GANs" (pix2pixHD), CVPR 2018), judge fine grain and
coarser structure at the same cost per scale. Every convolution is spectrally normalised
(Miyato et al., ICLR 2018), which bounds the discriminator's Lipschitz constant and keeps the
hinge-loss training stable without a gradient penalty.

The discriminator returns, per scale, its logits and the activations of each of its layers, so
the generator can also be trained to match those features (feature matching, pix2pixHD).

It is only used in training; it is never shipped.

Example::

    >>> d = MultiScaleDiscriminator(num_scales=2, channels=32, layers=3)
    >>> outputs = d(torch.rand(2, 3, 128, 128))
    >>> [tuple(o.logits.shape) for o in outputs]
    [(2, 1, 14, 14), (2, 1, 6, 6)]
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["DiscriminatorOutput", "MultiScaleDiscriminator", "PatchDiscriminator"]


class DiscriminatorOutput(NamedTuple):
    """What one scale of the discriminator says about a batch.

    Attributes:
        logits: (B, 1, h, w) unbounded real/fake scores, one per receptive field (patch).
        features: activations after each hidden layer, (B, C_i, h_i, w_i), for feature matching.
    """

    logits: torch.Tensor
    features: list[torch.Tensor]


class PatchDiscriminator(nn.Module):
    """One PatchGAN: ``layers`` strided 4x4 convolutions, one 4x4 at stride 1, then a 4x4 to logits.

    Widths double per layer from ``channels`` up to ``max_channels``. With 3 strided layers each
    logit sees a patch of 70x70 input pixels (the classic PatchGAN). The classic widths are
    64 to 512; on a 2-core CPU the last, widest layer alone would cost more than the generator,
    so the cap is low by default.

    Args:
        in_channels: channels of the input image.
        channels: width of the first layer.
        layers: number of stride-2 layers, 1 or more.
        max_channels: widest layer.
    """

    def __init__(self, *, in_channels: int = 3, channels: int = 32, layers: int = 3,
                 max_channels: int = 128) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be 1 or more, got {layers}")
        if not 1 <= channels <= max_channels:
            raise ValueError(f"channels must be in [1, max_channels={max_channels}], got {channels}")
        widths = [min(channels * 2**i, max_channels) for i in range(layers + 1)]
        blocks = [nn.Conv2d(in_channels, widths[0], 4, stride=2, padding=1)]
        for i in range(1, layers):
            blocks.append(nn.Conv2d(widths[i - 1], widths[i], 4, stride=2, padding=1))
        blocks.append(nn.Conv2d(widths[layers - 1], widths[layers], 4, stride=1, padding=1))
        self.blocks = nn.ModuleList(spectral_norm(conv) for conv in blocks)
        self.to_logits = spectral_norm(nn.Conv2d(widths[layers], 1, 4, stride=1, padding=1))

    def forward(self, x: torch.Tensor) -> DiscriminatorOutput:
        features = []
        for conv in self.blocks:
            x = F.leaky_relu(conv(x), 0.2)
            features.append(x)
        return DiscriminatorOutput(self.to_logits(x), features)


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` PatchGANs, scale ``k`` on the input average-pooled by ``2**k``.

    Args:
        num_scales: how many scales, 1 to 4.
        channels: first-layer width of each PatchGAN.
        layers: stride-2 layers of each PatchGAN.
        max_channels: widest layer of each PatchGAN.

    Input: (B, 3, H, W) in [0, 1]; H and W of at least ``2**(num_scales - 1) * 2**layers * 4``
    pixels so the coarsest scale still gives logits (e.g. 64 for 2 scales of 3 layers).
    Output: one :class:`DiscriminatorOutput` per scale, finest first.
    """

    def __init__(self, *, num_scales: int = 2, channels: int = 32, layers: int = 3,
                 max_channels: int = 128) -> None:
        super().__init__()
        if not 1 <= num_scales <= 4:
            raise ValueError(f"num_scales must be 1 to 4, got {num_scales}")
        self.hparams = {"num_scales": num_scales, "channels": channels, "layers": layers,
                        "max_channels": max_channels}
        self.min_size = 2 ** (num_scales - 1) * 2**layers * 4
        self.scales = nn.ModuleList(
            PatchDiscriminator(channels=channels, layers=layers, max_channels=max_channels)
            for _ in range(num_scales)
        )

    def forward(self, x: torch.Tensor) -> list[DiscriminatorOutput]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) tensor, instead got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(
                f"input sides should be at least {self.min_size} pixels for "
                f"{len(self.scales)} scales, instead got {tuple(x.shape[-2:])}"
            )
        # Centre [0, 1] on zero: the first layer has no normalisation to do it.
        x = x * 2.0 - 1.0
        outputs = []
        for k, discriminator in enumerate(self.scales):
            if k:
                x = F.avg_pool2d(x, 2)
            outputs.append(discriminator(x))
        return outputs
