"""IF-DA's differentiable transformation models (Lee, Park, Pham & Yoo, CVPR 2020, §4).

* Encoder E (§3.1, Fig. 1): a conv net ``x -> tau`` (``tau_dim`` = 128 by default; the paper's
  ablation also uses 32, 64 and 256).  Dropout with p = 0.5 is applied to ``tau`` while learning
  E and G and kept when sampling augmentations (§4.3, Fig. 3); the dropout mask is drawn from an
  explicit ``torch.Generator`` (never the global RNG).
* Spatial model G_s (§4.1, Eq. 20): a transposed-conv generator ``tau -> (s_w, s_b)`` with 4 + 2
  channels, 4x4 average pooling for smoothness, flow field ``s = s_w (i, j) + s_b + (i, j)``, and a
  bilinear warp (the foundation's :func:`augkit.ops.geometry.warp_flow`, which is differentiable
  in both the image and the flow because it samples with ``grid_sample``).
* Appearance model G_a (§4.2): the same generator shape with ``C*C + C`` output channels
  (3x3 + 3 for RGB): per-pixel 1x1 filter ``c_w`` and bias ``c_b``, ``x~ = x + (c_w x + c_b)``.
  As in the paper it is not used for grey images (``mode="combined"`` falls back to spatial only).
* ``combine="parallel"`` (the paper's best, §5.2): one shared E and one shared G output all of
  ``(s_w, s_b, c_w, c_b)`` from a single tau (§4.3 "sharing conv (E) and convtr (G) blocks").
  ``combine="series"``: separate (E_s, G_s) then (E_a, G_a), E_a reading the spatially transformed
  image.  In both, the appearance filter is applied to the warped image, matching Fig. 4's rows
  (spatial output, spatially transformed image, appearance output, final image).

Choices the paper leaves open (its Supplementary-B is not available to us):

* Sizes: E = conv3x3(C->32) ReLU, conv4x4/2(32->64) ReLU, conv4x4/2(64->128) ReLU, global average
  pool, linear(128->tau_dim) (a 4-layer CNN, as for the paper's MNIST setting); G = linear(tau ->
  2w x ceil(H/4) x ceil(W/4)) ReLU, convT4x4/2(2w->w) ReLU, convT4x4/2(w->w/2) ReLU, convT3x3(w/2 ->
  outputs), cropped to H x W (a 4-layer transposed-conv net; ``width`` w = 64).  No batch norm,
  so one image's augmentation does not depend on the rest of its batch.
* Coordinates: Eq. 20 is applied in normalised coordinates ``(u, v)`` in [-1, 1] centred on the
  image (x = column first), so ``s_w`` is the per-pixel deviation of a 2x2 linear map about the
  centre (rotation/scale/shear) and ``s_b`` a translation in half-image units; the flow in pixels
  is ``(s - (u, v)) * (W/2, H/2)``.  Pixel-index coordinates would make ``s_w`` scale with the
  image size.
* The 4x4 average pooling has stride 1 with replicate padding (1 before, 2 after) so the output
  keeps H x W; it is applied to every generator output channel (the paper pools s and, "in the same
  way", c_w and c_b).
* Warp fill is 0 (black, as the pad-crop baseline's fill); the final image is clamped to [0, 1].
* Initialisation: Kaiming-normal weights from the caller's generator, zero biases, the last layer
  of every generator scaled by ``0.02`` so an untrained G is a small perturbation of the identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import sample
from ..ops.geometry import warp_flow

__all__ = ["AugNet", "Encoder", "TauGenerator", "apply_appearance", "dropout_tau", "flow_from_spatial"]

MODES = ("combined", "spatial", "appearance")
COMBINES = ("parallel", "series")
_SPATIAL = 6  # s_w (4) + s_b (2)


def dropout_tau(tau: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Inverted dropout on ``tau`` with a mask drawn from ``generator`` (no global RNG)."""
    if p <= 0:
        return tau
    keep = sample.rand(tuple(tau.shape), generator, tau.device) >= p
    return tau * keep.to(tau.dtype) / (1.0 - p)


def _init(module: nn.Module, generator: torch.Generator, last: nn.Module | None = None) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            with torch.no_grad():
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=generator)
                if m is last:
                    m.weight.mul_(0.02)
                if m.bias is not None:
                    m.bias.zero_()


def _build(factory, generator: torch.Generator, last_attr: str | None = None) -> nn.Module:
    """Construct on ``meta`` (no global-RNG initialisers), materialise, initialise from ``generator``."""
    with torch.device("meta"):
        net = factory()
    net = net.to_empty(device=generator.device)
    _init(net, generator, getattr(net, last_attr) if last_attr else None)
    return net


class Encoder(nn.Module):
    """E: image in [0, 1] -> tau (B, tau_dim)."""

    def __init__(self, channels: int, tau_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(64, 128, 4, 2, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(128, tau_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.net(x - 0.5))


class TauGenerator(nn.Module):
    """G: tau -> (B, out_channels, H, W), smoothed by a 4x4 average pool."""

    def __init__(self, tau_dim: int, out_channels: int, size: tuple[int, int], width: int = 64) -> None:
        super().__init__()
        self.size = size
        self.h0, self.w0 = math.ceil(size[0] / 4), math.ceil(size[1] / 4)
        self.width = width
        self.fc = nn.Linear(tau_dim, 2 * width * self.h0 * self.w0)
        self.up = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, width // 2, 4, 2, 1),
            nn.ReLU(),
        )
        self.last = nn.ConvTranspose2d(width // 2, out_channels, 3, 1, 1)

    def forward(self, tau: Tensor) -> Tensor:
        h = self.fc(tau).view(-1, 2 * self.width, self.h0, self.w0)
        out = self.last(self.up(h))[:, :, : self.size[0], : self.size[1]]
        return F.avg_pool2d(F.pad(out, (1, 2, 1, 2), mode="replicate"), 4, stride=1)


def flow_from_spatial(s: Tensor) -> Tensor:
    """Eq. 20 in normalised coordinates: (B, 6, H, W) ``(s_w, s_b)`` -> flow in pixels (B, 2, H, W).

    ``s(p) = s_w(p) p + s_b(p) + p`` with ``p = (u, v)`` the centred, normalised coordinates of the
    output pixel; the output samples the input at ``s(p)``, so the flow is ``s(p) - p`` scaled by
    half the image size.
    """
    _, _, H, W = s.shape
    u = ((torch.arange(W, device=s.device, dtype=s.dtype) + 0.5) * (2.0 / W) - 1.0).view(1, W)
    v = ((torch.arange(H, device=s.device, dtype=s.dtype) + 0.5) * (2.0 / H) - 1.0).view(H, 1)
    du = s[:, 0] * u + s[:, 1] * v + s[:, 4]
    dv = s[:, 2] * u + s[:, 3] * v + s[:, 5]
    return torch.stack((du * (W / 2.0), dv * (H / 2.0)), dim=1)


def apply_appearance(x: Tensor, c: Tensor) -> Tensor:
    """``delta x`` of §4.2: per-pixel 1x1 filter ``c_w`` (C*C channels) and bias ``c_b`` (C)."""
    B, C, H, W = x.shape
    cw = c[:, : C * C].view(B, C, C, H, W)
    cb = c[:, C * C : C * C + C]
    return torch.einsum("boihw,bihw->bohw", cw, x) + cb


class AugNet(nn.Module):
    """E and G together: ``forward(x, generator)`` returns the augmented image x~ in [0, 1]."""

    def __init__(
        self,
        channels: int,
        size: tuple[int, int],
        *,
        generator: torch.Generator,
        tau_dim: int = 128,
        mode: str = "combined",
        combine: str = "parallel",
        width: int = 64,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}, got {combine!r}")
        if not isinstance(tau_dim, int) or tau_dim < 1:
            raise ValueError(f"tau_dim must be a positive int, got {tau_dim!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        if channels == 1 and mode == "combined":
            mode = "spatial"  # §4.2: the appearance model is not used for grey images
        self.channels, self.size, self.tau_dim, self.p = channels, tuple(size), tau_dim, dropout
        self.mode, self.combine = mode, combine
        self.n_app = channels * channels + channels if mode != "spatial" else 0
        self.n_sp = _SPATIAL if mode != "appearance" else 0
        pair = combine == "series" and self.n_sp and self.n_app
        outs = [self.n_sp, self.n_app] if pair else [self.n_sp + self.n_app]
        self.encoders = nn.ModuleList([_build(lambda: Encoder(channels, tau_dim), generator) for _ in outs])
        self.generators = nn.ModuleList(
            [_build(lambda o=o: TauGenerator(tau_dim, o, self.size, width), generator, "last") for o in outs]
        )

    @property
    def series(self) -> bool:
        return len(self.encoders) == 2

    def encode(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """tau for ``x`` (series: ``cat(tau_s, tau_a)`` with tau_a read from the warped image)."""
        return self.components(x, generator=generator)["tau"]

    def components(
        self, x: Tensor, tau: Tensor | None = None, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Every intermediate of Fig. 4: tau, flow, spatially transformed image, delta x, final.

        ``tau`` given: decode it (dropout is not applied to a given tau).  Otherwise tau = E(x),
        with dropout when ``generator`` is given (training and sampling) and none without.
        """
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x
        B, C, H, W = x.shape
        if (C, H, W) != (self.channels, *self.size):
            raise ValueError(
                f"x must have shape (B, {self.channels}, {self.size[0]}, {self.size[1]}), "
                f"got {tuple(x.shape)}"
            )
        taus = list(tau.split(self.tau_dim, dim=1)) if tau is not None else []
        if tau is not None and len(taus) != len(self.encoders):
            raise ValueError(f"tau must have {self.tau_dim * len(self.encoders)} columns, got {tau.shape[1]}")

        def code(i: int, img: Tensor) -> Tensor:
            if tau is not None:
                return taus[i]
            t = self.encoders[i](img)
            return dropout_tau(t, self.p, generator) if generator is not None else t

        t0 = code(0, x)
        out0 = self.generators[0](t0)
        flow = torch.zeros(B, 2, H, W, device=x.device, dtype=x.dtype)
        xs = x
        if self.n_sp:
            flow = flow_from_spatial(out0[:, :_SPATIAL])
            xs = warp_flow(x, flow, "bilinear", fill=0.0)
        used, raw = [t0], [out0]
        delta = torch.zeros_like(x)
        if self.n_app:
            if self.series:
                t1 = code(1, xs)
                used.append(t1)
                c = self.generators[1](t1)
                raw.append(c)
            else:
                c = out0[:, self.n_sp :]
            delta = apply_appearance(xs, c)
        final = (xs + delta).clamp(0.0, 1.0)
        parts = {"tau": torch.cat(used, 1), "flow": flow, "spatial": xs, "delta": delta, "out": final}
        return {**parts, "raw": torch.cat(raw, 1)}

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.components(x, generator=generator)["out"]
