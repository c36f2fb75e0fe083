"""Object detection behind a small Protocol; the real backend is ultralytics YOLO."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from vidpipe.errors import ModelUnavailable
from vidpipe.vision.model_cache import LazyModel, shared_model
from vidpipe.vision.weights import YoloWeights, prepare_ultralytics_env, require_yolo_weights

if TYPE_CHECKING:
    from PIL import Image

    from vidpipe.config.settings import Settings


@dataclass(frozen=True)
class Box:
    """One detection, in the pixel coordinates of the image it was found in."""

    x1: float
    y1: float
    x2: float
    y2: float
    confidence: float
    class_name: str

    def scaled(self, factor: float) -> "Box":
        return Box(
            self.x1 * factor,
            self.y1 * factor,
            self.x2 * factor,
            self.y2 * factor,
            self.confidence,
            self.class_name,
        )


class Detector(Protocol):
    """What the detection stage needs from a detector."""

    #: Device the model runs on ("cpu", "cuda:0"), for the stage message.
    device: str
    #: Identity of the weights, part of the stage fingerprint.
    identity: str

    def detect(self, images: Sequence["Image.Image"]) -> list[list[Box]]:
        """Boxes for each image (RGB PIL images), in that image's pixels."""
        ...


def resolve_device(requested: str) -> str:
    """``auto`` → ``cuda:0`` when torch sees a GPU, else ``cpu``; anything else as given."""
    if requested and requested != "auto":
        return requested
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


class UltralyticsDetector(LazyModel):
    """ultralytics YOLO, loaded on first use; batched; half precision on CUDA."""

    def __init__(
        self,
        weights: YoloWeights,
        device: str,
        batch_size: int = 8,
        min_confidence: float = 0.25,
        image_size: int = 640,
    ):
        super().__init__()
        self.weights = weights
        self.device = device
        self.identity = weights.identity()
        self.batch_size = max(1, batch_size)
        self.min_confidence = min_confidence
        self.image_size = image_size
        self.half = device.startswith("cuda")
        self._model: Any = None  # an ultralytics YOLO, once loaded
        self.names: dict[int, str] = {}

    def _load(self) -> None:
        from ultralytics import YOLO

        require_safe_loading()
        try:
            model = YOLO(self.weights.source, task="detect")
        except (TypeError, RuntimeError, EOFError, OSError) as exc:
            # ultralytics' message for a checkpoint refused by weights_only, or a damaged file
            raise ModelUnavailable(
                f"cannot load YOLO weights {self.weights.source}: "
                f"{str(exc).replace('ERROR ❌️ ', '')}"
            ) from None
        model.to(self.device)
        self._model = model
        self.names = dict(model.names)

    def detect(self, images: Sequence["Image.Image"]) -> list[list[Box]]:
        self.load()
        results: list[list[Box]] = []
        with self.lock:
            for start in range(0, len(images), self.batch_size):
                batch = list(images[start : start + self.batch_size])
                predictions = self._model.predict(
                    batch,
                    imgsz=self.image_size,
                    conf=self.min_confidence,
                    device=self.device,
                    half=self.half,
                    verbose=False,
                    batch=len(batch),
                )
                for prediction in predictions:
                    boxes = prediction.boxes
                    xyxy = boxes.xyxy.float().cpu().numpy().tolist()
                    confs = boxes.conf.float().cpu().numpy().tolist()
                    classes = boxes.cls.int().cpu().numpy().tolist()
                    results.append(
                        [
                            Box(
                                *coords,
                                confidence=float(conf),
                                class_name=self.names.get(int(cls), str(int(cls))),
                            )
                            for coords, conf, cls in zip(xyxy, confs, classes)
                        ]
                    )
        return results


def require_safe_loading() -> None:
    """Make sure ultralytics loads checkpoints with ``weights_only``, even when something imported
    it before prepare_ultralytics_env() set ULTRALYTICS_SAFE_LOAD (it reads the flag at import)."""
    import ultralytics.nn.tasks as tasks

    if not hasattr(tasks, "_SafeLoad") or not tasks._SafeLoad.SUPPORTED:
        raise ModelUnavailable(
            "this ultralytics/torch cannot load checkpoints safely "
            "(weights_only); upgrade ultralytics to 8.4 and torch to 2.6 or later"
        )
    tasks.SAFE_LOAD = True


def load_detector_backend(spec: str, settings: "Settings") -> Detector:
    """The detector a ``detector = "module:callable"`` setting names."""
    import importlib

    from vidpipe.errors import ConfigError

    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute or "detector")
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"detector {spec!r}: {exc}") from None
    return shared_model(("detector", spec), lambda: factory(settings))


def get_detector(settings: "Settings") -> Detector:
    """The process-wide detector for these settings (raises ModelUnavailable without weights)."""
    if settings.detector:
        return load_detector_backend(settings.detector, settings)
    weights = require_yolo_weights(settings)
    prepare_ultralytics_env(settings)
    device = resolve_device(settings.device)
    key = (
        "yolo",
        weights.source,
        weights.identity(),
        device,
        settings.detection_batch_size,
        settings.detection_confidence,
    )
    return shared_model(
        key,
        lambda: UltralyticsDetector(
            weights, device, settings.detection_batch_size, settings.detection_confidence
        ),
    )
