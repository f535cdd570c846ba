"""Saliency maps for saliency-guided mixing, batched in torch.

- :func:`spectral_residual` — Hou & Zhang, "Saliency Detection: A Spectral Residual Approach",
  CVPR 2007; the map SaliencyMix (Uddin et al., ICLR 2021) takes from OpenCV's
  ``StaticSaliencySpectralResidual``.  Steps (paper): grey image resized to 64 px, log amplitude
  spectrum ``L``, spectral residual ``R = L - h_3 * L`` (3x3 mean filter), saliency
  ``|IFFT(exp(R + i * phase))|^2`` smoothed by a Gaussian.  Choices the paper leaves open: the
  working size is 64x64 (square, as OpenCV resizes to 64x64) with bilinear resampling both
  ways; the mean filter pads by edge replication; the Gaussian has sigma 3 working pixels
  (the paper's sigma 8 is for 64 px images of natural scenes and smears 28x28 objects over half
  the frame; 3 is about OpenCV's 11x11 smoothing kernel); the map is scaled to [0, 1] per image.
  Numerics: the residual ``L - h_3 * L`` whitens the spectrum, so coefficients that are zero up
  to rounding (common in synthetic, exactly periodic images: a lattice of identical blobs has
  nulls across most of its spectrum) would come back with O(1) amplitude and random phase,
  and the map would be dominated by rounding noise (in float32 it differed from the float64
  map by ~100% of its peak on a lattice of bars).  The spectrum is therefore computed in
  float64 and amplitudes are floored at ``1e-7`` (about float32's resolution) of each
  image's largest one, so such coefficients are treated as the exact zeros they stand for
  (on ``skimage.data.astronaut()`` the floor changes nothing: all amplitudes lie above it).
- :func:`input_gradient_saliency` — PuzzleMix (Kim, Choo & Song, ICML 2020) and Co-Mixup (Kim et
  al., ICLR 2021): the L2 norm over channels of the gradient of the loss w.r.t. the input
  (Simonyan et al. 2014).  The official code takes ``sqrt(mean_c g^2)``; that differs from the
  L2 norm by the constant ``sqrt(C)``, which the later normalisation removes.  The pass runs
  the model in eval mode (the official default ``clean_lam = 0`` path, which also keeps BN
  running statistics untouched), uses ``torch.autograd.grad`` w.r.t. the input only (no
  ``.grad`` is left on any parameter), and restores the model's mode.
- :func:`feature_attention` — Attentive CutMix (Walawalkar et al., ICASSP 2020): the last
  feature map of a CNN, averaged over channels, pooled to a ``grid x grid`` attention map
  (the paper: ResNet-50's 7x7 final map).  Run under ``no_grad`` in eval mode, mode restored.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..losses import soft_cross_entropy

_REL_FLOOR = 1e-7  # amplitudes below this fraction of the peak count as exact zeros (float32 eps)

__all__ = ["eval_mode", "feature_attention", "input_gradient_saliency", "spectral_residual"]


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode and restore each submodule's own train/eval flag afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def _as_float(x: Tensor) -> Tensor:
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if not x.dtype.is_floating_point:
        raise TypeError(f"x must be uint8 or floating point, got dtype {x.dtype}")
    return x.float()


def _gaussian_blur(s: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian on (B, 1, H, W) with reflect padding (kernel radius 3 sigma)."""
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=s.dtype, device=s.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    s = F.conv2d(F.pad(s, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(s, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))


def spectral_residual(x: Tensor, size: int = 64, sigma: float = 3.0) -> Tensor:
    """Spectral-residual saliency ``(B, H, W)`` in [0, 1] per image (Hou & Zhang 2007)."""
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a (B, C, H, W) tensor, got {getattr(x, 'shape', type(x))}")
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    h, w = x.shape[-2:]
    g = _as_float(x).double() if x.dtype != torch.float64 else x
    g = g.mean(1, keepdim=True)  # grey: channel mean
    g = F.interpolate(g, size=(size, size), mode="bilinear", align_corners=False)
    spec = torch.fft.fft2(g)  # float64: see the note on numerically zero coefficients
    amp = spec.abs()
    floor = amp.flatten(1).amax(1).view(-1, 1, 1, 1) * _REL_FLOOR
    log_amp = torch.log(torch.maximum(amp, floor.clamp(min=1e-300)))
    phase = torch.angle(spec)
    smooth = F.avg_pool2d(F.pad(log_amp, (1, 1, 1, 1), mode="circular"), 3, stride=1)
    residual = log_amp - smooth
    sal = torch.fft.ifft2(torch.exp(torch.complex(residual, phase))).abs() ** 2
    sal = _gaussian_blur(sal, sigma)
    sal = F.interpolate(sal, size=(h, w), mode="bilinear", align_corners=False).squeeze(1)
    lo = sal.flatten(1).amin(1).view(-1, 1, 1)
    hi = sal.flatten(1).amax(1).view(-1, 1, 1)
    return ((sal - lo) / (hi - lo).clamp(min=1e-12)).float()


def input_gradient_saliency(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    """``||d loss / d x||_2`` over channels, ``(B, H, W)``; soft-target cross-entropy, summed.

    The loss is summed (not averaged) over the batch so each image's map does not depend on
    the batch size.  Parameters receive no gradient; the model's modes are restored.
    """
    xi = _as_float(x).detach().requires_grad_(True)
    with torch.enable_grad(), eval_mode(model):
        logits = model(xi)
        loss = soft_cross_entropy(logits, target.to(logits.dtype), reduction="sum")
        (grad,) = torch.autograd.grad(loss, xi)
    return grad.detach().pow(2).sum(1).sqrt()


def feature_attention(model: nn.Module, x: Tensor, grid: int) -> Tensor:
    """Channel-mean of the model's last feature map pooled to ``(B, grid, grid)``.

    ``model`` must expose ``features(x)`` (an augkit ``StagedNet``).
    """
    if not hasattr(model, "features"):
        raise TypeError(f"model must expose features(x) (an augkit StagedNet), got {type(model).__name__}")
    with torch.no_grad(), eval_mode(model):
        h = model.features(x)
    return F.adaptive_avg_pool2d(h.float().mean(1, keepdim=True), grid).squeeze(1)
