"""Model components, registered in detectron2's registries on import."""
from .guided_backbone import GuidedBackbone
from .guided_rcnn import GuidedRCNN
from .guided_ssd import GuidedSSD
from .maml import batch_params, inner_loop
from .meta_roi_heads import MetaROIHeads
from .rpn import GuidedRPN
from .ssd_head import SSDHead
from .vgg import VGG16, build_vgg16_backbone
from .mobilenet import MobileNetV2, build_mobilenetv2_backbone, build_mobilenetv2_fpn_backbone
from .tgm import Guidance, TargetGuidanceModule

__all__ = [k for k in dir() if not k.startswith("_")]
