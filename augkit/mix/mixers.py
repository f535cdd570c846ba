"""Batch mixers: sample per-image parameters from a generator, apply them, replay them.

Every mixer is called as ``mixer(x, y, generator, num_classes, smoothing)`` and returns
``(images, targets, params)``; ``mixer.apply(x, t, params)`` replays a draw bit for bit.
``y`` is hard labels ``(B,)`` (converted once with label smoothing, Szegedy et al., CVPR 2016,
"Rethinking the Inception Architecture": ``(1 - eps) onehot + eps / K``) or soft targets
``(B, K)``.  Targets are mixed with the same weights as the pixels, so rows sum to 1.

* :class:`Mixup` -- Zhang et al., ICLR 2018.  ``lam ~ Beta(alpha, alpha)``; modes as in timm:
  ``batch`` one ``lam`` per batch (the paper's reference code), ``elem`` one per image,
  ``pair`` one per pair ``(i, B-1-i)``, which then mix with each other (the middle image of an
  odd batch is its own partner).  ``batch``/``elem`` partners: a random permutation.  uint8
  input: ``lam`` is quantised to 1/256 (the kernel's exact fixed point) so targets match.
* :class:`CutMix` -- Yun et al., ICCV 2019, reference code (clovaai/CutMix-PyTorch):
  ``cut = trunc(side * sqrt(1 - lam))``, centre uniform over the pixels, box
  ``[c - cut // 2, c + cut // 2)`` clipped at the borders, ``lam`` recomputed as
  ``1 - pasted area / image area``.  Per-image boxes and ``lam``; the reference flips one coin
  per batch with ``cutmix_prob`` (0.5 in its CIFAR command); we flip it per image (``p``).
* :class:`RICAP` -- Takahashi et al., ACML 2018 / TCSVT 2019, reference code: boundary
  ``(w, h) = round(side * Beta(beta, beta))``, beta = 0.3, four crops of sizes ``(w, h)``,
  ``(W - w, h)``, ``(w, H - h)``, ``(W - w, H - h)`` at uniform positions of four random
  permutations, labels weighted by tile area.  The reference draws one boundary per batch;
  we draw boundary, crops and sources per image.
* :class:`Mosaic` -- Bochkovskiy et al., YOLOv4, 2020 (ultralytics ``load_mosaic``): the
  image itself (top-left) and three random partners around a centre ``(cy, cx)``; each tile
  shows the corner of its source image that touches the centre (top-left tile = the source's
  bottom-right corner, ...), at full scale.  Choice: centre uniform in ``[cmin, 1 - cmin]``
  of each side, ``cmin = 0.25`` (ultralytics' centre in [0.5 s, 1.5 s] of a 2 s canvas
  cropped back to s puts it anywhere in [0, s]; we keep every tile >= 1/4 side by default).
  No random affine afterwards (classification).  Labels weighted by tile area.
* :class:`BCMix` -- Tokozume et al., CVPR 2018: ``r ~ U(0, 1)`` per image, partners of a
  *different class* (the paper draws pairs until the classes differ: here 8 random draws per
  image, the first of another class wins, else the permutation partner), BC+ mixing
  (``plus=True``) or the plain ratio mix; targets ``r t1 + (1 - r) t2``.
* :class:`SamplePairingMix` -- Inoue 2018: average with a random batch partner (weight 0.5),
  first image's label kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..ops import mix as K
from ..sample import beta, rand, randint
from .common import check_alpha, check_pair_batch, check_range, mix_targets, partners

__all__ = ["BCMix", "CutMix", "MixParams", "Mixup", "Mosaic", "RICAP", "SamplePairingMix", "to_targets"]

MODES = ("batch", "pair", "elem")


def to_targets(y: Tensor, num_classes: int | None, smoothing: float = 0.0) -> Tensor:
    """Hard labels -> smoothed one-hot rows; soft targets pass through (as float)."""
    number = isinstance(smoothing, (int, float)) and not isinstance(smoothing, bool)
    if not number or not 0 <= smoothing < 1:  # NaN fails the comparison
        raise ValueError(f"smoothing must be a number in [0, 1), got {smoothing!r}")
    if y.ndim == 2:
        return y.float()
    if num_classes is None:
        raise ValueError("num_classes is needed to turn hard labels into targets")
    t = torch.nn.functional.one_hot(y.long(), num_classes).float()
    return t * (1.0 - smoothing) + smoothing / num_classes if smoothing else t


@dataclass(frozen=True)
class MixParams:
    """Per-image draws.  ``weights`` (B, S) weigh the targets of the sources ``index`` (B, S)."""

    index: Tensor  # (B, S) source image of each part; column 0 is the image itself for 2-part mixes
    weights: Tensor  # (B, S) target weight of each source, rows sum to 1
    boxes: Tensor | None = None  # CutMix (B, 4) top, left, h, w
    split: Tensor | None = None  # RICAP/Mosaic (B, 2)
    offset: Tensor | None = None  # RICAP/Mosaic (B, 4, 2)

    @property
    def lam(self) -> Tensor:
        return self.weights[:, 0]


def _pair_params(b: int, lam: Tensor, index: Tensor) -> MixParams:
    me = torch.arange(b, device=lam.device)
    return MixParams(torch.stack([me, index.to(lam.device)], 1), torch.stack([lam, 1 - lam], 1))


def _mix_weights(t: Tensor, p: MixParams) -> Tensor:
    """Targets mixed with the pixel weights: the pairwise ``mix_targets`` for two sources."""
    index, weights = p.index.to(t.device), p.weights.to(t.device, t.dtype)
    if index.shape[1] == 2:
        return mix_targets(t, index[:, 1], weights[:, 0])
    return (weights[:, :, None] * t[index]).sum(1)


class _Mixer:
    """Shared call protocol: validate, sample, apply."""

    def sample(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixParams:  # pragma: no cover
        raise NotImplementedError

    def mix_images(self, x: Tensor, p: MixParams) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def apply(self, x: Tensor, t: Tensor, params: MixParams) -> tuple[Tensor, Tensor]:
        return self.mix_images(x, params), _mix_weights(t, params)

    def __call__(
        self,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator,
        num_classes: int | None = None,
        smoothing: float = 0.0,
    ) -> tuple[Tensor, Tensor, MixParams]:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        check_pair_batch(x, y, num_classes)
        t = to_targets(y, num_classes, smoothing)
        params = self.sample(x, y, generator)
        xm, tm = self.apply(x, t, params)
        return xm, tm, params


class Mixup(_Mixer):
    def __init__(self, alpha: float = 1.0, mode: str = "batch") -> None:
        self.alpha = check_alpha(alpha)
        if not isinstance(mode, str) or mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

    def sample(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixParams:
        b, dev = x.shape[0], x.device
        n = {"batch": 1, "elem": b, "pair": (b + 1) // 2}[self.mode]
        lam = beta((n,), self.alpha, self.alpha, generator, dev)
        if self.mode == "batch":
            lam, index = lam.expand(b).clone(), partners(b, generator, dev)
        elif self.mode == "elem":
            index = partners(b, generator, dev)
        else:  # timm's pair mode: image i and B-1-i share lam and mix with each other
            lam, index = torch.cat([lam, lam[: b // 2].flip(0)]), torch.arange(b - 1, -1, -1, device=dev)
        if x.dtype == torch.uint8:
            lam = K.quantize_lambda(lam)
        return _pair_params(b, lam, index)

    def mix_images(self, x: Tensor, p: MixParams) -> Tensor:
        return K.mix_blend(x, p.index[:, 1], p.lam)


class CutMix(_Mixer):
    def __init__(self, alpha: float = 1.0, p: float = 1.0) -> None:
        self.alpha = check_alpha(alpha)
        self.p = check_range(p, "p", 0.0, 1.0)

    def sample(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixParams:
        b, _, h, w = x.shape
        dev = x.device
        lam = beta((b,), self.alpha, self.alpha, generator, dev)
        on = rand((b,), generator, dev) < self.p
        cy, cx = randint(h, (b,), generator, dev), randint(w, (b,), generator, dev)
        index = partners(b, generator, dev)
        rat = torch.sqrt(1.0 - lam).masked_fill(~on, 0.0)
        ch, cw = (h * rat).long(), (w * rat).long()  # trunc, as np.int in the reference
        y1, y2 = (cy - ch // 2).clamp(0, h), (cy + ch // 2).clamp(0, h)
        x1, x2 = (cx - cw // 2).clamp(0, w), (cx + cw // 2).clamp(0, w)
        boxes = torch.stack([y1, x1, y2 - y1, x2 - x1], 1)
        lam = 1.0 - (boxes[:, 2] * boxes[:, 3]).float() / (h * w)  # the true pasted fraction
        pp = _pair_params(b, lam, index)
        return MixParams(pp.index, pp.weights, boxes=boxes)

    def mix_images(self, x: Tensor, p: MixParams) -> Tensor:
        return K.paste_boxes(x, p.index[:, 1], p.boxes)


def _quad_weights(split: Tensor, h: int, w: int) -> Tensor:
    sh, sw = split[:, 0].float(), split[:, 1].float()
    a = torch.stack([sh * sw, sh * (w - sw), (h - sh) * sw, (h - sh) * (w - sw)], 1)
    return a / (h * w)


class _QuadMixer(_Mixer):
    def mix_images(self, x: Tensor, p: MixParams) -> Tensor:
        return K.quad_tile(x, p.split, p.index, p.offset)


class RICAP(_QuadMixer):
    def __init__(self, beta_: float = 0.3) -> None:
        self.beta = check_alpha(beta_, "beta")

    def sample(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixParams:
        b, _, h, w = x.shape
        dev = x.device
        bw = torch.round(w * beta((b,), self.beta, self.beta, generator, dev)).long()
        bh = torch.round(h * beta((b,), self.beta, self.beta, generator, dev)).long()
        sizes_w = torch.stack([bw, w - bw, bw, w - bw], 1)
        sizes_h = torch.stack([bh, bh, h - bh, h - bh], 1)
        # crop origin uniform over the integers 0 .. side - size, as the reference code draws it
        oy = (rand((b, 4), generator, dev) * (h - sizes_h + 1)).long().clamp(max=h - 1)
        ox = (rand((b, 4), generator, dev) * (w - sizes_w + 1)).long().clamp(max=w - 1)
        index = torch.stack([partners(b, generator, dev) for _ in range(4)], 1)
        place_y = torch.stack([torch.zeros_like(bh), torch.zeros_like(bh), bh, bh], 1)
        place_x = torch.stack([torch.zeros_like(bw), bw, torch.zeros_like(bw), bw], 1)
        offset = torch.stack([oy - place_y, ox - place_x], 2)
        split = torch.stack([bh, bw], 1)
        return MixParams(index, _quad_weights(split, h, w), split=split, offset=offset)


class Mosaic(_QuadMixer):
    def __init__(self, cmin: float = 0.25) -> None:
        self.cmin = check_range(cmin, "cmin", 0.0, 0.5)

    def sample(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixParams:
        b, _, h, w = x.shape
        dev = x.device
        u = self.cmin + (1 - 2 * self.cmin) * rand((b, 2), generator, dev)
        cy = torch.round(u[:, 0] * h).long().clamp(0, h)
        cx = torch.round(u[:, 1] * w).long().clamp(0, w)
        me = torch.arange(b, device=dev)
        index = torch.stack([me] + [partners(b, generator, dev) for _ in range(3)], 1)
        # tile q shows the corner of its source touching the centre: source = output + offset
        oy = torch.stack([h - cy, h - cy, -cy, -cy], 1)
        ox = torch.stack([w - cx, -cx, w - cx, -cx], 1)
        split = torch.stack([cy, cx], 1)
        return MixParams(index, _quad_weights(split, h, w), split=split, offset=torch.stack([oy, ox], 2))


class BCMix(_Mixer):
    def __init__(self, plus: bool = True, tries: int = 8) -> None:
        self.plus, self.tries = bool(plus), int(tries)

    def sample(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixParams:
        b, dev = x.shape[0], x.device
        r = rand((b,), generator, dev)
        fallback = partners(b, generator, dev)
        cand = randint(b, (b, self.tries), generator, dev)
        lab = y.argmax(1) if y.ndim == 2 else y.to(dev)
        ok = lab[cand] != lab[:, None]
        first = ok.float().argmax(1)
        index = torch.where(ok.any(1), cand.gather(1, first[:, None])[:, 0], fallback)
        return _pair_params(b, r, index)

    def mix_images(self, x: Tensor, p: MixParams) -> Tensor:
        if self.plus:
            return K.bc_plus(x, p.index[:, 1], p.lam)
        xf = x.float() / 255.0 if x.dtype == torch.uint8 else x
        return K.mix_blend(xf, p.index[:, 1], p.lam)


class SamplePairingMix(_Mixer):
    def __init__(self, weight: float = 0.5, p: float = 1.0) -> None:
        self.weight, self.p = check_range(weight, "weight", 0.0, 1.0), check_range(p, "p", 0.0, 1.0)

    def sample(self, x: Tensor, y: Tensor, generator: torch.Generator) -> MixParams:
        b, dev = x.shape[0], x.device
        on = rand((b,), generator, dev) < self.p
        w = torch.where(on, 1.0 - self.weight, 1.0)
        index = partners(b, generator, dev)
        if x.dtype == torch.uint8:
            w = K.quantize_lambda(w)
        me = torch.arange(b, device=dev)
        # pixels mix with weight w; the label is the first image's (target weights (1, 0))
        return MixParams(torch.stack([me, index], 1), torch.stack([w, 1 - w], 1))

    def mix_images(self, x: Tensor, p: MixParams) -> Tensor:
        return K.mix_blend(x, p.index[:, 1], p.lam)

    def apply(self, x: Tensor, t: Tensor, params: MixParams) -> tuple[Tensor, Tensor]:
        return self.mix_images(x, params), t.clone()
