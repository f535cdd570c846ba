"""A fast feed-forward style network (AdaIN, Huang & Belongie, ICCV 2017) and style augmentation
(Jackson, Abarghouei, Bonner, Breckon & Obara, "Style Augmentation: Data Augmentation via Style
Randomization", CVPR Workshops 2019).

Network: a fixed encoder E of random filters (conv 3x3 C->32, ReLU, conv 3x3 32->64, ReLU; no
download, no pooling at these image sizes), AdaIN ``t = sigma_s * (E(c) - mu_c) / sigma_c + mu_s``
on E's last maps, and a trained decoder D (conv 3x3 64->32, ReLU, conv 3x3 32->C, sigmoid).  D is
trained as AdaIN's paper does: content loss ``||E(D(t)) - t||^2`` plus ``style_weight`` x the
style loss, the squared distances of per-channel means and standard deviations of every E layer
between ``D(t)`` and the style image.  The style images are crops of scikit-image pictures
disjoint from the OOD set (:data:`STYLE_IMAGES`).

Style augmentation: the *style embedding* of an image is ``(mu, sigma)`` of E's last maps (2 x 64
numbers); a multivariate normal is fitted to the embeddings of the style crops; per augmented
image an embedding ``z ~ N(mu, Sigma)`` is drawn and interpolated with the image's own,
``alpha z + (1 - alpha) z_own`` (Jackson et al.'s Eq. 2), and the image is re-rendered through
D with those statistics.  Departures: Jackson et al. use Ghiasi et al.'s style-prediction and
transformer networks with a pre-trained Inception encoder, fitted to Painter by Numbers
embeddings; here AdaIN's statistics are the embedding and everything is trained locally
(minutes on a CPU).  ``alpha = 0`` gives D(E(x)), the decoder's reconstruction (not exactly x).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..sample import rand

__all__ = ["STYLE_IMAGES", "StyleNet", "adain", "style_crops", "train_style_net"]

STYLE_IMAGES = (
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "cell",
    "colorwheel",
)
_EPS = 1e-5


def _conv(cin: int, cout: int, g: torch.Generator) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, padding=1, device="meta")
    conv.to_empty(device="cpu")
    with torch.no_grad():
        conv.weight.normal_(0, (2.0 / (cin * 9)) ** 0.5, generator=g)
        conv.bias.zero_()
    return conv


def _stats(f: Tensor) -> tuple[Tensor, Tensor]:
    return f.mean(dim=(2, 3)), f.var(dim=(2, 3), unbiased=False).add(_EPS).sqrt()


def adain(content: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Content maps re-normalised to per-(image, channel) ``mean`` / ``std`` of shape (B, C)."""
    mu, sd = _stats(content)
    return (content - mu[..., None, None]) / sd[..., None, None] * std[..., None, None] + mean[
        ..., None, None
    ]


class StyleNet(nn.Module):
    """Fixed random encoder, trained decoder; ``embed``, ``render`` and ``stylize``."""

    def __init__(self, channels: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.enc = nn.ModuleList([_conv(channels, 32, g), _conv(32, 64, g)])
        self.dec = nn.Sequential(_conv(64, 32, g), nn.ReLU(), _conv(32, channels, g), nn.Sigmoid())
        for p in self.enc.parameters():
            p.requires_grad_(False)

    def encode(self, x: Tensor) -> list[Tensor]:
        feats, h = [], x - 0.5
        for conv in self.enc:
            h = F.relu(conv(h))
            feats.append(h)
        return feats

    def embed(self, x: Tensor) -> Tensor:
        """(B, 128) style embeddings: mean and std of the encoder's last maps."""
        return torch.cat(_stats(self.encode(x)[-1]), dim=1)

    def render(self, x: Tensor, z: Tensor) -> Tensor:
        """``x`` (float in [0, 1]) re-rendered with embedding ``z`` (B, 128)."""
        c = z.shape[1] // 2
        return self.dec(adain(self.encode(x)[-1], z[:, :c], z[:, c:].clamp_min(_EPS)))

    def stylize(self, content: Tensor, style: Tensor) -> Tensor:
        return self.render(content, self.embed(style))


def style_crops(n: int, shape: tuple[int, int, int], seed: int = 0) -> Tensor:
    """``n`` deterministic random crops (uint8, ``shape`` = (C, H, W)) of :data:`STYLE_IMAGES`."""
    import skimage.data
    from PIL import Image

    c, h, w = shape
    g = torch.Generator().manual_seed(seed)

    def draw(lo: int, hi: int) -> int:
        return int(torch.randint(lo, hi, (1,), generator=g))

    ims = []
    for name in STYLE_IMAGES:
        a = np.asarray(getattr(skimage.data, name)())
        a = a[..., :3] if a.ndim == 3 else np.stack([a] * 3, -1)
        ims.append(a)
    out = []
    for k in range(n):
        a = ims[k % len(ims)]
        side = draw(min(a.shape[:2]) // 8, min(a.shape[:2]) // 2)
        y, x = draw(0, a.shape[0] - side), draw(0, a.shape[1] - side)
        im = Image.fromarray(a[y : y + side, x : x + side]).resize((w, h), Image.BILINEAR)
        im = im.convert("L") if c == 1 else im
        arr = np.asarray(im)
        out.append(arr[None] if c == 1 else arr.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(out).copy())


def train_style_net(
    content: Tensor,
    styles: Tensor,
    iterations: int,
    generator: torch.Generator,
    net_seed: int = 0,
    batch: int = 32,
    lr: float = 1e-3,
    style_weight: float = 10.0,
) -> tuple[StyleNet, list[float]]:
    """Train the decoder (uint8 or float images); returns the net and the loss per iteration."""
    net = StyleNet(content.shape[1], net_seed)
    opt = torch.optim.Adam(net.dec.parameters(), lr=lr)
    cf, sf = (t.float() / 255 if t.dtype == torch.uint8 else t.float() for t in (content, styles))
    history = []
    for _ in range(iterations):
        ci = (rand((batch,), generator, "cpu") * cf.shape[0]).long().clamp(max=cf.shape[0] - 1)
        si = (rand((batch,), generator, "cpu") * sf.shape[0]).long().clamp(max=sf.shape[0] - 1)
        c, s = cf[ci], sf[si]
        with torch.no_grad():
            s_feats = net.encode(s)
            t = adain(net.encode(c)[-1], *_stats(s_feats[-1]))
        out_feats = net.encode(net.dec(t))
        loss = F.mse_loss(out_feats[-1], t)
        for fo, fs in zip(out_feats, s_feats, strict=True):
            (mo, so), (ms, ss) = _stats(fo), _stats(fs)
            loss = loss + style_weight * (F.mse_loss(mo, ms) + F.mse_loss(so, ss))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(loss.item())
    return net, history
