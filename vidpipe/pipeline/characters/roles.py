"""How an image shows its character: the head's turn from the face landmarks, a closeup, a
full-body person crop; and how sharp an image is.

Pure geometry on stored boxes and landmarks (no model), so roles are recomputed whenever the
groups are, for free.
"""

from __future__ import annotations

import math
from typing import Sequence

from vidpipe.pipeline.characters.views import Role

#: Nose tip ahead of the eyes' plane, as a fraction of the distance between the eyes: the
#: nose moves sideways by this times tan(yaw) eye-distances when the head turns (about 20 mm
#: against 60 mm on an adult face).
NOSE_DEPTH = 0.35
FRONT_MAX_YAW = (
    30.0  # degrees: within this the face looks at the camera (landmarks jitter by a few)
)
THREE_QUARTER_MAX_YAW = 70.0  # beyond, the far eye is about to hide: a profile
#: An uploaded image is a closeup of a face whose detected box covers at least this much of
#: it (the saved face crop, with its margin, then covers over half the image).
CLOSEUP_FACE_FRACTION = 0.25
#: A person crop holds a face when at least this much of the face box lies inside it.
HOLDS_FACE_FRACTION = 0.8
#: Sharpness is measured on the image scaled to this long side, so that a small crop and a
#: large photo are compared at one scale.
SHARPNESS_SIDE = 512
FACE_MARGIN = 0.25  # the face stage's margin around the detected box (for rows without one)

Box = Sequence[float]


def yaw_degrees(landmarks: dict | None) -> float | None:
    """How far the head is turned (0 = facing the camera, 90 = profile), or None when the
    landmarks do not tell (rows found before landmarks were kept)."""
    if not landmarks or "left_eye" not in landmarks or "right_eye" not in landmarks:
        return None
    (lx, ly), (rx, ry) = landmarks["left_eye"], landmarks["right_eye"]
    eye_distance = math.hypot(lx - rx, ly - ry)
    nose = landmarks.get("nose")
    if nose is None or eye_distance <= 0:
        return None
    # Along the eye line, so a tilted head reads as it should.
    ux, uy = (lx - rx) / eye_distance, (ly - ry) / eye_distance
    offset = (nose[0] - (lx + rx) / 2) * ux + (nose[1] - (ly + ry) / 2) * uy
    return math.degrees(math.atan2(abs(offset) / eye_distance, NOSE_DEPTH))


def face_role(landmarks: dict | None) -> Role:
    """front, three_quarter or profile; a face without landmarks is taken as front."""
    yaw = yaw_degrees(landmarks)
    if yaw is None or yaw <= FRONT_MAX_YAW:
        return Role.FRONT
    return Role.THREE_QUARTER if yaw <= THREE_QUARTER_MAX_YAW else Role.PROFILE


def face_box(landmarks: dict | None, crop_bbox: Box | None) -> tuple[float, ...] | None:
    """The detected face box in source pixels: stored with the landmarks, else the saved crop's
    box without its margin."""
    if landmarks and landmarks.get("box"):
        return tuple(float(v) for v in landmarks["box"])
    if not crop_bbox:
        return None
    x1, y1, x2, y2 = crop_bbox
    shrink = FACE_MARGIN / (1 + 2 * FACE_MARGIN)
    dx, dy = (x2 - x1) * shrink, (y2 - y1) * shrink
    return (x1 + dx, y1 + dy, x2 - dx, y2 - dy)


def area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def inside_fraction(inner: Box, outer: Box) -> float:
    """How much of ``inner`` lies within ``outer`` (0..1)."""
    ix = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    iy = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    whole = area(inner)
    return ix * iy / whole if whole > 0 else 0.0


def is_closeup(face: Box, width: int | None, height: int | None) -> bool:
    if not width or not height:
        return False
    return area(face) >= CLOSEUP_FACE_FRACTION * width * height


def holds_face(person_box: Box, face: Box) -> float:
    """How well a person crop holds a face: the inside fraction, 0 below the bar."""
    fraction = inside_fraction(face, person_box)
    return fraction if fraction >= HOLDS_FACE_FRACTION else 0.0


def sharpness(path, max_pixels: int, *, within) -> float:
    """Variance of the Laplacian of the grey image at SHARPNESS_SIDE: higher is sharper.
    ``within``: the folder the file must really lie in (see vidpipe.imaging)."""
    import numpy as np

    from vidpipe.imaging import load_rgb

    grey = load_rgb(path, max_pixels, max_side=SHARPNESS_SIDE, within=within).convert("L")
    pixels = np.asarray(grey, dtype=np.float32)
    if pixels.shape[0] < 3 or pixels.shape[1] < 3:
        return 0.0
    laplacian = (
        pixels[:-2, 1:-1]
        + pixels[2:, 1:-1]
        + pixels[1:-1, :-2]
        + pixels[1:-1, 2:]
        - 4 * pixels[1:-1, 1:-1]
    )
    return float(laplacian.var())
