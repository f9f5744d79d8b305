"""Shared fixtures of the guided-tracking test-suite (CPU, seeded, tiny).

Stable fixture names (other test files rely on them):

``tiny_cfg(backbone="mnv2_fpn", opts=None)``
    A mutable detectron2 ``CfgNode`` built by ``get_guided_cfg()`` from the
    project's YAMLs, shrunk for speed: CPU device, ``MODEL.WEIGHTS ""``, FPN
    ``OUT_CHANNELS`` 16, ``ROI_HEADS.BATCH_SIZE_PER_IMAGE`` 16, ``FC_DIM`` 32,
    small RPN top-k, exemplar sizes ``[32, 64]`` (FPN) or ``[64]`` (C4), search
    side 64 px. ``backbone`` is one of

    - ``"mnv2_fpn"``: configs/CPU/guided_rcnn_mnv2_FPN.yaml, MobileNetV2-FPN
      without ImageNet weights (``MOBILENET.PRETRAINED False``);
    - ``"r50_fpn"``: configs/GOT-10k/guided_rcnn_R_50_FPN.yaml with a tiny
      ResNet (``DEPTH 18``, ``RES2_OUT_CHANNELS 64``, ``NORM "BN"``);
    - ``"r50_c4"``: the same tiny ResNet as a C4 backbone
      (``build_resnet_backbone``, single output ``res4`` for RPN and ROI heads;
      the ROI heads stay MetaROIHeads with the FC box head on ``res4``);
    - ``"mnv2_ssd"``: the one-stage GuidedSSD of
      configs/CPU/guided_ssd_mnv2_FPN.yaml (MobileNetV2-FPN P3-P5, no ImageNet
      weights), exemplar sizes ``[32, 64]`` (P3: 32, P4-P5: 64).

    ``opts`` is a flat ``[KEY, VALUE, ...]`` list merged last
    (``cfg.merge_from_list``), as on detectron2's command line.

``make_triplets(num, search_px=64, exemplar_px=64, seed=0)``
    ``num`` training triplets in the format ``GuidedRCNN.forward`` expects:
    ``{"exemplar": (3, E, E) float BGR 0-255, "exemplar_box": (4,) xyxy in
    exemplar pixels, "support"/"query": {"image": (3, S, S), "instances":
    Instances with one gt box (class 0)}}``. The target is painted as a
    textured rectangle of a per-triplet colour on a noise background, in the
    exemplar (centred, half its side, i.e. 2x context) and at a random place in
    each search image. Deterministic given ``seed`` (own generator, global RNG
    untouched). ``exemplar_px`` should be the largest MODEL.GUIDED.EXEMPLAR_SIZES
    (64 for every ``tiny_cfg``).

``tiny_model(backbone="mnv2_fpn", opts=None, seed=0)``
    ``build_model(tiny_cfg(backbone, opts))`` after ``torch.manual_seed(seed)``,
    in training mode.

``event_storage``
    An open detectron2 ``EventStorage`` (training forwards log to it).

Importing this conftest sets ``torch.set_num_threads(1)`` (override with the
environment variable ``GT_TEST_THREADS``): on these tiny tensors, OpenMP threads
only add synchronisation, and on a loaded machine their spin-waiting makes a
64 px forward tens of times slower.
"""
import os

import pytest
import torch

import guided_tracking  # noqa: F401  (shims + registration)
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from guided_tracking import get_guided_cfg

torch.set_num_threads(int(os.environ.get("GT_TEST_THREADS", "1")))

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO_ROOT, "configs")
BASE_YAML = os.path.join(CONFIGS, "Base-GuidedRCNN.yaml")
CPU_YAML = os.path.join(CONFIGS, "CPU", "guided_rcnn_mnv2_FPN.yaml")
SSD_CPU_YAML = os.path.join(CONFIGS, "CPU", "guided_ssd_mnv2_FPN.yaml")
R50_YAML = os.path.join(CONFIGS, "GOT-10k", "guided_rcnn_R_50_FPN.yaml")

BACKBONES = ("mnv2_fpn", "r50_fpn", "r50_c4", "mnv2_ssd")

# Settings shared by every tiny config (speed only; semantics stay the YAMLs').
_TINY_COMMON = [
    "MODEL.DEVICE", "cpu",
    "MODEL.WEIGHTS", "",
    "MODEL.FPN.OUT_CHANNELS", 16,
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 16,
    "MODEL.ROI_BOX_HEAD.FC_DIM", 32,
    "MODEL.RPN.BATCH_SIZE_PER_IMAGE", 32,
    "MODEL.RPN.PRE_NMS_TOPK_TRAIN", 200,
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", 32,
    "MODEL.RPN.PRE_NMS_TOPK_TEST", 100,
    "MODEL.RPN.POST_NMS_TOPK_TEST", 32,
    "MODEL.MOBILENET.PRETRAINED", False,
    "INPUT.GUIDED.SEARCH_SIZE", 64,
    "SOLVER.IMS_PER_BATCH", 2,
]
# A ResNet that builds and runs in milliseconds.
TINY_RESNET_OPTS = [
    "MODEL.DEVICE", "cpu",
    "MODEL.RESNETS.DEPTH", 18,
    "MODEL.RESNETS.RES2_OUT_CHANNELS", 64,
    "MODEL.RESNETS.NORM", "BN",
    "MODEL.FPN.OUT_CHANNELS", 16,
    "MODEL.ROI_BOX_HEAD.FC_DIM", 32,
]


def build_tiny_cfg(backbone: str = "mnv2_fpn", opts=None):
    """See the module docstring (fixture ``tiny_cfg``)."""
    cfg = get_guided_cfg()
    if backbone == "mnv2_fpn":
        cfg.merge_from_file(CPU_YAML)
        cfg.merge_from_list(_TINY_COMMON)
        cfg.merge_from_list(["MODEL.GUIDED.EXEMPLAR_SIZES", [32, 64],
                             "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [0, 0, 1, 1, 1]])
    elif backbone in ("r50_fpn", "r50_c4"):
        cfg.merge_from_file(R50_YAML)
        cfg.merge_from_list(_TINY_COMMON + TINY_RESNET_OPTS)
        if backbone == "r50_fpn":
            cfg.merge_from_list(["MODEL.GUIDED.EXEMPLAR_SIZES", [32, 64],
                                 "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [0, 0, 1, 1, 1]])
        else:
            cfg.merge_from_list([
                "MODEL.GUIDED.BACKBONE_NAME", "build_resnet_backbone",
                "MODEL.GUIDED.EXEMPLAR_SIZES", [64],
                "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [],
                "MODEL.RESNETS.OUT_FEATURES", ["res4"],
                "MODEL.RPN.IN_FEATURES", ["res4"],
                "MODEL.ROI_HEADS.IN_FEATURES", ["res4"],
                "MODEL.ANCHOR_GENERATOR.SIZES", [[16, 32, 64]],
            ])
    elif backbone == "mnv2_ssd":
        cfg.merge_from_file(SSD_CPU_YAML)
        cfg.merge_from_list(_TINY_COMMON)
        cfg.merge_from_list(["MODEL.GUIDED.EXEMPLAR_SIZES", [32, 64], "MODEL.GUIDED.EXEMPLAR_SIZE_OF_LEVEL", [0, 1, 1]])
    else:
        raise ValueError(f"unknown tiny backbone {backbone!r}; choose from {BACKBONES}")
    if opts:
        cfg.merge_from_list(list(opts))
    return cfg


def _instances(box_xyxy, size):
    inst = Instances((size, size))
    inst.gt_boxes = Boxes(torch.tensor([box_xyxy], dtype=torch.float32))
    inst.gt_classes = torch.zeros(1, dtype=torch.long)
    return inst


def _paint(image, box_xyxy, colour, generator):
    x0, y0, x1, y1 = [int(round(float(v))) for v in box_xyxy]
    h, w = y1 - y0, x1 - x0
    texture = torch.rand((1, h, w), generator=generator) * 40.0
    image[:, y0:y1, x0:x1] = (colour[:, None, None] + texture).clamp(0, 255)
    return image


def build_triplets(num: int, search_px: int = 64, exemplar_px: int = 64, seed: int = 0):
    """See the module docstring (fixture ``make_triplets``)."""
    g = torch.Generator().manual_seed(seed)
    triplets = []
    for _ in range(num):
        colour = torch.rand(3, generator=g) * 200.0
        exemplar = torch.rand((3, exemplar_px, exemplar_px), generator=g) * 255.0
        q = exemplar_px / 4.0
        exemplar_box = torch.tensor([q, q, 3 * q, 3 * q], dtype=torch.float32)
        _paint(exemplar, exemplar_box, colour, g)
        frames = {}
        for part in ("support", "query"):
            image = torch.rand((3, search_px, search_px), generator=g) * 255.0
            side = (0.25 + 0.25 * torch.rand(2, generator=g)) * search_px  # w, h in [S/4, S/2]
            side = side.round()
            xy = (torch.rand(2, generator=g) * (search_px - side)).floor()
            box = torch.cat([xy, xy + side]).tolist()
            _paint(image, box, colour, g)
            frames[part] = {"image": image, "instances": _instances(box, search_px)}
        triplets.append({"exemplar": exemplar, "exemplar_box": exemplar_box, **frames})
    return triplets


@pytest.fixture
def tiny_cfg():
    """Factory ``tiny_cfg(backbone="mnv2_fpn", opts=None) -> CfgNode``."""
    return build_tiny_cfg


@pytest.fixture
def make_triplets():
    """Factory ``make_triplets(num, search_px=64, exemplar_px=64, seed=0) -> list``."""
    return build_triplets


@pytest.fixture
def tiny_model():
    """Factory ``tiny_model(backbone="mnv2_fpn", opts=None, seed=0) -> GuidedRCNN`` (train mode)."""

    def _build(backbone: str = "mnv2_fpn", opts=None, seed: int = 0):
        torch.manual_seed(seed)
        model = build_model(build_tiny_cfg(backbone, opts))
        model.train()
        return model

    return _build


@pytest.fixture
def event_storage():
    """An open detectron2 EventStorage for training-mode forwards."""
    with EventStorage(0) as storage:
        yield storage


# ---------------------------------------------------------------- synthetic videos
# (added for the data / training / launch tests)
SYNTHETIC_VIDEOS = {"num_videos": 3, "num_frames": 12, "seed": 0, "image_size_wh": (96, 72)}


@pytest.fixture(scope="session")
def synthetic_videos(tmp_path_factory):
    """A DATASETS.ROOT (str) holding ``synthetic/train``: ``SYNTHETIC_VIDEOS``
    (3 videos x 12 frames of 96x72, seed 0) in GOT-10k layout, generated once per
    session by ``guided_tracking.data.synthetic.generate_videos``. The matching
    config keys are ``synthetic_dataset_opts(root)``."""
    from guided_tracking.data.synthetic import generate_videos

    root = tmp_path_factory.mktemp("datasets")
    v = SYNTHETIC_VIDEOS
    generate_videos(str(root / "synthetic"), v["num_videos"], v["num_frames"], v["seed"], split="train",
                    image_size_wh=v["image_size_wh"])
    return str(root)


def synthetic_dataset_opts(root: str):
    """Config opts training on the ``synthetic_videos`` fixture (``train_net`` finds them complete)."""
    v = SYNTHETIC_VIDEOS
    return ["DATASETS.ROOT", root, "DATASETS.TRAIN", ("synthetic_train",), "DATASETS.TEST", (),
            "DATASETS.SYNTHETIC.TRAIN_VIDEOS", v["num_videos"], "DATASETS.SYNTHETIC.FRAMES", v["num_frames"],
            "DATASETS.SYNTHETIC.SEED", v["seed"], "DATASETS.SYNTHETIC.SIZE", list(v["image_size_wh"])]


@pytest.fixture
def default_dataset_registry():
    """Restores the import-time registration of the standard dataset names
    (``$DETECTRON2_DATASETS``) after a test that registered them under another
    DATASETS.ROOT (``build_triplet_train_loader`` / ``train_net`` do)."""
    yield
    from guided_tracking.data.datasets import register_all_video_datasets

    register_all_video_datasets()


def randomize_tgm_guidance(module, seed=0, std=0.05):
    """Give every TGM's fuse conv non-zero guidance blocks, as after training.

    At init the TGM is the identity on the search features (its guidance blocks
    are zero), so tests of "is the guidance applied / do gradients reach the
    modulator" start from this state instead."""
    from guided_tracking.modeling.tgm import TargetGuidanceModule

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, TargetGuidanceModule):
                block = m.fuse.weight[:, m.channels:]
                block.copy_(torch.randn(block.shape, generator=g) * std)
    return module


@pytest.fixture(scope="module")
def single_threaded():
    """torch and OpenCV on one thread for a test module; the previous counts are restored.

    Tiny models run faster (and steadier) single-threaded on a shared 2-core machine.
    And with one thread OpenCV never starts its worker pool, which is not fork-safe: in
    a process whose pool has run, a forked child calling ``cv2.setNumThreads`` (as
    benchmark workers do) deadlocks, so such a module would hang a later fork-based test.
    """
    import cv2

    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)
