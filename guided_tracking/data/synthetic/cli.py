"""``python -m guided_tracking.data.synthetic``: arguments and entry point."""
import argparse
import json
import logging
import os
from typing import Any, Optional, Sequence, Tuple

from .config import SyntheticConfig
from .writer import generate_videos

logger = logging.getLogger(__name__)

def _parse_size(text: str) -> Tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from exc
    return width, height


def _parse_override(text: str) -> Tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m guided_tracking.data.synthetic",
        description="Generate deterministic synthetic tracking videos (GOT-10k layout).",
    )
    parser.add_argument("--out", required=True, help="dataset root; sequences go to OUT/<split>/")
    parser.add_argument("--videos", type=int, required=True, help="number of sequences")
    parser.add_argument("--frames", type=int, required=True, help="frames per sequence")
    parser.add_argument("--seed", type=int, required=True, help="dataset seed (>= 0)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--size", type=_parse_size, default=(320, 240), help="WIDTHxHEIGHT, default 320x240")
    parser.add_argument("--textures", default=None, help="folder of images for backgrounds/textures")
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument("--workers", type=int, default=1, help="processes (output is the same for any value)")
    parser.add_argument("--preset", choices=("default", "longterm"), default="default",
                        help="longterm: the target leaves the view and is fully occluded for stretches "
                             "(absent frames labelled), for long-term tracking tests")
    parser.add_argument(
        "--set", dest="overrides", type=_parse_override, action="append", default=[], metavar="KEY=VALUE",
        help="override a SyntheticConfig field, e.g. --set occlusion_prob=0.1 (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI entry point; returns the process exit code."""
    args = build_arg_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.INFO,
            format="[%(asctime)s %(name)s] %(message)s",
            datefmt="%H:%M:%S",
        )
    base = SyntheticConfig.long_term() if args.preset == "longterm" else SyntheticConfig()
    config = base.replace(**dict(args.overrides))
    paths = generate_videos(
        args.out, args.videos, args.frames, args.seed, split=args.split, image_size_wh=args.size,
        textures=args.textures, config=config, jpeg_quality=args.jpeg_quality, workers=args.workers,
    )
    logger.info("%d sequences listed in %s", len(paths), os.path.join(args.out, args.split, "list.txt"))
    return 0
