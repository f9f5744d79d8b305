"""Run a tracker on a video file, an image folder or a webcam.

``track_video`` feeds every frame to a got10k ``Tracker``, writes an annotated
video and ``boxes.txt`` (``x,y,w,h`` per frame, 5th column confidence on request).
Frames are decoded one thread ahead and the annotated video is encoded in
another, so the loop runs at the tracker's own speed.
"""
import logging
import math
import os
import queue
import sys
import threading
import time

import cv2
import numpy as np
from PIL import Image

from ..frames import load_rgb_frame  # gray / RGBA / 16-bit frames to 8-bit RGB
from ..io import atomic_write_text

__all__ = ["parse_box_arg", "track_video", "draw_box", "IMAGE_EXTENSIONS"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_DEFAULT_FPS = 30.0
# (fourcc, file name) tried in order; the last resort is a folder of JPEG frames.
_VIDEO_CODECS = (("mp4v", "tracked.mp4"), ("MJPG", "tracked.avi"))


def parse_box_arg(text) -> np.ndarray:
    """Parse ``"x,y,w,h"`` (commas and/or spaces) into a float (4,) xywh box.

    Raises:
        ValueError: with the expected format when ``text`` is not 4 finite numbers
            with positive width and height.
    """
    parts = str(text).replace(",", " ").split()
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = None
    return _check_box(values, text)


_BOX_USAGE = "expected --init-box x,y,w,h (4 numbers in pixels, e.g. 100,80,40,60)"


def _check_box(values, original) -> np.ndarray:
    if values is None or len(values) != 4:
        raise ValueError(f"Invalid box {original!r}: {_BOX_USAGE}")
    box_xywh = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(box_xywh)):
        raise ValueError(f"Invalid box {original!r}: values must be finite; {_BOX_USAGE}")
    if box_xywh[2] <= 0 or box_xywh[3] <= 0:
        raise ValueError(f"Invalid box {original!r}: width and height must be > 0; {_BOX_USAGE}")
    return box_xywh


def _as_box(box):
    """``init_box_xywh`` as given to track_video (string or 4 numbers) -> validated (4,) array."""
    if box is None:
        return None
    if isinstance(box, str):
        return parse_box_arg(box)
    return _check_box(np.asarray(box, dtype=np.float64).ravel().tolist(), box)


def draw_box(frame_bgr, box_xywh, color=(0, 0, 255), thickness=2, label=None):
    """Draw an xywh box (and an optional label above it) on a BGR frame, in place."""
    box_xywh = np.asarray(box_xywh, dtype=np.float64)
    if not np.all(np.isfinite(box_xywh)):
        return frame_bgr
    x, y, w, h = (int(round(v)) for v in box_xywh)
    cv2.rectangle(frame_bgr, (x, y), (x + w - 1, y + h - 1), color, thickness)
    if label:
        cv2.putText(frame_bgr, label, (max(x, 0), max(y - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1,
                    cv2.LINE_AA)
    return frame_bgr


def _open_source(source):
    """Return (frames iterator of BGR uint8 arrays, fps, frame count or None, description)."""
    if isinstance(source, (int, np.integer)) or (
            isinstance(source, str) and source.isdigit() and not os.path.exists(source)):
        return _capture_frames(int(source), f"webcam {int(source)}")
    path = os.fspath(source)
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise FileNotFoundError(f"No image ({', '.join(IMAGE_EXTENSIONS)}) in folder {path!r}")
        return _folder_frames([os.path.join(path, f) for f in files]), _DEFAULT_FPS, len(files), path
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Video source {path!r} is neither a file, a folder nor a webcam id")
    return _capture_frames(path, path)


def _capture_frames(source, description):
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise IOError(f"OpenCV cannot open {description!r} (unsupported codec, missing camera or bad file)")
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and math.isfinite(fps) and 0 < fps < 1000 else _DEFAULT_FPS
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))

    def frames():
        try:
            while True:
                ok, frame_bgr = capture.read()
                if not ok:
                    return
                yield frame_bgr
        finally:
            capture.release()

    return frames(), fps, (count if count > 0 else None), description


def _folder_frames(files):
    # OpenCV decodes straight to 8-bit BGR (gray, RGBA and 16-bit frames converted)
    # and faster than PIL + a colour conversion; EXIF orientation ignored, as PIL
    # (and so the benchmark path) does. What OpenCV cannot read goes through
    # load_rgb_frame, which reads what PIL can or raises a clear error.
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    for path in files:
        frame_bgr = cv2.imread(path, flags)
        if frame_bgr is None:
            frame_bgr = cv2.cvtColor(np.asarray(load_rgb_frame(path)), cv2.COLOR_RGB2BGR)
        yield frame_bgr


_END = object()


def _prefetched(frames, depth=4):
    """``frames`` decoded in a background thread, ``depth`` ahead: OpenCV and PIL
    release the GIL while decoding, so reading overlaps tracking. An error in the
    reader is raised here, at the frame it happened."""
    items = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read():
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        items.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_END)
        except BaseException as e:  # noqa: B902  handed to the consumer
            items.put(e)

    thread = threading.Thread(target=read, name="frame-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class _BackgroundWriter:
    """Encodes and writes annotated frames in a thread (encoding releases the GIL);
    ``release`` waits for every queued frame. An error is raised at the next call."""

    def __init__(self, writer, depth=8):
        self.writer, self.path = writer, writer.path
        self.items, self.error = queue.Queue(maxsize=depth), None
        self.thread = threading.Thread(target=self._run, name="video-writer", daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            frame = self.items.get()
            if frame is _END:
                return
            if self.error is None:
                try:
                    self.writer.write(frame)
                except BaseException as e:  # noqa: B902  raised in the caller's thread
                    self.error = e

    def write(self, frame_bgr):
        if self.error is not None:
            raise self.error
        self.items.put(frame_bgr)

    def release(self):
        self.items.put(_END)
        self.thread.join()
        self.writer.release()
        if self.error is not None:
            raise self.error


class _AnnotatedWriter:
    """cv2.VideoWriter with the first codec that works, else numbered JPEG frames."""

    def __init__(self, output_dir, fps, frame_size_wh):
        self.writer, self.path = None, None
        for fourcc, file_name in _VIDEO_CODECS:
            path = os.path.join(output_dir, file_name)
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, frame_size_wh)
            if writer.isOpened():
                self.writer, self.path = writer, path
                return
            writer.release()
            if os.path.exists(path):
                os.remove(path)
        self.path = os.path.join(output_dir, "tracked_frames")
        os.makedirs(self.path, exist_ok=True)
        logger.warning("No working video codec (%s): writing annotated frames to %s",
                       ", ".join(c for c, _ in _VIDEO_CODECS), self.path)
        self.frame_id = 0

    def write(self, frame_bgr):
        if self.writer is not None:
            self.writer.write(frame_bgr)
        else:
            self.frame_id += 1
            cv2.imwrite(os.path.join(self.path, f"{self.frame_id:08d}.jpg"), frame_bgr)

    def release(self):
        if self.writer is not None:
            self.writer.release()


def _has_display():
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _select_box(frame_bgr):
    """Let the user draw the initial box (needs a display and OpenCV's GUI build)."""
    message = ("No initial box: pass --init-box x,y,w,h (interactive selection needs a display and "
               "an OpenCV build with GUI support)")
    if not _has_display():
        raise ValueError(message)
    try:
        x, y, w, h = cv2.selectROI("Select the target, then press ENTER", frame_bgr, showCrosshair=True)
        cv2.destroyAllWindows()
    except cv2.error as e:
        raise ValueError(f"{message}; OpenCV said: {e}") from e
    if w <= 0 or h <= 0:
        raise ValueError("Box selection cancelled: " + message)
    return np.array([x, y, w, h], dtype=np.float64)


def track_video(tracker, source, init_box_xywh, output_dir, write_confidence=False, show=False) -> dict:
    """Track one target through a video, an image folder or a webcam stream.

    Args:
        tracker: a got10k ``Tracker`` (``init(PIL RGB image, xywh)``, ``update(image) -> xywh``).
        source: video file path, folder of frames (sorted by name), or webcam id (int or digit string).
        init_box_xywh: first-frame box, or None to draw it with ``cv2.selectROI`` (needs a display).
        output_dir (str): receives the annotated video (``tracked.mp4``, ``tracked.avi`` or a
            ``tracked_frames/`` folder when no codec works) and ``boxes.txt``.
        write_confidence (bool): add ``tracker.last_confidence`` as a 5th column (nan if absent).
        show (bool): display frames while tracking (ESC or q stops).

    Returns:
        dict(video_path, boxes_path, num_frames, fps, wall_fps): ``fps`` is the tracker's
        speed (as the benchmark's), ``wall_fps`` the whole loop's (reading, drawing, writing).
    """
    frames, video_fps, frame_count, description = _open_source(source)
    init, update = _bgr_calls(tracker)
    loop_start_s = time.perf_counter()
    init_box_xywh = _as_box(init_box_xywh)
    os.makedirs(output_dir, exist_ok=True)
    boxes_path = os.path.join(output_dir, "boxes.txt")
    lines, writer, tracking_time_s = [], None, 0.0
    logger.info("Tracking %s%s", description, f" ({frame_count} frames)" if frame_count else "")
    try:
        for frame_id, frame_bgr in enumerate(_prefetched(frames)):
            start = cv2.getTickCount()
            if frame_id == 0:
                if init_box_xywh is None:
                    init_box_xywh = _select_box(frame_bgr)
                    start = cv2.getTickCount()
                init(frame_bgr, init_box_xywh.copy())
                box_xywh = init_box_xywh
            else:
                box_xywh = np.asarray(update(frame_bgr), dtype=np.float64).reshape(4)
            tracking_time_s += (cv2.getTickCount() - start) / cv2.getTickFrequency()
            confidence = getattr(tracker, "last_confidence", None)
            confidence = float("nan") if confidence is None else float(confidence)
            line = ",".join(f"{v:.3f}" for v in box_xywh)
            lines.append(line + (f",{confidence:.5f}" if write_confidence else ""))

            label = f"#{frame_id}" + ("" if math.isnan(confidence) else f" {confidence:.2f}")
            annotated = draw_box(frame_bgr, box_xywh, label=label)  # the tracker keeps no frame: draw in place
            if writer is None:
                writer = _BackgroundWriter(
                    _AnnotatedWriter(output_dir, video_fps, (frame_bgr.shape[1], frame_bgr.shape[0])))
            writer.write(annotated)
            if show:
                state = _show(annotated)
                if state == "stop":
                    break
                show = state == "shown"
    finally:
        # Also on Ctrl-C or a tracker error: keep what was tracked so far.
        if writer is not None:
            writer.release()
        if lines:
            atomic_write_text(boxes_path, "\n".join(lines) + "\n")
        if show:
            _close_windows()
    if not lines:
        raise IOError(f"No frame could be read from {description!r}")
    fps = (len(lines) / tracking_time_s) if tracking_time_s > 0 else None
    wall_fps = len(lines) / max(time.perf_counter() - loop_start_s, 1e-9)
    logger.info("Tracked %d frames (tracker %.1f fps; %.1f fps with reading, drawing and writing); video: %s, "
                "boxes: %s", len(lines), fps or 0, wall_fps, writer.path, boxes_path)
    return {"video_path": writer.path, "boxes_path": boxes_path, "num_frames": len(lines), "fps": fps,
            "wall_fps": wall_fps}


def _bgr_calls(tracker):
    """(init, update) taking OpenCV's BGR frames: the tracker's own BGR entry points
    where it has them (no whole-frame conversion per frame), else got10k's PIL RGB ones."""
    if hasattr(tracker, "init_bgr") and hasattr(tracker, "update_bgr"):
        return tracker.init_bgr, tracker.update_bgr

    def to_pil(frame_bgr):
        return Image.fromarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))

    return (lambda frame_bgr, box: tracker.init(to_pil(frame_bgr), box)), \
        (lambda frame_bgr: tracker.update(to_pil(frame_bgr)))


def _show(frame_bgr) -> str:
    """Display a frame: "shown", "stop" (ESC or q pressed) or "unavailable" (no GUI)."""
    try:
        cv2.imshow("guided_tracking", frame_bgr)
        key = cv2.waitKey(1) & 0xFF
    except cv2.error as e:
        # Headless OpenCV builds: keep tracking and writing outputs, just without display.
        logger.warning("show=True needs a display and OpenCV with GUI support; not showing frames (%s)",
                       str(e).strip().splitlines()[-1])
        return "unavailable"
    return "stop" if key in (27, ord("q")) else "shown"


def _close_windows():
    try:
        cv2.destroyAllWindows()
    except cv2.error:
        pass
