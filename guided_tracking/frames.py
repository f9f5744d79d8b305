"""Reading frames: any image file (gray, palette, RGBA, CMYK, 16-bit) as an 8-bit
RGB ``PIL.Image``, or a ``FrameReadError`` naming the file. The benchmark path and
the video path's folders read frames through here (conventions: ``boxes.py``)."""
import numpy as np
from PIL import Image

__all__ = ["FrameReadError", "load_rgb_frame"]


class FrameReadError(IOError):
    """A frame file is missing, truncated or not an image."""


def load_rgb_frame(path) -> Image.Image:
    """Read an image file as an 8-bit RGB ``PIL.Image``.

    Grayscale, palette, RGBA/LA and CMYK frames are converted to RGB; 16-bit frames
    are rescaled to 8 bit (PIL's own ``convert`` would clip them at 255).

    Raises:
        FrameReadError: naming ``path`` when the file cannot be decoded.
    """
    try:
        with Image.open(path) as image:
            # Decode now, inside the try: PIL opens lazily, so a truncated file
            # would otherwise fail later, deep inside the tracker.
            image.load()
            return _to_rgb8(image)
    except (OSError, ValueError, SyntaxError) as e:
        raise FrameReadError(f"Cannot read frame {path}: {e}") from e


def _to_rgb8(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image).astype(np.float64)
        # "I" is also used for 8-bit data stored in 32-bit ints: only rescale
        # when the values actually exceed the 8-bit range.
        if image.mode != "I" or values.max(initial=0) > 255:
            values = values / 257.0  # 65535 -> 255
        gray = np.clip(np.round(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    return image.convert("RGB")
