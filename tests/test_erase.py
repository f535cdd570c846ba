"""Tests for augkit.ops.erase and augkit.ops.pairing.

References are written here as plain per-image Python loops with numpy slicing, following
the papers' reference code where it exists (DeVries & Taylor's Cutout, Hide-and-Seek's
patch loop, GridMask's band loop and PIL rotation), and run on real photos from skimage.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from PIL import Image

from augkit.ops.erase import cutout, erase, gridmask, hide_and_seek
from augkit.ops.pairing import blend, sample_pairing

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# ----------------------------------------------------------------------------- data
@functools.cache
def _photo_base() -> torch.Tensor:
    """astronaut, chelsea, coffee resized once to 64 x 64, uint8 (3, 3, 64, 64)."""
    from skimage import data, transform

    out = []
    for im in (data.astronaut(), data.chelsea(), data.coffee()):
        small = transform.resize(im, (64, 64), anti_aliasing=True)
        out.append(np.round(small * 255).astype(np.uint8).transpose(2, 0, 1))
    return torch.from_numpy(np.stack(out))


def _photos(h: int, w: int) -> torch.Tensor:
    """The resized photos cropped to (h, w) (h, w <= 64): real content at any small size."""
    return _photo_base()[:, :, :h, :w].contiguous()


def _batch(b: int, h: int, w: int, seed: int, dtype=torch.uint8) -> torch.Tensor:
    """Real photos first, then random images, in the requested dtype."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8)
    p = _photos(h, w)
    k = min(b, p.shape[0])
    x[:k] = p[:k]
    return x if dtype == torch.uint8 else x.to(dtype) / 255


def _to_dtype(ref: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Cast a native-range numpy result like the kernels do (uint8: round half even, clip)."""
    if like.dtype == torch.uint8:
        return torch.from_numpy(np.clip(np.round(ref), 0, 255).astype(np.uint8))
    return torch.from_numpy(ref).to(like.dtype)


def _random_values(rng: np.random.RandomState, b: int, c: int, h: int, w: int, bound: float, mode: str):
    """Random Erasing value modes: constant scalar, per channel, per region, per pixel."""
    table = {
        "scalar": lambda: float(rng.uniform(0, bound)),
        "channel": lambda: torch.from_numpy(rng.uniform(0, bound, c)),
        "region": lambda: torch.from_numpy(rng.uniform(0, bound, (b, c, 1, 1))),
        "pixel": lambda: torch.from_numpy(rng.uniform(0, bound, (b, c, h, w))),
    }
    return table[mode]()


def _np_values(values, like: torch.Tensor) -> np.ndarray:
    """Values as the kernel sees them: in the image's working dtype, shaped to broadcast."""
    t = torch.as_tensor(values).to(torch.float32 if like.dtype == torch.uint8 else like.dtype)
    if t.ndim == 1:
        t = t.reshape(1, -1, 1, 1)
    return t.reshape((1,) * (4 - t.ndim) + tuple(t.shape)).numpy()


# ----------------------------------------------------------------------------- references
def _ref_box(img: np.ndarray, top: int, left: int, bh: int, bw: int, val: np.ndarray) -> np.ndarray:
    """Erase one (C, H, W) image: explicit clipping, then numpy slicing."""
    out = img.copy()
    _, h, w = img.shape
    y0, y1 = min(max(top, 0), h), min(max(top + bh, 0), h)
    x0, x1 = min(max(left, 0), w), min(max(left + bw, 0), w)
    if y1 > y0 and x1 > x0:
        out[:, y0:y1, x0:x1] = np.broadcast_to(val, img.shape)[:, y0:y1, x0:x1]
    return out


def _ref_erase(x: torch.Tensor, boxes: np.ndarray, values) -> torch.Tensor:
    arr = x.numpy().astype(np.float32 if x.dtype == torch.uint8 else x.numpy().dtype)
    val = _np_values(values, x)
    out = np.stack(
        [
            _ref_box(arr[i], *map(int, boxes[i]), val[i if val.shape[0] > 1 else 0])
            for i in range(arr.shape[0])
        ]
    )
    return _to_dtype(out, x)


def _ref_cutout_devries(img: np.ndarray, cy: int, cx: int, length: int, fill: np.ndarray) -> np.ndarray:
    """DeVries & Taylor's Cutout.__call__ (uoguelph-mlrg/Cutout), with fill instead of 0."""
    _, h, w = img.shape
    y1, y2 = np.clip(cy - length // 2, 0, h), np.clip(cy + length // 2, 0, h)
    x1, x2 = np.clip(cx - length // 2, 0, w), np.clip(cx + length // 2, 0, w)
    out = img.copy()
    out[:, y1:y2, x1:x2] = fill.reshape(-1, 1, 1)
    return out


def _ref_hide(img: np.ndarray, hide: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Evenly split grid with edges ceil(i * H / gh), patch by patch."""
    _, h, w = img.shape
    gh, gw = hide.shape
    ey = [-(-i * h // gh) for i in range(gh + 1)]
    ex = [-(-j * w // gw) for j in range(gw + 1)]
    out = img.copy()
    for i in range(gh):
        for j in range(gw):
            if hide[i, j]:
                out[:, ey[i] : ey[i + 1], ex[j] : ex[j + 1]] = fill.reshape(-1, 1, 1)
    return out


def _ref_hide_official(img: np.ndarray, hide: np.ndarray, s: int, fill: np.ndarray) -> np.ndarray:
    """kkanshul/Hide-and-Seek's loop over S x S patches (H, W multiples of S)."""
    out = img.copy()
    _, h, w = img.shape
    for a, y in enumerate(range(0, h, s)):
        for b, x in enumerate(range(0, w, s)):
            if hide[a, b]:
                out[:, y : min(h, y + s), x : min(w, x + s)] = fill.reshape(-1, 1, 1)
    return out


def _ref_grid_removed(h: int, w: int, d: int, ratio: float, sy: int, sx: int) -> np.ndarray:
    """dvlab-research/GridMask Grid.__call__ (mode=1) band loop; True = removed."""
    length = int(d * ratio + 0.5)
    mask = np.ones((h, w), np.float32)
    for i in range(-1, h // d + 1):
        s, t = d * i + sy, d * i + sy + length
        mask[max(min(s, h), 0) : max(min(t, h), 0), :] *= 0
    for i in range(-1, w // d + 1):
        s, t = d * i + sx, d * i + sx + length
        mask[:, max(min(s, w), 0) : max(min(t, w), 0)] *= 0
    return mask == 1  # mode=1 keeps 1 - mask: the squares left at 1 are removed


def _ref_grid_rotated(h: int, w: int, d: int, ratio: float, dy: int, dx: int, angle: float) -> np.ndarray:
    """GridMask's canvas + PIL rotate + centre crop, with a canvas large enough for any angle."""
    pad = max(h, w)
    hh, ww = h + 2 * pad, w + 2 * pad
    canvas = _ref_grid_removed(hh, ww, d, ratio, (dy + pad) % d, (dx + pad) % d)
    rot = np.asarray(Image.fromarray(canvas.astype(np.uint8)).rotate(angle))
    return rot[pad : pad + h, pad : pad + w] == 1


def _apply_mask(img: np.ndarray, removed: np.ndarray, fill: np.ndarray) -> np.ndarray:
    out = img.copy()
    out[:, removed] = np.broadcast_to(fill.reshape(-1, 1), (img.shape[0], int(removed.sum())))
    return out


# ----------------------------------------------------------------------------- erase
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
@pytest.mark.parametrize("mode", ["scalar", "channel", "region", "pixel"])
def test_erase_matches_reference(dtype, mode):
    seed = [torch.uint8, torch.float32, torch.float64].index(dtype) * 10 + [
        "scalar",
        "channel",
        "region",
        "pixel",
    ].index(mode)
    rng = np.random.RandomState(seed)
    bound = 255.0 if dtype == torch.uint8 else 1.0
    for trial in range(12):
        b, h, w = 5, int(rng.randint(6, 20)), int(rng.randint(6, 20))
        x = _batch(b, h, w, seed=trial, dtype=dtype)
        boxes = np.stack(
            [
                rng.randint(-h, h + 2, b),
                rng.randint(-w, w + 2, b),
                rng.randint(0, h + 3, b) * (rng.rand(b) > 0.2),  # some height 0
                rng.randint(0, w + 3, b),
            ],
            axis=1,
        )
        values = _random_values(rng, b, 3, h, w, bound, mode)
        before = x.clone()
        out = erase(x, torch.from_numpy(boxes), values)
        assert out.dtype == dtype and out.shape == x.shape
        assert torch.equal(x, before)
        assert torch.equal(out, _ref_erase(x, boxes, values))


def test_erase_untouched_and_clipped_boxes():
    x = _batch(4, 12, 16, seed=1)
    boxes = torch.tensor([[2, 3, 0, 5], [2, 3, 5, 0], [-20, -20, 5, 5], [12, 0, 4, 16]])
    assert torch.equal(erase(x, boxes, 0), x)  # empty, empty, above-left, below
    full = erase(x, torch.tensor([[-3, -3, 30, 30]] * 4), torch.tensor([10, 20, 30]))
    assert torch.equal(full, torch.tensor([10, 20, 30], dtype=torch.uint8).view(1, 3, 1, 1).expand_as(x))


# ----------------------------------------------------------------------------- cutout
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_cutout_matches_devries_for_even_sizes(dtype):
    rng = np.random.RandomState(3)
    for trial in range(10):
        b, h, w = 6, int(rng.randint(8, 24)), int(rng.randint(8, 24))
        x = _batch(b, h, w, seed=trial, dtype=dtype)
        centers = np.stack([rng.randint(0, h, b), rng.randint(0, w, b)], 1)
        sizes = 2 * rng.randint(0, 10, b)  # 0..18, includes 0
        fill = np.array([125.0, 122.0, 113.0]) / (1.0 if dtype == torch.uint8 else 255.0)
        out = cutout(x, torch.from_numpy(centers), torch.from_numpy(sizes), torch.from_numpy(fill))
        arr = x.numpy().astype(np.float64)
        ref = np.stack([_ref_cutout_devries(arr[i], *centers[i], sizes[i], fill) for i in range(b)])
        assert torch.equal(out, _to_dtype(ref, x))


def test_cutout_any_size_matches_box_reference_and_area():
    rng = np.random.RandomState(4)
    for trial in range(10):
        b, h, w = 6, 16, 20
        x = _batch(b, h, w, seed=10 + trial)
        centers = np.stack([rng.randint(-3, h + 3, b), rng.randint(-3, w + 3, b)], 1)
        sizes = rng.randint(0, 12, b)
        out = cutout(x, torch.from_numpy(centers), torch.from_numpy(sizes), 7)
        boxes = np.stack([centers[:, 0] - sizes // 2, centers[:, 1] - sizes // 2, sizes, sizes], 1)
        assert torch.equal(out, _ref_erase(x, boxes, 7))
    # a square fully inside covers exactly size * size pixels, odd sizes included
    x = torch.full((5, 1, 30, 30), 200, dtype=torch.uint8)
    sizes = torch.tensor([0, 1, 5, 7, 10])
    out = cutout(x, torch.tensor([[15, 15]] * 5), sizes, 0)
    assert (out == 0).flatten(1).sum(1).tolist() == (sizes**2).tolist()
    # scalar size, partly outside: corner at (0, 0) keeps the in-image quarter of an 8-square
    out = cutout(x[:1], torch.tensor([[0, 0]]), 8, 0)
    assert int((out == 0).sum()) == 16 and bool((out[0, 0, :4, :4] == 0).all())


# ----------------------------------------------------------------------------- hide-and-seek
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_hide_and_seek_matches_reference(dtype):
    rng = np.random.RandomState(5)
    for trial in range(12):
        b, h, w = 4, int(rng.randint(5, 30)), int(rng.randint(5, 30))
        gh, gw = int(rng.randint(1, 8)), int(rng.randint(1, 8))
        x = _batch(b, h, w, seed=trial, dtype=dtype)
        hide = rng.rand(b, gh, gw) < 0.5
        fill = rng.uniform(0, 255 if dtype == torch.uint8 else 1, 3)
        out = hide_and_seek(x, torch.from_numpy(hide), torch.from_numpy(fill))
        arr = x.numpy().astype(np.float64)
        ref = np.stack([_ref_hide(arr[i], hide[i], fill) for i in range(b)])
        assert torch.equal(out, _to_dtype(ref, x))


def test_hide_and_seek_official_patch_loop_and_uneven_rule():
    rng = np.random.RandomState(6)
    x = _batch(3, 32, 48, seed=2)
    hide = rng.rand(3, 4, 6) < 0.5  # S = 8
    fill = np.array([124.0, 116.0, 104.0])  # ImageNet mean x 255, the paper's fill
    out = hide_and_seek(x, torch.from_numpy(hide), torch.from_numpy(fill))
    arr = x.numpy().astype(np.float64)
    ref = np.stack([_ref_hide_official(arr[i], hide[i], 8, fill) for i in range(3)])
    assert torch.equal(out, _to_dtype(ref, x))
    # H = 10, gh = 4: edges ceil(i * 10 / 4) = 0, 3, 5, 8, 10 -> patch heights 3, 2, 3, 2
    x = torch.zeros(4, 1, 10, 1, dtype=torch.uint8)
    hide = torch.eye(4, dtype=torch.bool)[:, :, None]
    out = hide_and_seek(x, hide, 1)
    assert out[:, 0, :, 0].sum(1).tolist() == [3, 2, 3, 2]


def test_hide_and_seek_all_false_identity_all_true_fill():
    x = _batch(3, 17, 13, seed=7, dtype=torch.float32)
    assert torch.equal(hide_and_seek(x, torch.zeros(3, 3, 4, dtype=torch.bool), 0.5), x)
    out = hide_and_seek(x, torch.ones(3, 3, 4, dtype=torch.bool), torch.tensor([0.1, 0.2, 0.3]))
    assert torch.equal(out, torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1).expand_as(x))


# ----------------------------------------------------------------------------- gridmask
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_gridmask_matches_official_band_loop(dtype):
    rng = np.random.RandomState(8)
    for trial in range(12):
        b, h, w = 5, int(rng.randint(8, 40)), int(rng.randint(8, 40))
        x = _batch(b, h, w, seed=trial, dtype=dtype)
        d = rng.randint(2, 16, b)
        ratio = rng.choice([0.0, 0.3, 0.5, 0.6, 0.75, 1.0, rng.rand()], b)
        offs = np.stack([rng.randint(0, d), rng.randint(0, d)], 1)
        fill = rng.uniform(0, 255 if dtype == torch.uint8 else 1, 3)
        out = gridmask(
            x, torch.from_numpy(d), torch.from_numpy(ratio), torch.from_numpy(offs), torch.from_numpy(fill)
        )
        arr = x.numpy().astype(np.float64)
        ref = np.stack(
            [_apply_mask(arr[i], _ref_grid_removed(h, w, d[i], ratio[i], *offs[i]), fill) for i in range(b)]
        )
        assert torch.equal(out, _to_dtype(ref, x))


def test_gridmask_rotation_matches_pil_rotated_mask():
    rng = np.random.RandomState(9)
    h, w, b = 24, 32, 6
    x = torch.zeros(b, 1, h, w, dtype=torch.uint8)
    for _ in range(4):
        d = rng.randint(4, 14, b)
        ratio = rng.uniform(0.2, 0.8, b)
        offs = np.stack([rng.randint(0, d), rng.randint(0, d)], 1)
        angle = rng.uniform(-180, 180, b)
        out = gridmask(
            x, torch.from_numpy(d), torch.from_numpy(ratio), torch.from_numpy(offs), 1, angle=angle
        )
        for i in range(b):
            ref = _ref_grid_rotated(h, w, d[i], ratio[i], *offs[i], angle[i])
            agree = (out[i, 0].numpy() == 1) == ref
            assert agree.mean() > 0.995, (i, angle[i], agree.mean())  # ties at pixel-centre rounding


def test_gridmask_angle_zero_and_rot90():
    x = _batch(3, 20, 20, seed=3)
    args = (torch.tensor([5, 7, 9]), torch.tensor([0.4, 0.5, 0.7]), torch.tensor([[1, 2], [0, 6], [8, 3]]))
    plain = gridmask(x, *args, fill=0)
    assert torch.equal(gridmask(x, *args, fill=0, angle=torch.zeros(3)), plain)
    ones = torch.ones(3, 1, 20, 20, dtype=torch.uint8)
    m0 = gridmask(ones, *args, fill=0)
    m90 = gridmask(ones, *args, fill=0, angle=90.0)
    assert torch.equal(m90, torch.rot90(m0, 1, dims=(2, 3)))  # counter-clockwise as displayed


def test_gridmask_removed_fraction_matches_ratio_formula():
    h = w = 480
    x = torch.ones(8, 1, h, w)
    d = torch.tensor([16, 24, 32, 40, 60, 96, 30, 48])
    ratio = torch.tensor([0.6, 0.5, 0.3, 0.75, 0.4, 0.6, 0.5, 0.2], dtype=torch.float64)
    offs = torch.tensor([[3, 5], [0, 0], [31, 1], [7, 39], [59, 0], [10, 90], [29, 29], [1, 47]])
    removed = (gridmask(x, d, ratio, offs, fill=0) == 0).double().mean((1, 2, 3))
    keep = torch.floor(d * ratio + 0.5)
    exact = ((d - keep) / d) ** 2  # H, W are multiples of every d here
    assert torch.allclose(removed, exact, atol=1e-12)
    paper = (1 - ratio) ** 2  # keep ratio k = 1 - (1 - r)^2 in the paper
    assert ((removed - paper).abs() <= 1.0 / d + 1e-12).all()
    angles = torch.tensor([10.0, 33.0, 45.0, 60.0, 77.0, 120.0, 200.0, 300.0])
    rotated = (gridmask(x, d, ratio, offs, fill=0, angle=angles) == 0).double().mean((1, 2, 3))
    assert ((rotated - exact).abs() < 0.02).all(), rotated - exact


# ----------------------------------------------------------------------------- pairing
def test_sample_pairing_endpoints_and_rounding():
    x = _batch(4, 9, 11, seed=4)
    p = x.flip(0)
    assert torch.equal(sample_pairing(x, p, 0.0), x)
    assert torch.equal(sample_pairing(x, p, torch.ones(4)), p)
    xf, pf = x.double() / 255, p.double() / 255
    assert torch.equal(sample_pairing(xf, pf, 0), xf) and torch.equal(sample_pairing(xf, pf, 1), pf)
    a = torch.tensor([0, 1, 2, 3, 10], dtype=torch.uint8).view(1, 1, 1, 5)
    bb = torch.tensor([255, 2, 3, 4, 13], dtype=torch.uint8).view(1, 1, 1, 5)
    # Inoue's average, w = 0.5: 127.5 -> 128, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4, 11.5 -> 12 (half to even)
    assert sample_pairing(a, bb, 0.5).flatten().tolist() == [128, 2, 2, 4, 12]
    # 0.4 * 10 + 0.6 * 3 = 5.8 -> 6 (rounded, not truncated to 5)
    assert (
        blend(
            torch.tensor([[[[3]]]], dtype=torch.uint8), torch.full((1, 1, 1, 1), 10, dtype=torch.uint8), 0.4
        ).item()
        == 6
    )


def test_blend_matches_numpy_on_photos():
    x, y = _batch(3, 16, 16, seed=5), _photos(16, 16).flip(0)
    w = torch.tensor([0.1, 0.4, 0.85])
    ref = (1 - w.numpy()[:, None, None, None]) * x.numpy().astype(np.float32) + w.numpy()[
        :, None, None, None
    ] * y.numpy().astype(np.float32)
    out = blend(x, y, w)
    assert torch.equal(out, _to_dtype(ref, x))
    outf = blend(x.float() / 255, y.float() / 255, w)
    assert (outf * 255 - torch.from_numpy(ref)).abs().max() < 1e-3
    assert (outf * 255 - out.float()).abs().max() <= 0.5 + 1e-3


# ----------------------------------------------------------------------------- contracts
def _kernel_calls(b: int, h: int, w: int, seed: int):
    """(name, fn(x, idx)) pairs with per-image parameters; idx selects images of the batch."""
    g = torch.Generator().manual_seed(seed)
    boxes = torch.stack(
        [
            torch.randint(-4, h, (b,), generator=g),
            torch.randint(-4, w, (b,), generator=g),
            torch.randint(0, h, (b,), generator=g),
            torch.randint(0, w, (b,), generator=g),
        ],
        1,
    )
    pixel = torch.rand(b, 3, h, w, generator=g)
    colour = torch.rand(b, 3, 1, 1, generator=g)
    centers = torch.stack([torch.randint(0, h, (b,), generator=g), torch.randint(0, w, (b,), generator=g)], 1)
    size = torch.randint(0, 9, (b,), generator=g)
    hide = torch.rand(b, 3, 4, generator=g) < 0.5
    d = torch.randint(3, 10, (b,), generator=g)
    ratio = torch.rand(b, generator=g)
    offs = torch.stack([torch.randint(0, 3, (b,), generator=g), torch.randint(0, 3, (b,), generator=g)], 1)
    angle = torch.rand(b, generator=g) * 360
    weight = torch.rand(b, generator=g)

    def s(v, x):  # scale a [0, 1] fill to x's native range
        return v * (255 if x.dtype == torch.uint8 else 1)

    return {
        "erase_pixel": lambda x, i: erase(x, boxes[i], s(pixel[i], x)),
        "erase_colour": lambda x, i: erase(x, boxes[i], s(colour[i], x)),
        "cutout": lambda x, i: cutout(x, centers[i], size[i], s(torch.tensor([0.5, 0.25, 0.75]), x)),
        "hide_and_seek": lambda x, i: hide_and_seek(x, hide[i], s(0.3, x)),
        "gridmask": lambda x, i: gridmask(x, d[i], ratio[i], offs[i], s(0.6, x)),
        "gridmask_rot": lambda x, i: gridmask(x, d[i], ratio[i], offs[i], s(0.6, x), angle=angle[i]),
        "sample_pairing": lambda x, i: sample_pairing(x, x.flip(0).roll(1, 2), weight[i]),
    }


@pytest.mark.parametrize("name", list(_kernel_calls(1, 4, 4, 0)))
def test_contracts(name):
    b, h, w = 5, 13, 17
    calls = _kernel_calls(b, h, w, seed=11)
    fn = calls[name]
    idx = torch.arange(b)
    for dtype in (torch.uint8, torch.float32, torch.float64):
        x = _batch(b, h, w, seed=12, dtype=dtype)
        before = x.clone()
        out = fn(x, idx)
        assert out.dtype == dtype and out.shape == x.shape and out.device == x.device
        assert torch.equal(x, before), "input mutated"
        if name != "sample_pairing":  # its partner depends on the whole batch
            per = torch.cat([fn(x[i : i + 1], idx[i : i + 1]) for i in range(b)])
            assert torch.equal(out, per), "batch != per-image calls"
    # uint8 vs float agree within one level
    xu = _batch(b, h, w, seed=13)
    diff = (fn(xu, idx).float() - fn(xu.float() / 255, idx) * 255).abs().max()
    assert diff <= 1.0 + 1e-4, diff
    # empty batch
    e = torch.zeros(0, 3, h, w, dtype=torch.uint8)
    assert fn(e, idx[:0]).shape == e.shape


@pytest.mark.skipif(len(DEVICES) < 2, reason="needs CUDA")
@pytest.mark.parametrize("name", list(_kernel_calls(1, 4, 4, 0)))
def test_cuda_matches_cpu(name):
    b, h, w = 4, 15, 19
    fn = _kernel_calls(b, h, w, seed=14)[name]
    x = _batch(b, h, w, seed=15)
    idx = torch.arange(b)
    out = fn(x.cuda(), idx)
    assert out.device.type == "cuda"
    assert torch.equal(out.cpu(), fn(x, idx))


BAD = [
    (lambda: erase(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, dtype=torch.long), 0), ValueError, "boxes"),
    (lambda: erase(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4), 0), TypeError, "boxes"),
    (lambda: erase(torch.zeros(1, 3, 4, 4), torch.tensor([[0, 0, -1, 2]]), 0), ValueError, "boxes"),
    (
        lambda: erase(torch.zeros(1, 3, 4, 4), torch.tensor([[0, 0, 1, 2]]), torch.zeros(2)),
        ValueError,
        "values",
    ),
    (
        lambda: erase(torch.zeros(2, 3, 4, 4), torch.zeros(2, 4, dtype=int), torch.zeros(3, 3, 1, 1)),
        ValueError,
        "values",
    ),
    (lambda: erase(torch.zeros(3, 4, 4), torch.zeros(1, 4, dtype=int), 0), ValueError, "x"),
    (
        lambda: erase(torch.zeros(1, 3, 4, 4, dtype=torch.int32), torch.zeros(1, 4, dtype=int), 0),
        TypeError,
        "x",
    ),
    (lambda: cutout(torch.zeros(2, 3, 4, 4), torch.zeros(2, 2, dtype=int), -1, 0), ValueError, "size"),
    (lambda: cutout(torch.zeros(2, 3, 4, 4), torch.zeros(2, 2, dtype=int), 2.5, 0), TypeError, "size"),
    (lambda: cutout(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=int), 2, 0), ValueError, "centers"),
    (lambda: cutout(torch.zeros(2, 3, 4, 4), torch.zeros(2, 2, dtype=int), 2, [1, 2]), ValueError, "fill"),
    (lambda: hide_and_seek(torch.zeros(2, 3, 4, 4), torch.zeros(2, 2, 2), 0), TypeError, "hide"),
    (lambda: hide_and_seek(torch.zeros(2, 3, 4, 4), torch.zeros(3, 2, 2, dtype=bool), 0), ValueError, "hide"),
    (lambda: hide_and_seek(torch.zeros(2, 3, 4, 4), torch.zeros(2, 0, 2, dtype=bool), 0), ValueError, "hide"),
    (lambda: gridmask(torch.zeros(1, 3, 4, 4), 0, 0.5, [[0, 0]]), ValueError, "d"),
    (lambda: gridmask(torch.zeros(1, 3, 4, 4), 4, 1.5, [[0, 0]]), ValueError, "ratio"),
    (lambda: gridmask(torch.zeros(1, 3, 4, 4), 4, float("nan"), [[0, 0]]), ValueError, "ratio"),
    (lambda: gridmask(torch.zeros(1, 3, 4, 4), 4, 0.5, [0, 0]), ValueError, "offsets"),
    (lambda: gridmask(torch.zeros(2, 3, 4, 4), 4, torch.ones(3) / 2, [[0, 0]] * 2), ValueError, "ratio"),
    (lambda: gridmask(torch.zeros(1, 3, 4, 4), 4, 0.5, [[0, 0]], angle=float("inf")), ValueError, "angle"),
    (lambda: blend(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 5), 0.5), ValueError, "y"),
    (lambda: blend(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), 1.5), ValueError, "weight"),
    (
        lambda: blend(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4), torch.ones(3) / 2),
        ValueError,
        "weight",
    ),
    (
        lambda: blend(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.tensor(True)),
        TypeError,
        "weight",
    ),
    (
        lambda: sample_pairing(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4).byte(), 0.2),
        ValueError,
        "partner",
    ),
    (lambda: sample_pairing(torch.zeros(2, 3, 4, 4), "img", 0.2), TypeError, "partner"),
]


@pytest.mark.parametrize("call,exc,word", BAD)
def test_bad_inputs_name_the_argument(call, exc, word):
    with pytest.raises(exc, match=rf"\b{word}\b"):
        call()


# ----------------------------------------------------------------------------- gradients
def test_gradcheck_pairing_and_erase():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(2, 2, 3, 3, generator=g, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    y = (torch.rand(2, 2, 3, 3, generator=g, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    w = torch.tensor([0.3, 0.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: blend(a, b, c), (x, y, w))
    assert torch.autograd.gradcheck(lambda a, b, c: sample_pairing(a, b, c), (x, y, w))
    boxes = torch.tensor([[1, 0, 2, 5], [-1, 1, 2, 1]])
    vals = torch.rand(2, 2, 3, 3, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, v: erase(a, boxes, v), (x, vals))
    gx = torch.autograd.grad(erase(x, boxes, 0.5).sum(), x)[0]
    assert torch.equal(gx == 0, erase(torch.zeros_like(x), boxes, 1.0).bool())  # zero grad inside the box
