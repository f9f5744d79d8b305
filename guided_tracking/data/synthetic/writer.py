"""Writing videos to disk in GOT-10k layout, resumable (parameter hash per sequence)."""
import hashlib
import json
import logging
import os
import shutil
import time
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

from .config import GENERATOR_VERSION, SyntheticConfig, sequence_name, video_seed_sequence
from .planning import _plan_video
from .render import _frame_annotations
from .textures import _load_texture_pool

logger = logging.getLogger(__name__)

def _params_hash(
    config: SyntheticConfig, image_size_wh, num_frames: int, seed: int, split: str, video_number: int,
    jpeg_quality: int, texture_fingerprint: str,
) -> str:
    """Stable hash of everything that determines a sequence's files."""
    payload = {
        "version": GENERATOR_VERSION,
        "config": config.to_dict(),
        "image_size_wh": [int(image_size_wh[0]), int(image_size_wh[1])],
        "num_frames": int(num_frames),
        "seed": int(seed),
        "split": split,
        "video_number": int(video_number),
        "jpeg_quality": int(jpeg_quality),
        "textures": texture_fingerprint,
    }
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def _read_params_hash(meta_path: str) -> Optional[str]:
    try:
        with open(meta_path, "r", encoding="utf-8") as f:
            for line in f:
                if line.startswith("params_hash:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _count_lines(path: str) -> int:
    try:
        with open(path, "r", encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return -1


def _is_complete(seq_dir: str, num_frames: int, params_hash: str) -> bool:
    """True when ``seq_dir`` holds a full sequence generated with ``params_hash``."""
    if _read_params_hash(os.path.join(seq_dir, "meta_info.ini")) != params_hash:
        return False
    for name in ("groundtruth.txt", "absence.label", "cover.label"):
        if _count_lines(os.path.join(seq_dir, name)) != num_frames:
            return False
    return all(os.path.isfile(os.path.join(seq_dir, f"{i:08d}.jpg")) for i in range(1, num_frames + 1))


def _write_text_if_changed(path: str, text: str) -> bool:
    """Atomically write ``text`` unless the file already holds it (keeps mtime)."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    tmp_path = f"{path}.tmp{os.getpid()}"
    with open(tmp_path, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp_path, path)
    return True


def _format_meta_info(params: Dict[str, Any], extra: Dict[str, Any], image_size_wh, num_frames: int) -> str:
    """GOT-10k style ``meta_info.ini`` (parseable by configparser)."""
    lines = [
        "[METAINFO]",
        f"object_class: {params['target_class']}",
        "root_class: synthetic shape",
        "major_class: synthetic shape",
        "motion_class: synthetic motion",
        "motion_adverb: randomly",
        f"resolution: ({int(image_size_wh[0])}, {int(image_size_wh[1])})",
        "anno_fps: 10Hz",
        f"num_frames: {num_frames}",
        f"generator: guided_tracking.data.synthetic v{GENERATOR_VERSION}",
    ]
    for key in sorted(extra):
        lines.append(f"{key}: {extra[key]}")
    for key in sorted(params):
        if key != "target_class":
            lines.append(f"{key}: {params[key]}")
    return "\n".join(lines) + "\n"


def _write_sequence(
    seq_dir: str, video_number: int, num_frames: int, seed: int, split: str, image_size_wh, textures: Optional[str],
    config: SyntheticConfig, jpeg_quality: int, params_hash: str,
) -> float:
    """Render one sequence into a temporary folder and rename it into place.

    Returns the frames per second achieved.  The rename makes an interrupted run
    leave either nothing or a complete sequence.
    """
    parent, name = os.path.split(seq_dir)
    tmp_dir = os.path.join(parent, f".tmp_{name}_{os.getpid()}")
    if os.path.exists(tmp_dir):
        shutil.rmtree(tmp_dir)
    os.makedirs(tmp_dir)
    start = time.perf_counter()
    try:
        rng = np.random.default_rng(video_seed_sequence(seed, split, video_number))
        plan = _plan_video(rng, num_frames, tuple(image_size_wh), config, textures)
        gt_lines, absence_lines, cover_lines = [], [], []
        encode_params = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)]
        for frame_id, (frame, ann) in enumerate(_frame_annotations(plan)):
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), encode_params)
            if not ok:
                raise RuntimeError(f"JPEG encoding failed for {name} frame {frame_id}")
            with open(os.path.join(tmp_dir, f"{frame_id + 1:08d}.jpg"), "wb") as f:
                f.write(data.tobytes())
            x, y, w, h = (float(v) for v in ann.box_xywh)
            gt_lines.append(f"{x:.4f},{y:.4f},{w:.4f},{h:.4f}")
            absence_lines.append("0" if ann.visible else "1")
            cover_lines.append(str(ann.cover))
        for file_name, lines in (
            ("groundtruth.txt", gt_lines),
            ("absence.label", absence_lines),
            ("cover.label", cover_lines),
        ):
            with open(os.path.join(tmp_dir, file_name), "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        extra = {
            "seed": seed,
            "split": split,
            "video_number": video_number,
            "jpeg_quality": jpeg_quality,
            "params_hash": params_hash,
            "config": json.dumps(config.to_dict(), sort_keys=True),
        }
        meta_text = _format_meta_info(plan.params, extra, image_size_wh, num_frames)
        # Written last: its params_hash marks the sequence as complete.
        with open(os.path.join(tmp_dir, "meta_info.ini"), "w", encoding="utf-8") as f:
            f.write(meta_text)
        if os.path.exists(seq_dir):
            shutil.rmtree(seq_dir)
        os.rename(tmp_dir, seq_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return num_frames / max(time.perf_counter() - start, 1e-9)


def _write_sequence_job(kwargs: Dict[str, Any]) -> float:
    """Picklable entry point for worker processes."""
    return _write_sequence(**kwargs)


def generate_videos(
    out_dir: str,
    num_videos: int,
    num_frames: int,
    seed: int,
    split: str = "train",
    image_size_wh: Tuple[int, int] = (320, 240),
    textures: Optional[str] = None,
    config: Optional[SyntheticConfig] = None,
    jpeg_quality: int = 90,
    workers: int = 1,
) -> List[str]:
    """Write ``num_videos`` sequences to ``out_dir/<split>`` in GOT-10k layout.

    Sequences already complete with identical parameters are left untouched
    (idempotent reruns; an interrupted run resumes).  Returns the sequence
    directories in list order.
    """
    if num_videos < 0 or num_frames < 1:
        raise ValueError("num_videos must be >= 0 and num_frames >= 1")
    if not split or os.sep in split or split.startswith("."):
        raise ValueError(f"Invalid split name {split!r}")
    config = config if config is not None else SyntheticConfig()
    textures = os.path.abspath(textures) if textures else None
    _, fingerprint = _load_texture_pool(textures)
    split_dir = os.path.join(out_dir, split)
    os.makedirs(split_dir, exist_ok=True)
    names = [sequence_name(split, i) for i in range(1, num_videos + 1)]
    jobs = []
    for number, name in enumerate(names, start=1):
        seq_dir = os.path.join(split_dir, name)
        params_hash = _params_hash(config, image_size_wh, num_frames, seed, split, number, jpeg_quality, fingerprint)
        if _is_complete(seq_dir, num_frames, params_hash):
            logger.debug("%s is complete, skipping", name)
            continue
        jobs.append(
            dict(
                seq_dir=seq_dir, video_number=number, num_frames=num_frames, seed=seed, split=split,
                image_size_wh=tuple(image_size_wh), textures=textures, config=config,
                jpeg_quality=jpeg_quality, params_hash=params_hash,
            )
        )
    logger.info(
        "%s: %d/%d sequences to generate (%d frames, %dx%d, seed %d)",
        split_dir, len(jobs), num_videos, num_frames, image_size_wh[0], image_size_wh[1], seed,
    )
    start = time.perf_counter()
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            for job, fps in zip(jobs, pool.map(_write_sequence_job, jobs)):
                logger.info("wrote %s (%.0f frames/s)", os.path.basename(job["seq_dir"]), fps)
    else:
        for job in jobs:
            fps = _write_sequence(**job)
            logger.info("wrote %s (%.0f frames/s)", os.path.basename(job["seq_dir"]), fps)
    if jobs:
        elapsed = time.perf_counter() - start
        logger.info(
            "generated %d frames in %.1f s (%.0f frames/s)",
            len(jobs) * num_frames, elapsed, len(jobs) * num_frames / max(elapsed, 1e-9),
        )
    _write_text_if_changed(os.path.join(split_dir, "list.txt"), "".join(f"{n}\n" for n in names))
    return [os.path.join(split_dir, n) for n in names]
