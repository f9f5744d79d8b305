"""GuidedTracker: online tracking with a guided detector (paper 3.4), two-stage
(GuidedRCNN) or one-stage (GuidedSSD) alike: the model's tracking interface
(``modeling/guided_meta.py``) hides which.

initialize: guidance encoded once (for the exemplar and its mirror image, so
flipped first-frame samples are guided by a flipped exemplar, as in training);
16 augmented first-frame samples (random flips and crops) in one batch; N_1
inner steps from θ_0 give θ_1.
track: search region (5x target) at the previous position; pre-NMS candidates
(optionally, TRACKER.REFINE, re-scored by a second head pass at their regressed
boxes, as a cascade stage); localisation with the cosine window and Eq. 5; the size moves toward B* in log
space, at most MAX_SCALE_STEP per frame and within SIZE_BOUNDS of the initial
size; one sample per confident frame kept at the adapted layers' input (ROI
features, or the guided feature maps of a one-stage model) + labels; every T
frames N_τ steps of anchored updating (Eq. 4) on the cached samples (loss in
``online.py``) -- the backbone never re-runs for an update.
Crops are padded with the frame's mean colour (cv2.mean: the value of
``crop_image``'s default, without its slow numpy reduction).

Per frame the tracker does only what it uses (issue 11's fast path): frames are
cropped in the colour order they come in (BGR or RGB) and only the crop is
converted; each TGM is folded into one C x C conv per target at
initialisation (TRACKER.FOLD_TGM); the detector returns pre-NMS candidates
without running its own NMS; a collected sample reuses the ROI features of the
frame's detection; the input is channels-last (TRACKER.CHANNELS_LAST; the model
built by ``build_tracker`` has its frozen batch norm folded, TRACKER.FOLD_BN).
"""
import collections
import logging
import math
from dataclasses import dataclass, field
from typing import Deque, Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch

from detectron2.config import configurable
from detectron2.structures import Boxes, ImageList, pairwise_iou

from ..data.crop import exemplar_geometry, hflip_boxes, jitter_geometry, search_geometry, target_side_px
from ..boxes import xywh_to_xyxy
from ..modeling.guided_backbone import GuidedBackbone
from ..modeling.maml import inner_loop
from ..modeling.per_frame import PerFrameNetwork
from .anchored import anchored_update
from .localization import clamp_target_side, localize, update_state
from .online import online_loss_fn
from .presence import PresenceModel, SimilarityScale
from .redetect import tile_geometries
from .verification import TargetVerifier, head_feature_strides

__all__ = ["GuidedTracker", "TrackerState", "as_uint8_image", "validate_box_xywh"]

logger = logging.getLogger(__name__)


def as_uint8_image(image: np.ndarray) -> np.ndarray:
    """C-contiguous HxWx3 uint8 from grayscale, RGBA/BGRA or 16-bit input (a clear error otherwise)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {image.shape}")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image.astype(np.float32) * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    # One copy here (if any) instead of one per consumer (cv2.mean, crop_image).
    return np.ascontiguousarray(image)


def validate_box_xywh(box_xywh, image_wh: Tuple[int, int]) -> np.ndarray:
    """The initial box as float64 (4,), or ValueError naming what is wrong."""
    box = np.asarray(box_xywh, dtype=np.float64).reshape(-1)
    if box.shape != (4,):
        raise ValueError(f"initial box must be (x, y, w, h), got {box_xywh!r}")
    if not np.all(np.isfinite(box)):
        raise ValueError(f"initial box has NaN/inf values: {box.tolist()}")
    if box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"initial box must have positive width and height, got w={box[2]}, h={box[3]}")
    x0, y0 = max(box[0], 0.0), max(box[1], 0.0)
    x1, y1 = min(box[0] + box[2], image_wh[0]), min(box[1] + box[3], image_wh[1])
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise ValueError(f"initial box {box.tolist()} covers less than one pixel of the "
                         f"{image_wh[0]}x{image_wh[1]} image (outside it or too small)")
    # A box partly outside the image is tracked as given (the crop pads).
    return box


def _centre_xy(box_xywh) -> Tuple[float, float]:
    return float(box_xywh[0] + box_xywh[2] / 2), float(box_xywh[1] + box_xywh[3] / 2)


def _check_format(frame_format: str) -> None:
    if frame_format not in ("BGR", "RGB"):
        raise ValueError(f"frame_format must be 'BGR' or 'RGB', got {frame_format!r}")


@dataclass
class TrackerState:
    """Everything the tracker carries between frames (explicit, inspectable)."""

    box_xywh: np.ndarray
    frame_id: int
    guidance: Dict
    theta0: Dict[str, torch.Tensor]  # anchor (Eq. 4)
    theta: Dict[str, torch.Tensor]  # θ_t
    init_samples: Tuple  # the model's tracking_samples of the first frame
    memory: Deque = field(default_factory=collections.deque)
    init_side_px: float = 0.0  # sqrt(w * h) of the given box (SIZE_BOUNDS)
    target_embedding: Optional[torch.Tensor] = None  # first-frame appearance (verification.py)
    score: float = 1.0
    similarity: float = 1.0  # B*'s appearance vs the first-frame target's (cosine); NaN: not measured
    similarity_scale: Optional[SimilarityScale] = None  # this sequence's similarity levels (presence.py)
    presence: float = 1.0  # P(target in this frame) (presence.py), the reported confidence
    absent_frames: int = 0  # consecutive frames with presence below TRACKER.PRESENCE_THRESHOLD
    redetected: bool = False  # this frame's box comes from a whole-frame search
    present_xy: Optional[Tuple[float, float]] = None  # box centre in the last frame the target was present
    lost: bool = False


class GuidedTracker:
    @configurable
    def __init__(self, model, *, exemplar_context=2.0, exemplar_px=192, search_context=5.0, search_px=480,
                 init_samples=16, init_shift=0.3, init_scale=0.2, init_steps=5, update_steps=1,
                 update_interval=10, anchor_weight=0.5, memory_size=30, collect_threshold=0.6,
                 lost_threshold=0.2, step_size=None, sigma=0.55, size_lr=0.275, size_lr_damped=True,
                 window_influence=0.3, refine=False, size_log_space=True, max_scale_step=0.15,
                 size_bounds=(0.2, 5.0), init_share=0.5, collect_similarity=None, distractor_score=1.1,
                 max_distractors=8, presence_weights=(), presence_threshold=0.5, follow_when_absent=True,
                 redetect=False, redetect_after=3, redetect_interval=5, redetect_margin=0.3, redetect_max_tiles=16,
                 redetect_growth=0.0,
                 rois_per_sample=None, input_format="BGR", seed=0, fold_tgm=True, channels_last=False):
        """model: a built GuidedRCNN or GuidedSSD with its weights loaded. Other arguments:
        see TRACKER.* in config.py (paper 3.4 symbols there). ``step_size`` None:
        the model's own α (MODEL.META.INNER_LR, or the learned Meta-SGD step
        sizes). ``rois_per_sample`` None: MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE.
        ``update_interval`` <= 0 disables online updates (θ_1 is kept).
        ``fold_tgm``: fold each TGM into one conv per target (same features);
        ``channels_last``: feed the model channels-last images.
        ``collect_similarity``: a frame is collected only if B*'s appearance
        similarity with the first-frame target, normalised per sequence
        (presence.SimilarityScale: 0 = this sequence's clutter, 1 = the target
        in the augmented first-frame crops), is at least this (None: always);
        ``distractor_score``: candidates scoring at least this, away from B*
        (IoU < 0.3), are added to the frame's sample as background (at most
        ``max_distractors``; > 1 = never).
        Long-term: ``presence_weights`` (w_s, w_v, b) of the presence model
        (presence.py; empty: the presence is the detector's score);
        below ``presence_threshold`` the target is absent: the box stays (or, with
        ``follow_when_absent``, follows the local B*), nothing is collected or
        updated; with ``redetect``, after ``redetect_after``
        absent frames and then every ``redetect_interval`` frames the whole frame
        is searched (at most ``redetect_max_tiles`` crops, redetect.py) and a
        candidate at least ``redetect_margin`` above the local one and above the
        threshold is taken; with ``redetect_growth`` > 0 only within
        SEARCH_CONTEXT / 2 + ``redetect_growth`` x (absent frames) target sides of
        where the target was last present (local-to-global, redetect.py)."""
        self.model = model.eval()
        if refine and not hasattr(model, "rescore"):
            raise ValueError(f"TRACKER.REFINE re-scores boxes with a second-stage head; "
                             f"{type(model).__name__} has none (set TRACKER.REFINE False)")
        self.exemplar_context, self.exemplar_px = exemplar_context, exemplar_px
        self.search_context, self.search_px = search_context, search_px
        self.init_samples, self.init_shift, self.init_scale = init_samples, init_shift, init_scale
        self.init_steps, self.update_steps, self.update_interval = init_steps, update_steps, update_interval
        self.anchor_weight, self.memory_size = anchor_weight, memory_size
        self.collect_threshold, self.lost_threshold = collect_threshold, lost_threshold
        self.step_size, self.sigma, self.size_lr = step_size, sigma, size_lr
        self.window_influence = window_influence
        self.size_lr_damped = size_lr_damped
        self.refine, self.size_log_space, self.max_scale_step = refine, size_log_space, max_scale_step
        self.size_bounds, self.init_share = tuple(size_bounds), init_share
        self.rois_per_sample = rois_per_sample
        self.input_format = input_format
        self.seed = seed
        self.fold_tgm, self.channels_last = fold_tgm, channels_last
        self.collect_similarity = collect_similarity
        self.distractor_score, self.max_distractors = distractor_score, max_distractors
        self.verifier = TargetVerifier(head_feature_strides(model), canonical_box_size=search_px / search_context)
        # The per-frame network in ONNX Runtime (build_tracker sets it for
        # TRACKER.BACKEND onnxruntime); None: torch.
        self.per_frame = None
        self.presence_model = PresenceModel(tuple(presence_weights)) if len(presence_weights) else None
        if self.presence_model is not None and len(presence_weights) != 3:
            raise ValueError(f"TRACKER.PRESENCE_WEIGHTS takes 3 numbers (w_s, w_v, b), got {list(presence_weights)}")
        self.presence_threshold, self.redetect = presence_threshold, redetect
        self.follow_when_absent = follow_when_absent
        # B*'s similarity costs a ROIAlign per frame: only when something reads it
        # (bench/calibrate_presence.py sets it to record the similarity with presence off).
        self.measure_similarity = self.presence_model is not None or self.collect_similarity is not None
        self.redetect_after, self.redetect_interval = max(int(redetect_after), 1), max(int(redetect_interval), 1)
        self.redetect_margin, self.redetect_max_tiles = redetect_margin, redetect_max_tiles
        self.redetect_growth = float(redetect_growth)
        self.state: Optional[TrackerState] = None
        self.last_confidence = float("nan")
        self.last_updated = False

    @classmethod
    def from_config(cls, cfg, model):
        t = cfg.TRACKER
        return {
            "model": model,
            "exemplar_context": cfg.INPUT.GUIDED.EXEMPLAR_CONTEXT,
            "exemplar_px": max(cfg.MODEL.GUIDED.EXEMPLAR_SIZES),
            "search_context": cfg.INPUT.GUIDED.SEARCH_CONTEXT,
            "search_px": cfg.INPUT.GUIDED.SEARCH_SIZE,
            "init_samples": t.INIT_SAMPLES, "init_shift": t.INIT_SHIFT, "init_scale": t.INIT_SCALE,
            # INIT_STEPS < 0: N_1 = N, the inner steps the model was meta-trained with.
            "init_steps": t.INIT_STEPS if t.INIT_STEPS >= 0 else cfg.MODEL.META.INNER_STEPS,
            "update_steps": t.UPDATE_STEPS, "update_interval": t.UPDATE_INTERVAL,
            "anchor_weight": t.ANCHOR_WEIGHT, "memory_size": t.MEMORY_SIZE,
            "collect_threshold": t.COLLECT_THRESHOLD, "lost_threshold": t.LOST_THRESHOLD,
            # STEP_SIZE <= 0: the model's α (INNER_LR, or the learned Meta-SGD steps).
            "step_size": t.STEP_SIZE if t.STEP_SIZE > 0 else None,
            "sigma": t.PENALTY_SIGMA, "size_lr": t.SIZE_LR,
            "size_lr_damped": t.SIZE_LR_DAMPED, "window_influence": t.WINDOW_INFLUENCE,
            "refine": t.REFINE, "size_log_space": t.SIZE_LOG_SPACE, "max_scale_step": t.MAX_SCALE_STEP,
            "size_bounds": tuple(t.SIZE_BOUNDS), "init_share": t.INIT_SHARE,
            "collect_similarity": t.COLLECT_SIMILARITY if t.COLLECT_VERIFY else None,
            "distractor_score": t.DISTRACTOR_SCORE,
            "max_distractors": t.MAX_DISTRACTORS, "presence_weights": tuple(t.PRESENCE_WEIGHTS),
            "presence_threshold": t.PRESENCE_THRESHOLD, "follow_when_absent": t.FOLLOW_WHEN_ABSENT,
            "redetect": t.REDETECT, "redetect_after": t.REDETECT_AFTER, "redetect_interval": t.REDETECT_INTERVAL,
            "redetect_margin": t.REDETECT_MARGIN, "redetect_max_tiles": t.REDETECT_MAX_TILES,
            "redetect_growth": t.REDETECT_GROWTH,
            "rois_per_sample": t.ROIS_PER_SAMPLE if t.ROIS_PER_SAMPLE > 0 else None,
            "input_format": cfg.INPUT.FORMAT, "seed": max(cfg.SEED, 0),
            "fold_tgm": t.FOLD_TGM, "channels_last": t.CHANNELS_LAST,
        }

    # ------------------------------------------------------------ helpers
    @property
    def device(self):
        return self.model.device

    def _to_tensor(self, crop: np.ndarray, frame_format: str = "BGR") -> torch.Tensor:
        """Crop in ``frame_format`` -> CHW tensor in the model's INPUT.FORMAT."""
        if frame_format != self.input_format:
            crop = crop[:, :, ::-1]
        return torch.as_tensor(np.ascontiguousarray(crop.transpose(2, 0, 1)), device=self.device)

    @staticmethod
    def _fill(image: np.ndarray):
        """Padding colour of crops: the image's mean colour, as ``crop_image``'s
        default, but cv2.mean is ~100x faster than numpy's uint8 mean per frame."""
        return cv2.mean(image)[:image.shape[2]]

    def _features(self, crops: List[np.ndarray], frame_format: str = "BGR", guidance=None, task_ids=None):
        """Guided features of ``crops``; by default all guided by the target's
        guidance, else crop i by target ``task_ids[i]`` of ``guidance``."""
        if guidance is None:
            guidance = self.state.guidance  # one target: as is for one crop, repeated for more
            task_ids = None if len(crops) == 1 else torch.zeros(len(crops), dtype=torch.long, device=self.device)
        if self.per_frame is not None:  # TRACKER.BACKEND onnxruntime (onnx_backend.py)
            raw = torch.stack([self._to_tensor(c, frame_format) for c in crops]).float()
            if task_ids is not None:
                guidance = GuidedBackbone.index_guidance(guidance, task_ids)
            features = self.per_frame.features(raw, PerFrameNetwork.folded_inputs(guidance, self.per_frame.net.tgm_levels))
            return ImageList(raw, [tuple(raw.shape[-2:])] * len(crops)), features
        images = self.model.normalize([self._to_tensor(c, frame_format) for c in crops])
        if self.channels_last:
            images = ImageList(images.tensor.contiguous(memory_format=torch.channels_last), images.image_sizes)
        return images, self.model.guided_features(images, guidance, task_ids)

    def _adapt(self, params: Dict[str, torch.Tensor], steps: int, collected=None):
        """``steps`` inner steps of Eq. 1 from ``params`` on the first-frame samples
        and the ``collected`` ones (loss: ``online.online_loss_fn``), plain θ."""
        loss_fn = online_loss_fn(self.model, self.state.init_samples, collected, self.init_share)
        step_size = self.model.step_size() if self.step_size is None else self.step_size
        out, _ = inner_loop(loss_fn, params, steps, step_size, differentiable=False)
        return out

    def detect_in(self, image: np.ndarray, geom, params=None, frame_format: str = "BGR"):
        """The guided detector on the crop ``geom`` of ``image`` (uint8 HxWx3 in
        ``frame_format``) with θ = ``params`` (default: the current θ_t).
        Returns (images, features, (candidate boxes_xyxy (K, 4) in crop pixels,
        scores (K,)), the model's detect aux)."""
        images, features = self._features([geom.crop_image(image, self._fill(image))], frame_format)
        results, aux = self.model.detect(images, features, self.state.theta if params is None else params,
                                         instances=False)
        cand = results[0]["candidates"]
        return images, features, (cand.pred_boxes, cand.scores), aux

    # ------------------------------------------------------------ API
    @torch.no_grad()
    def initialize(self, image: np.ndarray, box_xywh, frame_format: str = "BGR") -> None:
        """Start tracking the target ``box_xywh`` (x, y, w, h pixels) in ``image``
        (HxWx3 uint8 in ``frame_format`` "BGR" or "RGB"; grayscale/RGBA/16-bit
        are converted)."""
        _check_format(frame_format)
        image = as_uint8_image(image)
        box = validate_box_xywh(box_xywh, (image.shape[1], image.shape[0]))
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)  # detectron2's ROI sampling uses the global RNG

        ex = exemplar_geometry(box, self.exemplar_context, self.exemplar_px)
        exemplar_box = ex.box_to_crop(xywh_to_xyxy(box)[None])
        fill = self._fill(image)
        exemplar = ex.crop_image(image, fill)
        # Target 0: the exemplar; target 1: its mirror image, which guides the
        # flipped first-frame samples (training flips exemplar and search together).
        both = self.model.encode_targets(
            [self._to_tensor(exemplar, frame_format), self._to_tensor(exemplar[:, ::-1], frame_format)],
            torch.as_tensor(np.concatenate([exemplar_box, hflip_boxes(exemplar_box, self.exemplar_px)]),
                            dtype=torch.float32))
        if self.fold_tgm:
            both = self.model.fold_guidance(both)
        guidance = GuidedBackbone.index_guidance(both, torch.zeros(1, dtype=torch.long, device=self.device))
        theta0 = {k: v.detach().clone() for k, v in self.model.theta0().items()}
        self.state = TrackerState(box_xywh=box, frame_id=0, guidance=guidance, theta0=theta0, theta=theta0,
                                  init_samples=None, memory=collections.deque(maxlen=self.memory_size),
                                  init_side_px=target_side_px(box), present_xy=_centre_xy(box))

        # Paper 3.4: 16 samples from random horizontal flips and random crops,
        # run as one batch (sample 0 is the un-augmented search region).
        crops, boxes, flipped = [], [], []
        box_xyxy = xywh_to_xyxy(box)[None]
        for k in range(self.init_samples):
            geom = search_geometry(box, self.search_context, self.search_px) if k == 0 else \
                jitter_geometry(box, rng, self.init_shift, self.init_scale, self.search_context, self.search_px)
            crop, crop_box = geom.crop_image(image, fill), geom.box_to_crop(box_xyxy)[0]
            flip = k > 0 and rng.random() < 0.5
            if flip:
                crop, crop_box = crop[:, ::-1], hflip_boxes(crop_box[None], self.search_px)[0]
            crops.append(crop)
            boxes.append(np.clip(crop_box, 0, self.search_px))
            flipped.append(int(flip))
        images, features = self._features(crops, frame_format, both,
                                          torch.as_tensor(flipped, dtype=torch.long, device=self.device))
        self.state.init_samples = self.model.tracking_samples(images, features, np.stack(boxes),
                                                              rois_per_image=self.rois_per_sample)
        # Sample 0 is the un-augmented search region: the reference appearance.
        self.state.target_embedding = self.verifier.embed(features, torch.as_tensor(boxes[0]))[0]
        self.state.similarity_scale = self._similarity_scale(images, features, boxes, flipped, theta0)
        # θ_1 = f^{N_1}(θ_0; first-frame samples).
        self.state.theta = self._adapt(theta0, self.init_steps)
        self.last_confidence = 1.0
        self.last_updated = True

    @torch.no_grad()
    def track(self, image: np.ndarray, frame_format: str = "BGR") -> np.ndarray:
        """Target box (x, y, w, h) in ``image`` (as in ``initialize``); sets
        ``last_confidence``, ``lost``."""
        if self.state is None:
            raise RuntimeError("call initialize(image, box_xywh) before track(image)")
        _check_format(frame_format)
        image = as_uint8_image(image)
        state = self.state
        state.frame_id += 1
        geom = search_geometry(state.box_xywh, self.search_context, self.search_px)
        images, features, (boxes, scores), detect_aux = self.detect_in(image, geom, state.theta, frame_format)
        if self.refine and len(boxes):
            boxes, scores = self.model.rescore(features, boxes, state.theta, (self.search_px, self.search_px))
        prev_wh_crop = (float(state.box_xywh[2]) * geom.scale, float(state.box_xywh[3]) * geom.scale)
        loc = localize(boxes, scores, prev_wh_crop, self.search_px, self.window_influence,
                       self.sigma, self.size_lr, damped=self.size_lr_damped, log_space=self.size_log_space,
                       max_scale_step=self.max_scale_step)
        state.score = loc.score if loc is not None else 0.0
        state.lost = loc is None or state.score < self.lost_threshold
        state.similarity = (float(self.verifier.embed(features, boxes[loc.index]) @ state.target_embedding)
                            if loc is not None else -1.0) if self.measure_similarity else float("nan")
        state.presence = self._presence(state.score, state.similarity)
        present = state.presence >= self.presence_threshold if self.presence_model is not None else True
        state.absent_frames = 0 if present else state.absent_frames + 1
        state.redetected = False
        if not present:
            # Absent: the box stays where the target was last seen (or follows B*),
            # nothing is learned from this frame, and the whole frame may be searched.
            if self.redetect and state.absent_frames >= self.redetect_after and \
                    (state.absent_frames - self.redetect_after) % self.redetect_interval == 0:
                self._redetect(image, frame_format)
            if self.follow_when_absent and not state.redetected and not state.lost:
                self._follow(loc, geom, image)
        elif not state.lost:
            self._follow(loc, geom, image)
            state.present_xy = _centre_xy(state.box_xywh)
            if state.score >= self.collect_threshold and (
                    self.collect_similarity is None
                    or state.similarity_scale.normalize(state.similarity) >= self.collect_similarity):
                # One sample per confident frame that still looks like the first-frame
                # target, labelled by the estimate itself: used for classification
                # only (see online.py); the look-alikes seen beside it as negatives.
                crop_box = geom.box_to_crop(xywh_to_xyxy(state.box_xywh)[None])
                state.memory.append(self.model.tracking_samples(
                    images, features, np.clip(crop_box, 0, self.search_px), detect_aux,
                    rois_per_image=self.rois_per_sample, negatives=[self._distractors(boxes, scores, loc.index)]))
        self.last_updated = False
        if self.update_interval > 0 and state.frame_id % self.update_interval == 0 and state.memory \
                and self.update_steps > 0 and state.absent_frames == 0:
            collected = self.model.concat_samples(list(state.memory))
            state.theta = anchored_update(lambda p: self._adapt(p, self.update_steps, collected),
                                          state.theta0, state.theta, self.anchor_weight)
            self.last_updated = True
        self.last_confidence = state.presence
        return state.box_xywh.copy()

    def _follow(self, loc, geom, image: np.ndarray) -> None:
        """Move the state's box to B* (centre, damped size: localization.py)."""
        new_box = update_state(self.state.box_xywh, loc, geom, (image.shape[1], image.shape[0]))
        self.state.box_xywh = np.asarray(clamp_target_side(new_box, self.state.init_side_px, self.size_bounds),
                                         dtype=np.float64)

    # ------------------------------------------------------------ long-term
    def _presence(self, score: float, similarity: float) -> float:
        """P(target in the frame) of B* (presence.py); the detector's score when
        no presence model is configured."""
        if self.presence_model is None:
            return float(score)
        return self.presence_model(score, self.state.similarity_scale.normalize(similarity))

    def _similarity_scale(self, images, features, boxes, flipped, theta0) -> SimilarityScale:
        """This sequence's similarity levels from the first-frame crops: the target in
        the un-flipped augmented crops, and the 90th percentile of the other
        candidates of crop 0 (IoU < 0.3 with the target)."""
        keep = [k for k in range(1, len(boxes)) if not flipped[k]] or [0]
        target = [float(self.verifier.embed(features, torch.as_tensor(boxes[k]), k) @ self.state.target_embedding)
                  for k in keep]
        first = ImageList(images.tensor[:1], images.image_sizes[:1])
        results, _ = self.model.detect(first, {k: v[:1] for k, v in features.items()}, theta0, instances=False)
        cand = results[0]["candidates"]
        away = pairwise_iou(Boxes(cand.pred_boxes), Boxes(torch.as_tensor(np.stack(boxes[:1]), dtype=torch.float32,
                                                                           device=self.device)))[:, 0] < 0.3
        others = cand.pred_boxes[away][cand.scores[away].argsort(descending=True)][:20]
        background = (self.verifier.embed(features, others) @ self.state.target_embedding).cpu().numpy() \
            if len(others) else np.zeros(1)
        return SimilarityScale(target=float(np.mean(target)), background=float(np.quantile(background, 0.9)))

    def _redetect(self, image: np.ndarray, frame_format: str) -> None:
        """Search the whole frame (redetect.py); take the best candidate if its
        presence beats the local one by ``redetect_margin`` and the threshold."""
        state = self.state
        side = float(np.sqrt(state.box_xywh[2] * state.box_xywh[3]))
        centre = state.present_xy
        # Local-to-global: the target can only have gone so far since it was last seen.
        radius_px = side * (self.search_context / 2 + self.redetect_growth * state.absent_frames) \
            if self.redetect_growth > 0 else math.inf
        tiles = tile_geometries((image.shape[1], image.shape[0]), side, self.search_context, self.search_px,
                                max_tiles=self.redetect_max_tiles, near_xy=centre, radius_px=radius_px)
        fill = self._fill(image)
        best = (max(state.presence + self.redetect_margin, self.presence_threshold), None)
        for start in range(0, len(tiles), 8):
            batch = tiles[start:start + 8]
            images, features = self._features([g.crop_image(image, fill) for g in batch], frame_format)
            results, _ = self.model.detect(images, features, state.theta, instances=False)
            for i, (geom, result) in enumerate(zip(batch, results)):
                cand = result["candidates"]
                top = cand.scores.argsort(descending=True)[:3]
                sims = self.verifier.embed(features, cand.pred_boxes[top], i) @ state.target_embedding
                for row, sim in zip(top.tolist(), sims.tolist()):
                    presence = self._presence(float(cand.scores[row]), sim)
                    if presence > best[0]:
                        box_xyxy = geom.box_from_crop(cand.pred_boxes[row:row + 1].cpu().numpy().astype(np.float64))[0]
                        if math.hypot(0.5 * (box_xyxy[0] + box_xyxy[2]) - centre[0],
                                      0.5 * (box_xyxy[1] + box_xyxy[3]) - centre[1]) <= radius_px:
                            best = (presence, box_xyxy, float(cand.scores[row]), sim)
        if best[1] is None:
            return
        presence, (x0, y0, x1, y1), state.score, state.similarity = best
        box = clamp_target_side((x0, y0, x1 - x0, y1 - y0), state.init_side_px, self.size_bounds)
        state.box_xywh = np.asarray(box, dtype=np.float64)
        state.presence, state.absent_frames, state.redetected = presence, 0, True
        state.present_xy = _centre_xy(state.box_xywh)

    def _distractors(self, boxes: torch.Tensor, scores: torch.Tensor, best: int) -> List[int]:
        """Rows of the candidates that score at least ``distractor_score`` away from
        B* (IoU < 0.3): the look-alikes of this frame, highest first."""
        if self.distractor_score > 1.0 or not len(boxes):
            return []
        away = pairwise_iou(Boxes(boxes), Boxes(boxes[best:best + 1]))[:, 0] < 0.3
        rows = torch.nonzero(away & (scores >= self.distractor_score)).flatten()
        return rows[scores[rows].argsort(descending=True)][: self.max_distractors].tolist()

    @property
    def lost(self) -> bool:
        return bool(self.state is not None and self.state.lost)
