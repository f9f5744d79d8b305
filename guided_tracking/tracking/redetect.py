"""Re-detection over the whole frame (long-term tracking).

When the target has been absent for a few frames, the guided detector looks at the
whole frame, not only at the 5x region around the last estimate: the frame is
covered by search crops at the target's own scale (each SEARCH_CONTEXT x the target
side, resampled to SEARCH_SIZE, so the target appears at the detector's canonical
size wherever it is), overlapping by half so any target lies well inside one of
them. Large frames with small targets would need hundreds of such crops: past
``max_tiles`` the crops grow (the target then appears smaller than canonical, down
to 1 / ``max_zoom_out`` of it, still inside the anchors' range) and past that the
frame is covered as far as ``max_tiles`` allows, nearest the last position first.

With ``radius_px`` the search is local-to-global (DaSiamRPN's long-term mode): only
the crops that reach within that distance of the last position are kept; the
tracker grows the radius with every absent frame (TRACKER.REDETECT_GROWTH), so a
look-alike far away cannot win a few frames after a short dip of the presence, and
the whole frame is still reached when the target stays away.
"""
import math
from typing import List, Sequence

from ..data.crop import CropGeometry

__all__ = ["tile_geometries"]


def _centres(extent: float, side: float, stride: float) -> List[float]:
    """Tile centres covering [0, extent] with tiles of ``side`` every ``stride``."""
    if extent <= side:
        return [0.5 * extent]
    count = int(math.ceil((extent - side) / stride)) + 1
    step = (extent - side) / (count - 1)
    return [0.5 * side + i * step for i in range(count)]


def _reach(centre: float, point: float, side: float) -> float:
    """Distance along one axis from ``point`` to a crop of ``side`` at ``centre``."""
    return max(abs(centre - point) - 0.5 * side, 0.0)


def tile_geometries(image_wh: Sequence[float], target_side_px: float, search_context: float, search_px: int,
                    max_tiles: int = 16, max_zoom_out: float = 2.0, near_xy=None,
                    radius_px: float = math.inf) -> List[CropGeometry]:
    """Square crops covering the frame at the target's scale (module doc).

    Args:
        image_wh: frame (W, H) in pixels.
        target_side_px: the target's side sqrt(w * h) in frame pixels.
        search_context: crop side / target side (SEARCH_CONTEXT).
        search_px: output crop side (SEARCH_SIZE).
        max_tiles: at most this many crops.
        max_zoom_out: crops may grow by up to this factor to cover the frame with
            ``max_tiles`` crops.
        near_xy: (x, y) to start from when the frame cannot be covered (the last
            position): the crops nearest to it are kept.
        radius_px: only crops whose square comes within this distance of
            ``near_xy`` (default: the frame's centre) are kept.
    """
    width, height = float(image_wh[0]), float(image_wh[1])
    near = (0.5 * width, 0.5 * height) if near_xy is None else near_xy
    side = search_context * max(float(target_side_px), 1.0)
    tiles = []
    for zoom in (1.0, math.sqrt(max_zoom_out), max_zoom_out):
        crop = side * zoom
        xs, ys = _centres(width, crop, 0.5 * crop), _centres(height, crop, 0.5 * crop)
        tiles = [CropGeometry((x, y), crop, search_px) for y in ys for x in xs
                 if _reach(x, near[0], crop) ** 2 + _reach(y, near[1], crop) ** 2 <= radius_px ** 2]
        if len(tiles) <= max_tiles:
            return tiles
    tiles.sort(key=lambda g: (g.center_xy[0] - near[0]) ** 2 + (g.center_xy[1] - near[1]) ** 2)
    return tiles[:max_tiles]
