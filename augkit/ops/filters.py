"""Filter kernels: per-image Gaussian blur, additive Gaussian noise, Pillow's BLUR and SMOOTH.

References
----------
* Gaussian blur as an augmentation: Chen et al. 2020, "A Simple Framework for Contrastive
  Learning of Visual Representations" (SimCLR, sigma drawn per image); the kernel follows
  torchvision's ``gaussian_blur``: a sampled, normalised Gaussian applied separably with
  reflect padding (mirror without repeating the edge pixel, ``numpy.pad(mode="reflect")``,
  ``scipy.ndimage`` ``mode="mirror"``).
* Additive Gaussian noise: Hendrycks & Dietterich 2019 (ImageNet-C ``gaussian_noise``:
  ``clip(x + N(0, sigma))`` on [0, 1] images) and Lopes et al. 2019 (Patch Gaussian).
* ``box_blur`` / ``smooth``: Pillow ``ImageFilter.BLUR`` (5x5 ring / 16) and
  ``ImageFilter.SMOOTH`` (3x3, centre 5 / 13).

Choices the references leave open
---------------------------------
* One kernel size for the whole batch (so the batch is one grouped convolution); each image
  has its own sigma.  The default radius is ``ceil(3 * max(sigma))``, which needs the largest
  sigma on the host: pass ``kernel_size`` to avoid that device synchronisation.  ``sigma == 0``
  is an exact identity (a delta kernel).
* Reflect padding works for any radius (repeated mirroring when the radius exceeds the image),
  where ``torch.nn.functional.pad`` would refuse.
* Noise ``sigma`` is a fraction of the full range (ImageNet-C convention on [0, 1] images); for
  uint8 it is multiplied by 255.  The result is clipped, like ImageNet-C.
* Pillow's BLUR/SMOOTH leave the outer 2 (BLUR) or 1 (SMOOTH) pixels unfiltered; we do the same.
  Pillow rounds half up, we round half to even (``finish``), so ties may differ by one level.

Value checks on parameter *tensors* run only when they live on the CPU, so that accelerator
pipelines never synchronise for validation; Python numbers are always checked.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from augkit.ops._common import bound_of, check_image, finish, per_image, to_work

__all__ = [
    "box_blur",
    "gaussian_blur",
    "gaussian_noise",
    "smooth",
]

# Pillow ImageFilter kernels: (weights, divisor).  Both are symmetric, so Pillow's flipped
# application (convolution, not correlation) does not matter.
_PILLOW_KERNELS: dict[str, tuple[list[list[float]], float]] = {
    "blur": (
        [
            [1, 1, 1, 1, 1],
            [1, 0, 0, 0, 1],
            [1, 0, 0, 0, 1],
            [1, 0, 0, 0, 1],
            [1, 1, 1, 1, 1],
        ],
        16.0,
    ),
    "smooth": ([[1, 1, 1], [1, 5, 1], [1, 1, 1]], 13.0),
}


def _reflect_index(n: int, radius: int, device: torch.device) -> Tensor:
    """Source indices of ``arange(-radius, n + radius)`` under repeated mirroring (no edge repeat)."""
    idx = torch.arange(-radius, n + radius, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    m = idx.remainder(period)
    return torch.where(m < n, m, period - m)


def _pad_reflect(x: Tensor, pad_h: int, pad_w: int) -> Tensor:
    """Reflect-pad the last two dims by any amount (``F.pad`` only allows pad < size)."""
    H, W = x.shape[-2:]
    if pad_h < H and pad_w < W:
        if pad_h == 0 and pad_w == 0:
            return x
        return F.pad(x, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
    out = x
    if pad_h:
        out = out.index_select(-2, _reflect_index(H, pad_h, x.device))
    if pad_w:
        out = out.index_select(-1, _reflect_index(W, pad_w, x.device))
    return out


def _gaussian_weights(sigma: Tensor, radius: int, dtype: torch.dtype) -> Tensor:
    """(B, 2r+1) normalised sampled Gaussians; sigma 0 gives a delta."""
    k = torch.arange(-radius, radius + 1, device=sigma.device, dtype=dtype)
    s = sigma.to(dtype)[:, None]
    positive = s > 0
    w = torch.exp(-0.5 * (k / torch.where(positive, s, torch.ones_like(s))) ** 2)
    w = torch.where(positive, w, (k == 0).to(dtype).expand_as(w))
    return w / w.sum(dim=1, keepdim=True)


def _separable_filter(xw: Tensor, weights: Tensor) -> Tensor:
    """Apply per-image 1-D kernels (B, K) along H then W: one grouped conv each, reflect padding."""
    B, C, H, W = xw.shape
    K = weights.shape[1]
    r = K // 2
    if r == 0:
        return xw * weights[:, :1, None, None]
    wt = weights.to(xw.dtype).repeat_interleave(C, dim=0)  # (B*C, K): one filter per channel
    y = _pad_reflect(xw, r, 0).reshape(1, B * C, H + 2 * r, W)
    y = F.conv2d(y, wt.view(B * C, 1, K, 1), groups=B * C).view(B, C, H, W)
    y = _pad_reflect(y, 0, r).reshape(1, B * C, H, W + 2 * r)
    return F.conv2d(y, wt.view(B * C, 1, 1, K), groups=B * C).view(B, C, H, W)


def _gaussian_filter(xw: Tensor, sigma: Tensor, radius: int) -> Tensor:
    """Float in, float out (no clamping): shared with ``geometry.elastic`` for noise fields."""
    return _separable_filter(xw, _gaussian_weights(sigma, radius, xw.dtype))


def _check_nonnegative(t: Tensor, value: object, name: str) -> None:
    if t.device.type == "cpu" and t.numel() and bool((t < 0).any() or not torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")


def gaussian_blur(x: Tensor, sigma: Tensor | float, kernel_size: int | None = None) -> Tensor:
    """Blur each image with its own Gaussian ``sigma`` (pixels, (B,) or scalar; 0 = identity).

    ``kernel_size`` (odd int) is shared by the batch; by default ``2 * ceil(3 * max(sigma)) + 1``.
    """
    check_image(x)
    B = x.shape[0]
    xw = to_work(x)
    sig = per_image(sigma, x, "sigma", dtype=xw.dtype)
    _check_nonnegative(sig, sigma, "sigma")
    if kernel_size is None:
        radius = math.ceil(3.0 * float(sig.max())) if B else 0
    elif isinstance(kernel_size, bool) or not isinstance(kernel_size, int):
        raise TypeError(f"kernel_size must be an odd int or None, got {kernel_size!r}")
    elif kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd int >= 1, got {kernel_size}")
    else:
        radius = kernel_size // 2
    if B == 0:
        return x.clone()
    return finish(_gaussian_filter(xw, sig, radius), x)


def gaussian_noise(x: Tensor, noise: Tensor, sigma: Tensor | float) -> Tensor:
    """``clip(x + sigma[b] * range * noise)`` with caller-drawn standard-normal ``noise``.

    ``noise`` has shape (B, C, H, W) (or broadcasts to it with the same B, e.g. (B, 1, H, W)
    for grey noise); ``sigma`` is a fraction of the full range, per image or scalar.
    """
    check_image(x)
    if not isinstance(noise, Tensor) or not noise.dtype.is_floating_point:
        raise TypeError(f"noise must be a floating torch.Tensor, got {type(noise).__name__}")
    if noise.ndim != 4 or noise.shape[0] != x.shape[0]:
        raise ValueError(f"noise must have shape (B, C, H, W) = {tuple(x.shape)}, got {tuple(noise.shape)}")
    try:
        torch.broadcast_shapes(noise.shape, x.shape)
    except RuntimeError as err:
        raise ValueError(f"noise shape {tuple(noise.shape)} does not broadcast to {tuple(x.shape)}") from err
    xw = to_work(x)
    sig = per_image(sigma, x, "sigma", dtype=xw.dtype)
    _check_nonnegative(sig, sigma, "sigma")
    if x.shape[0] == 0:
        return x.clone()
    scale = (sig * bound_of(x)).view(-1, 1, 1, 1)
    return finish(xw + scale * noise.to(device=x.device, dtype=xw.dtype), x)


def _pillow_filter(x: Tensor, name: str) -> Tensor:
    check_image(x)
    rows, divisor = _PILLOW_KERNELS[name]
    K = len(rows)
    r = K // 2
    B, C, H, W = x.shape
    if B == 0 or H <= 2 * r or W <= 2 * r:
        return x.clone()
    xw = to_work(x)
    kernel = torch.tensor(rows, dtype=xw.dtype, device=x.device) / divisor
    inner = F.conv2d(xw.reshape(B * C, 1, H, W), kernel.view(1, 1, K, K))
    out = xw.clone()
    out[:, :, r : H - r, r : W - r] = inner.view(B, C, H - 2 * r, W - 2 * r)
    return finish(out, x)


def box_blur(x: Tensor) -> Tensor:
    """Pillow ``ImageFilter.BLUR``: 5x5 ring kernel / 16, outer 2-pixel border left as is."""
    return _pillow_filter(x, "blur")


def smooth(x: Tensor) -> Tensor:
    """Pillow ``ImageFilter.SMOOTH``: 3x3 kernel (centre 5) / 13, outer pixel border left as is."""
    return _pillow_filter(x, "smooth")
