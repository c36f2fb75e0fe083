"""`vidpipe doctor` checks for the vision models (vidpipe.ops.doctor lists VISION_CHECKS): here,
not in vidpipe.vision, because vision sits below ops in the layers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from vidpipe.config.settings import Settings
from vidpipe.ops.diagnostics import Check
from vidpipe.vision.weights import (
    DLIB_WEIGHTS,
    YOLO_REMEDY,
    deepface_weights_dir,
    face_weights_problem,
    find_yolo_weights,
    packaged_dlib_weights,
)


def check_yolo_weights(settings: Settings, project: Path | None) -> Check:
    weights = find_yolo_weights(settings)
    if weights.architecture_only and weights.available:
        return Check(
            "yolo weights",
            "warn",
            f"{weights.spec} builds YOLO with random weights: detection runs but finds "
            "nothing real",
            "set yolo_weights to a .pt file; " + YOLO_REMEDY,
        )
    if weights.path is None:
        return Check(
            "yolo weights",
            "warn",
            f"{weights.spec!r} not found (looked in {settings.models_dir}): the detection "
            "stage is skipped",
            YOLO_REMEDY,
        )
    size = weights.path.stat().st_size / 1e6
    return Check("yolo weights", "ok", f"{weights.path} ({size:.1f} MB), device {settings.device}")


def check_face_weights(settings: Settings, project: Path | None) -> Check:
    name = f"faces ({settings.face_detector} + {settings.face_model})"
    if importlib.util.find_spec("deepface") is None:
        return Check(
            name, "fail", "deepface is not installed", "pip install -e . (or make install)"
        )
    problem = face_weights_problem(settings)
    if problem:
        return Check(name, "fail", problem, "pip install face-recognition-models")
    if settings.face_model != "Dlib":
        return Check(
            name,
            "warn",
            f"deepface downloads the {settings.face_model} weights on first "
            "use: needs network once",
            'use face_model = "Dlib" on offline machines',
        )
    installed = deepface_weights_dir(settings) / DLIB_WEIGHTS
    if installed.is_file():
        return Check(name, "ok", f"Dlib weights at {installed}")
    return Check(
        name,
        "ok",
        f"Dlib weights are copied from {packaged_dlib_weights()} to "
        f"{installed.parent} on first use",
    )


VISION_CHECKS = [check_yolo_weights, check_face_weights]
