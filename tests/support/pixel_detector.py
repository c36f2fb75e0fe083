"""A detector for end-to-end tests on machines without YOLO weights.

Real weights cannot be downloaded here, and ``yolov8n.yaml`` (random weights) finds nothing, so
a run through the real entry points (``vidpipe process``, the daemon) would never cut a crop.
Set ``detector = "support.pixel_detector:PixelDetector"`` (or
``VIDPIPE_DETECTOR=...``) and every image gets 0-2 boxes chosen from a hash of its pixels: the
same image always gets the same boxes, in every process and on every rerun, as a real model
would, and different images get different ones. Everything after the detector is the real
pipeline: crops are cut, stored, face-searched and prompted.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING, Sequence

from vidpipe.vision.detector import Box

if TYPE_CHECKING:
    from PIL import Image

    from vidpipe.config.settings import Settings

OBJECT_CLASSES = ("car", "dog", "cup", "chair")


class PixelDetector:
    device = "cpu"
    identity = "pixel-hash-v1"
    loaded = True

    def __init__(self, settings: "Settings | None" = None):
        self.settings = settings

    def detect(self, images: Sequence["Image.Image"]) -> list[list[Box]]:
        return [self._boxes(image) for image in images]

    @staticmethod
    def _boxes(image: "Image.Image") -> list[Box]:
        thumb = image.convert("L").resize((16, 16))
        rng = random.Random(hashlib.sha256(thumb.tobytes()).digest())
        width, height = image.size
        boxes = []
        for index in range(rng.choice((0, 1, 1, 2, 2))):
            fw, fh = rng.uniform(0.3, 0.6), rng.uniform(0.35, 0.8)
            fx, fy = rng.uniform(0, 1 - fw), rng.uniform(0, 1 - fh)
            name = "person" if index == 0 and rng.random() < 0.6 else rng.choice(OBJECT_CLASSES)
            boxes.append(
                Box(
                    fx * width,
                    fy * height,
                    (fx + fw) * width,
                    (fy + fh) * height,
                    round(rng.uniform(0.5, 0.95), 3),
                    name,
                )
            )
        return boxes
