"""Style statistics: the fixed random extractor, Gram matrices and the style distance."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vidstyle.style.features import RandomMultiscaleFeatures, gram, style_distance, style_features, to_tensor


def stripes(size: int = 96, period: int = 6, angle: float = 0.0) -> np.ndarray:
    """Black-and-white stripes: a texture with one obvious statistic."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    phase = (x * np.cos(angle) + y * np.sin(angle)) * (2 * np.pi / period)
    grey = ((np.sin(phase) > 0) * 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def noise(size: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_the_random_extractor_is_fixed():
    x = to_tensor(noise())
    a, b = RandomMultiscaleFeatures()(x), RandomMultiscaleFeatures()(x)
    assert len(a) == 6 and all(torch.equal(p, q) for p, q in zip(a, b))
    assert [m.shape[-1] for m in a] == [96, 96, 48, 48, 24, 24]
    assert RandomMultiscaleFeatures(seed=1)(x)[1].ne(a[1]).any()


def test_brightness_alone_is_not_style():
    extractor = RandomMultiscaleFeatures()
    for level in (0, 128, 255):
        flat = to_tensor(np.full((32, 32, 3), level, np.uint8))
        assert all(float(m.abs().max()) < 1e-5 for m in extractor(flat))
    exemplar = np.clip(stripes(96).astype(int) // 4 + 190, 0, 255).astype(np.uint8)  # faint, on white
    picture = noise(96, 3) // 2 + 20  # 20 ... 147
    brighter = picture + 100  # the same picture, as bright as the exemplar's paper (no clipping)
    assert style_distance(brighter, exemplar) == pytest.approx(style_distance(picture, exemplar), rel=0.05)


def test_gram_is_symmetric_and_size_free():
    features = torch.rand(2, 5, 8, 8)
    g = gram(features)
    assert g.shape == (2, 5, 5) and torch.allclose(g, g.transpose(1, 2))
    tiled = features.repeat(1, 1, 2, 2)  # the same statistics on four times the area
    assert torch.allclose(gram(tiled), g, atol=1e-6)


def test_style_distance_orders_textures():
    exemplar = stripes(128)
    assert style_distance(exemplar, exemplar) == pytest.approx(0.0, abs=1e-6)
    crop = np.ascontiguousarray(exemplar[10:106, 20:116])  # the same texture elsewhere
    assert style_distance(crop, exemplar) < 0.1
    # Another orientation, another period, noise, a flat picture: all far off.
    others = [stripes(96, angle=np.pi / 2), stripes(96, period=12), noise(), np.full((96, 96, 3), 128, np.uint8)]
    assert min(style_distance(o, exemplar) for o in others) > 0.5


def test_style_distance_of_a_batch_is_the_mean():
    exemplar = stripes(64)
    a, b = noise(64, 1), cv2.GaussianBlur(noise(64, 2), (0, 0), 2)
    both = style_distance(np.stack([a, b]), exemplar)
    assert both == pytest.approx((style_distance(a, exemplar) + style_distance(b, exemplar)) / 2, rel=1e-5)


def test_style_features_choice():
    assert isinstance(style_features("random"), RandomMultiscaleFeatures)
    assert style_features("auto").kind in ("vgg19", RandomMultiscaleFeatures.kind)
    with pytest.raises(ValueError, match="auto, vgg19 or random"):
        style_features("resnet")
