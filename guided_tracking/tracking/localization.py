# -*- coding: utf-8 -*-
"""
Target localisation from pre-NMS detections (paper Sec. 3.4, "Target Localization").

The detector's outputs before NMS are re-ranked with

* a cosine (Hanning) window on the candidate centre, penalising displacement
  from the previous position (the previous target is at the search-crop centre);
* the scale / aspect-ratio penalty of Eq. 5 (an unnormalised Laplace function,
  following SiamRPN [34]): ``p_sr = exp(-|d_r + d_s - 1| / sigma)``, sigma = 0.55.

The best re-weighted candidate is ``B*``: the target centre jumps to B*'s
centre, and the target size moves towards B*'s size with learning rate 0.275.

All functions are pure, stateless and torch-first (CPU or CUDA tensors); numpy
inputs are accepted and converted. Everything is in SEARCH-CROP coordinates
(see :mod:`guided_tracking.data.crop`) except :func:`update_state`, which maps
the result back to the image.
"""
from dataclasses import dataclass
import math
from typing import Optional, Sequence, Tuple

import torch

from guided_tracking.data.crop import CropGeometry

__all__ = [
    "Localization",
    "SIGMA",
    "SIZE_LR",
    "DEFAULT_WINDOW_INFLUENCE",
    "DEFAULT_MIN_SIZE_PX",
    "hann_window_at",
    "scale_aspect_penalty",
    "normalized_scale_aspect_penalty",
    "penalized_scores",
    "localize",
    "update_state",
    "clamp_target_side",
]

# Eq. 5: scaling factor sigma of the Laplace penalty (paper: 0.55).
SIGMA = 0.55
# Sec. 3.4: the target size is smoothly updated towards B* with this learning rate.
SIZE_LR = 0.275
# Weight of the cosine window in the re-weighted score. The paper does not give
# it; SiamRPN / SiamRPN++ (pysot configs) use 0.40-0.44 with a search region of
# about 4x the target size; our 5x region is comparable, so we take 0.40.
DEFAULT_WINDOW_INFLUENCE = 0.40
# Smallest target side kept by update_state (pysot also uses 10 px), so a few bad
# frames cannot shrink the box to a point the search region cannot recover from.
DEFAULT_MIN_SIZE_PX = 10.0

_EPS = 1e-6


@dataclass(frozen=True)
class Localization:
    """Result of :func:`localize`, in search-crop coordinates.

    Attributes:
        center_xy_crop: new target centre (= centre of B*).
        size_wh_crop: new (smoothed) target width/height.
        score: B*'s raw detector score.
        pscore: B*'s re-weighted score (the ranking criterion).
        index: index of B* in the input candidate arrays.
    """

    center_xy_crop: Tuple[float, float]
    size_wh_crop: Tuple[float, float]
    score: float
    pscore: float
    index: int


def _as_float_tensor(x, device=None) -> torch.Tensor:
    t = torch.as_tensor(x, device=device)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t


def hann_window_at(centers_xy, out_px: float) -> torch.Tensor:
    """Cosine window value at each candidate centre ``(K, 2)`` -> ``(K,)``.

    ``w(x, y) = hann(x / out_px) * hann(y / out_px)`` with
    ``hann(u) = 0.5 - 0.5 cos(2 pi u)``, ``u`` clipped to ``[0, 1]``: 1 at the
    crop centre (where the previous target is), 0 on the crop border. Evaluated
    at the continuous centre rather than on a fixed grid because detector boxes
    are not tied to a score-map cell as in SiamRPN.
    """
    c = _as_float_tensor(centers_xy)
    u = (c / float(out_px)).clamp(0.0, 1.0)
    hann = 0.5 - 0.5 * torch.cos(2.0 * math.pi * u)
    return hann[..., 0] * hann[..., 1]


def _ratio_change(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``max(a / b, b / a)`` (>= 1), the change measure of Eq. 5."""
    return torch.maximum(a / b, b / a)


def scale_aspect_penalty(size_wh, prev_size_wh: Sequence[float], sigma: float = SIGMA) -> torch.Tensor:
    """Eq. 5 as written: ``p_sr = exp(-|d_r + d_s - 1| / sigma)``.

    Args:
        size_wh: ``(K, 2)`` candidate widths/heights.
        prev_size_wh: previous target ``(w, h)``, same coordinates.
        sigma: Eq. 5 scaling factor (0.55 in the paper).

    With ``r = w / h`` and ``s = sqrt(w * h)``:
    ``d_r = max(r'/r, r/r')`` and ``d_s = max(s'/s, s/s')`` (both >= 1), so a
    candidate with no change scores ``exp(-1 / sigma)``, not 1; see
    :func:`normalized_scale_aspect_penalty`.
    """
    wh = _as_float_tensor(size_wh).clamp(min=_EPS)  # degenerate boxes -> huge change -> ~0
    prev = torch.as_tensor(prev_size_wh, dtype=wh.dtype, device=wh.device).clamp(min=_EPS)
    r = wh[..., 0] / wh[..., 1]
    s = torch.sqrt(wh[..., 0] * wh[..., 1])
    d_r = _ratio_change(r, prev[0] / prev[1])
    d_s = _ratio_change(s, torch.sqrt(prev[0] * prev[1]))
    return torch.exp(-torch.abs(d_r + d_s - 1.0) / sigma)


def normalized_scale_aspect_penalty(size_wh, prev_size_wh: Sequence[float], sigma: float = SIGMA) -> torch.Tensor:
    """Eq. 5 divided by its no-change value ``exp(-1 / sigma)``, so no change = 1.

    Dividing by a positive constant does not change the ranking by
    ``p_sr * score``; it only matters where p_sr is mixed additively with the
    cosine window and in the damped size learning rate, where "no change" must
    mean "no penalty" (as SiamRPN's penalty, which is 1 at no change).
    """
    return scale_aspect_penalty(size_wh, prev_size_wh, sigma) * math.exp(1.0 / sigma)


def penalized_scores(
    boxes_xyxy,
    scores,
    prev_size_wh: Sequence[float],
    out_px: float,
    window_influence: float = DEFAULT_WINDOW_INFLUENCE,
    sigma: float = SIGMA,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Re-weighted scores (SiamRPN style, which the paper follows via [34]).

    ``pscore = score * p_sr_norm * (1 - window_influence) + window * window_influence``

    Returns:
        ``(pscore, p_sr_norm)``, both ``(K,)``. NaN/inf scores or boxes give a
        ``-inf`` pscore so they are never selected.
    """
    boxes = _as_float_tensor(boxes_xyxy)
    score = torch.as_tensor(scores, device=boxes.device).to(boxes.dtype)
    wh = boxes[:, 2:4] - boxes[:, 0:2]
    centers = 0.5 * (boxes[:, 0:2] + boxes[:, 2:4])
    p_sr = normalized_scale_aspect_penalty(wh, prev_size_wh, sigma)
    window = hann_window_at(centers, out_px)
    pscore = score * p_sr * (1.0 - window_influence) + window * window_influence
    valid = torch.isfinite(score) & torch.isfinite(boxes).all(dim=1) & torch.isfinite(pscore)
    pscore = torch.where(valid, pscore, torch.full_like(pscore, -math.inf))
    return pscore, p_sr


def localize(
    boxes_xyxy,
    scores,
    prev_size_wh: Sequence[float],
    out_px: float,
    window_influence: float = DEFAULT_WINDOW_INFLUENCE,
    sigma: float = SIGMA,
    lr: float = SIZE_LR,
    damped: bool = True,
    log_space: bool = True,
    max_scale_step: float = 0.0,
) -> Optional[Localization]:
    """Pick B* among pre-NMS candidates and smooth the target size (Sec. 3.4).

    Args:
        boxes_xyxy: ``(K, 4)`` candidate boxes in search-crop coordinates.
        scores: ``(K,)`` detector scores (probabilities in [0, 1]); NaN ignored.
        prev_size_wh: previous target ``(w, h)`` in search-crop coordinates.
        out_px: search-crop side (the previous target centre is at
            ``(out_px / 2, out_px / 2)``).
        window_influence: weight of the cosine window in the pscore.
        sigma: Eq. 5 scaling factor.
        lr: size learning rate (paper: 0.275).
        damped: if True (default), the effective rate is
            ``lr_eff = lr * p_sr_norm(B*) * score(B*)`` (SiamRPN's damping: an
            uncertain or shape-changing detection barely changes the size);
            if False, ``lr_eff = lr`` (the paper's text read literally).
            ``lr_eff`` is clipped to [0, 1] so the size stays between the
            previous size and B*'s size.
        log_space: if True (default), ``new_wh = prev_wh * (wh(B*) / prev_wh) ** lr_eff``
            per side: growing by a factor and shrinking by it are symmetric, so a
            detector that errs either way by the same factor does not bias the
            size (a linear blend favours growth: it moves 0.275 of the way to 2x
            but only 0.1375 of the way to 0.5x, measured in log size). If False,
            ``new_wh = (1 - lr_eff) * prev_wh + lr_eff * wh(B*)``.
        max_scale_step: > 0 limits each side's change per frame to a factor in
            ``[1 / (1 + max_scale_step), 1 + max_scale_step]``: a target's size
            changes little between frames, a wrong B* can change it a lot.

    Returns:
        :class:`Localization` with the new size, or ``None`` if there is no
        usable candidate (K = 0 or all NaN).
    """
    boxes = _as_float_tensor(boxes_xyxy).reshape(-1, 4)
    if boxes.shape[0] == 0:
        return None
    score = torch.as_tensor(scores, device=boxes.device).reshape(-1).to(boxes.dtype)
    pscore, p_sr = penalized_scores(boxes, score, prev_size_wh, out_px, window_influence, sigma)
    best = torch.argmax(pscore)
    # One host transfer for everything about B* (each float()/.tolist() would be
    # a device synchronisation on a GPU).
    values = torch.cat([boxes[best], torch.stack([score[best], p_sr[best], pscore[best], best.to(boxes.dtype)])])
    *best_box, best_score, best_p_sr, best_pscore, best = values.tolist()
    best = int(best)
    if not math.isfinite(best_pscore):
        return None
    best_wh = (best_box[2] - best_box[0], best_box[3] - best_box[1])
    lr_eff = lr * best_p_sr * best_score if damped else lr
    lr_eff = min(max(lr_eff, 0.0), 1.0)
    new_wh = []
    for prev, b in zip(prev_size_wh, best_wh):
        prev = max(float(prev), _EPS)
        if log_space:
            w = prev * math.exp(lr_eff * math.log(max(b, _EPS) / prev))
        else:
            w = (1.0 - lr_eff) * prev + lr_eff * b
        if max_scale_step > 0:
            w = min(max(w, prev / (1.0 + max_scale_step)), prev * (1.0 + max_scale_step))
        new_wh.append(w)
    new_wh = tuple(new_wh)
    return Localization(
        center_xy_crop=(0.5 * (best_box[0] + best_box[2]), 0.5 * (best_box[1] + best_box[3])),
        size_wh_crop=new_wh,
        score=best_score,
        pscore=best_pscore,
        index=best,
    )


def update_state(
    prev_box_xywh_image: Sequence[float],
    loc: Optional[Localization],
    geom: CropGeometry,
    image_wh: Sequence[float],
    min_size_px: float = DEFAULT_MIN_SIZE_PX,
) -> Tuple[float, float, float, float]:
    """Map a crop-space :class:`Localization` back to an image-space box ``(x, y, w, h)``.

    The centre is clipped to the image ``[0, W] x [0, H]`` and each side to
    ``[min_size_px, image side]``, so that a run of bad frames cannot drift the
    state to a corner, off the image, or to a size the next search region
    cannot recover from. If ``loc`` is None (no candidate) or yields non-finite
    values, the previous state is kept for those values.

    Args:
        prev_box_xywh_image: previous target box in image pixels.
        loc: output of :func:`localize` (search-crop coordinates of ``geom``).
        geom: the search-crop geometry the candidates were detected in.
        image_wh: image ``(W, H)`` in pixels.
        min_size_px: smallest allowed target side in image pixels.
    """
    px, py, pw, ph = (float(v) for v in prev_box_xywh_image)
    img_w, img_h = float(image_wh[0]), float(image_wh[1])
    cx, cy, w, h = px + 0.5 * pw, py + 0.5 * ph, pw, ph
    if loc is not None:
        (ncx, ncy), = geom.points_from_crop([list(loc.center_xy_crop)]).tolist()
        nw, nh = (float(v) / geom.scale for v in loc.size_wh_crop)
        cx = ncx if math.isfinite(ncx) else cx
        cy = ncy if math.isfinite(ncy) else cy
        w = nw if math.isfinite(nw) else w
        h = nh if math.isfinite(nh) else h
    # Last resort if even the previous state was not finite: image centre / min size.
    cx = cx if math.isfinite(cx) else 0.5 * img_w
    cy = cy if math.isfinite(cy) else 0.5 * img_h
    w = w if math.isfinite(w) else min_size_px
    h = h if math.isfinite(h) else min_size_px
    cx = min(max(cx, 0.0), img_w)
    cy = min(max(cy, 0.0), img_h)
    # min(...) last: an image smaller than min_size_px caps the size at the image.
    w = min(max(w, min_size_px), max(img_w, 1.0))
    h = min(max(h, min_size_px), max(img_h, 1.0))
    return (cx - 0.5 * w, cy - 0.5 * h, w, h)


def clamp_target_side(box_xywh: Sequence[float], init_side_px: float, bounds: Sequence[float]) -> Tuple[float, ...]:
    """Keep the target side ``sqrt(w * h)`` within ``bounds`` = (lo, hi) times the
    initial side, about the box centre and keeping its aspect ratio: the size a
    run of bad frames can drift to stays recoverable."""
    x, y, w, h = (float(v) for v in box_xywh)
    side = math.sqrt(max(w, _EPS) * max(h, _EPS))
    lo, hi = float(bounds[0]) * init_side_px, float(bounds[1]) * init_side_px
    factor = min(max(side, lo), hi) / side
    if factor == 1.0:
        return (x, y, w, h)
    cx, cy = x + 0.5 * w, y + 0.5 * h
    w, h = w * factor, h * factor
    return (cx - 0.5 * w, cy - 0.5 * h, w, h)
