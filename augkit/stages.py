"""Execute per-image policy choices on a batch: the op groups of each stage, never a loop over images.

Why a module of its own: every policy family (AutoAugment, RandAugment, TrivialAugment, PBA,
TANDA, AugMix chains, Adversarial AutoAugment's M-copy batches) draws ``PolicyParams`` its own
way but executes them here, through the op table (:mod:`augkit.space`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .ops.indexed import identity_into
from .sample import PolicyParams
from .space import OPS, op_value

__all__ = ["run_stages"]


# Per-image auxiliary inputs an op may ask for (OpSpec.aux), resolved from the params.
_AUX: dict[str, Callable[[PolicyParams, int, Tensor, Tensor], Tensor]] = {
    "center": lambda p, s, idx, x: p.centers[idx, s],
    "partner": lambda p, s, idx, x: x.index_select(0, p.partners[idx, s]),
}


def _copy_rows(out: Tensor, idx: Tensor, y: Tensor) -> None:
    """``out[idx] = y`` for whole images.  ``index_copy_`` moves uint8 images byte by byte, so
    contiguous uint8 rows whose length is a multiple of 8 bytes are moved as int64 words."""
    y = y.to(out.dtype)
    if out.element_size() == 1 and out.is_contiguous() and out[0].numel() % 8 == 0 and out.numel():
        rows = out.view(out.shape[0], -1).view(torch.int64)
        rows.index_copy_(0, idx, y.reshape(y.shape[0], -1).contiguous().view(torch.int64))
    else:
        out.index_copy_(0, idx, y)


def run_stages(
    x: Tensor,
    names: Sequence[str],
    params: PolicyParams,
    fill: float | tuple = 128.0,
    interpolation: str = "nearest",
) -> Tensor:
    """Execute per-image op choices stage by stage, grouping images that share an op.

    One stable sort per stage lists each op's images in increasing order (the sub-batch a
    kernel sees is exactly ``x[nonzero(op == k)]``); groups are gathered with ``index_select``
    and written back with ``index_copy_`` (advanced-indexing get/set is several times slower).
    Only the first stage that fires allocates an output (written image by image: each group's
    rows, plus a copy of the images whose stage did not fire, never a full clone first); later
    stages update it in place (unless an op of the stage reads other images, SamplePairing, or
    autograd is recording), because at 224 px every fresh batch-sized buffer costs page faults.
    """
    h, w = x.shape[-2:]
    n_ops = len(names)
    cur, owned = x, False
    for s in range(params.ops.shape[1]):
        key = torch.where(params.applied[:, s], params.ops[:, s], n_ops)  # n_ops = not applied
        counts = torch.bincount(key.cpu(), minlength=n_ops + 1).tolist()[:n_ops]
        if not any(counts):
            continue
        present = [k for k, n in enumerate(counts) if n]
        reads_others = any("partner" in OPS[names[k]].aux for k in present)
        order = torch.sort(key, stable=True).indices  # by op, then by image index
        starts = [sum(counts[:k]) for k in range(n_ops)]
        if owned and not reads_others and not cur.requires_grad:
            out = cur
        elif cur.requires_grad:
            out = cur.clone()
        else:  # every image is written below, by its group or as a copy: no full clone first
            out = torch.empty_like(cur)
            rest = order[sum(counts) :]  # images whose stage did not fire
            if rest.numel() and not identity_into(cur, rest, None, out):  # compiled: one copy
                _copy_rows(out, rest, cur.index_select(0, rest))
        for k in present:
            idx = order[starts[k] : starts[k] + counts[k]]
            spec = OPS[names[k]]
            value = op_value(names[k], params.magnitude[idx, s], params.sign[idx, s], h, w)
            aux = {a: _AUX[a](params, s, idx, cur) for a in spec.aux}
            into = spec.into
            if (
                into is not None
                and not aux
                and into(cur, idx, value, out, fill=fill, interpolation=interpolation)
            ):
                continue  # computed from cur[idx] straight into out[idx] (compiled uint8 path)
            y = spec.kernel(cur.index_select(0, idx), value, fill=fill, interpolation=interpolation, **aux)
            _copy_rows(out, idx, y)  # groups are disjoint: in place, later groups still read inputs
        cur, owned = out, True
    return cur
