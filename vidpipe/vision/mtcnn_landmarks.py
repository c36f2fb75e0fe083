"""mtcnn's nose and mouth landmarks, which deepface 0.0.103 drops.

mtcnn finds five landmarks per face; deepface's MtCnnClient passes on only the eyes, although
its FacialAreaRegion (and ``represent``'s ``facial_area``) carry nose and mouth corners for the
detectors that give them. The head's turn (front, three-quarter, profile) is read from the nose
against the eyes, so the one detector instance deepface caches is given a ``detect_faces`` that
keeps all five: same detection, same boxes, nothing computed twice.
"""

from __future__ import annotations

from typing import Any


def keep_mtcnn_landmarks(detector: Any) -> bool:
    """Make deepface's mtcnn ``detector`` report nose and mouth too. False if it is not one."""
    from deepface.models.face_detection.MtCnn import MtCnnClient

    if not isinstance(detector, MtCnnClient):
        return False
    detector.detect_faces = lambda img: _detect_faces(detector, img)
    return True


def _point(value) -> tuple[int, int] | None:
    return None if value is None else (int(value[0]), int(value[1]))


def _detect_faces(detector: Any, img) -> list:
    from deepface.models.Detector import FacialAreaRegion

    regions = []
    for found in detector.model.detect_faces(img[:, :, ::-1]) or []:  # mtcnn wants RGB
        x, y, w, h = found["box"]
        points = found["keypoints"]
        # deepface names eyes (and so mouth corners) as the person sees them, mtcnn as we do.
        regions.append(
            FacialAreaRegion(
                x=x,
                y=y,
                w=w,
                h=h,
                confidence=found["confidence"],
                left_eye=_point(points.get("right_eye")),
                right_eye=_point(points.get("left_eye")),
                nose=_point(points.get("nose")),
                mouth_left=_point(points.get("mouth_right")),
                mouth_right=_point(points.get("mouth_left")),
            )
        )
    return regions
