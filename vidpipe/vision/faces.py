"""Face detection + embedding behind a small Protocol; the real backend is deepface.

One call per image does both (``DeepFace.represent`` detects, aligns and embeds every face), so
no image is decoded or detected twice. deepface answers "no face" with the whole image as a face
of confidence 0 when ``enforce_detection`` is off: those are dropped here, never turned into faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vidpipe.vision.model_cache import LazyModel, shared_model
from vidpipe.vision.mtcnn_landmarks import keep_mtcnn_landmarks
from vidpipe.vision.native_stderr import native_stderr_to_log
from vidpipe.vision.weights import ensure_dlib_weights, prepare_deepface_env

if TYPE_CHECKING:
    from PIL import Image

    from vidpipe.config.settings import Settings


@dataclass(frozen=True)
class Face:
    """One face, in the pixels of the image it was found in."""

    x1: float
    y1: float
    x2: float
    y2: float
    confidence: float
    embedding: list[float]
    # Landmarks in the same pixels ({"left_eye": (x, y), "right_eye": .., "nose": .., ...}),
    # those the detector gave; empty when it gave none.
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)


class FaceFinder(Protocol):
    device: str
    identity: str

    def find(self, image: "Image.Image") -> list[Face]:
        """Faces in an upright RGB image, each with its embedding."""
        ...


class DeepfaceFinder(LazyModel):
    def __init__(self, settings: "Settings"):
        super().__init__()
        self.settings = settings
        self.detector_backend = settings.face_detector
        self.model_name = settings.face_model
        self.identity = f"{self.detector_backend}+{self.model_name}"
        self.device = "cpu"
        self._deepface: Any = None  # deepface's DeepFace module, once loaded

    def _load(self) -> None:
        prepare_deepface_env(self.settings)
        if self.model_name == "Dlib":
            ensure_dlib_weights(self.settings)
        with native_stderr_to_log("tensorflow"):
            from deepface import DeepFace

            DeepFace.build_model(model_name=self.model_name, task="facial_recognition")
            detector = DeepFace.build_model(model_name=self.detector_backend, task="face_detector")
            keep_mtcnn_landmarks(detector)
            self._deepface = DeepFace
            try:
                import tensorflow as tf

                self.device = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
            except Exception:  # the device is only reported, never needed
                self.device = "cpu"

    def find(self, image: "Image.Image") -> list[Face]:
        import numpy as np

        self.load()
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        with self.lock:
            results = self._deepface.represent(
                img_path=bgr,
                model_name=self.model_name,
                detector_backend=self.detector_backend,
                enforce_detection=False,
                align=True,
            )
        faces = []
        for result in results:
            confidence = float(result.get("face_confidence") or 0.0)
            area = result["facial_area"]
            if confidence <= 0.0:
                continue  # deepface's whole-image stand-in for "no face found"
            x, y, w, h = (float(area[k]) for k in ("x", "y", "w", "h"))
            if w <= 0 or h <= 0:
                continue
            faces.append(
                Face(
                    x,
                    y,
                    x + w,
                    y + h,
                    confidence,
                    [float(v) for v in np.asarray(result["embedding"]).ravel()],
                    _landmarks(area),
                )
            )
        return faces


LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def _landmarks(area: dict) -> dict[str, tuple[float, float]]:
    return {
        name: (float(area[name][0]), float(area[name][1]))
        for name in LANDMARKS
        if area.get(name) is not None
    }


def get_face_finder(settings: "Settings") -> DeepfaceFinder:
    """The process-wide face finder for these settings."""
    key = ("deepface", settings.face_detector, settings.face_model, str(settings.models_dir))
    return shared_model(key, lambda: DeepfaceFinder(settings))
