"""Faces (TensorFlow) then detection (torch) in one process, as the daemon does across jobs.

TensorFlow and triton both bundle LLVM; loaded in that order the process aborts. The face model
loader imports the torch stack first; this test would die with SIGABRT without it.
"""

import subprocess
import sys

import pytest

SCRIPT = """
from vidpipe.config.settings import Settings
from vidpipe.vision.weights import prepare_deepface_env
prepare_deepface_env(Settings(models_dir=__import__('pathlib').Path(r'{models}')))
import tensorflow
import torchvision.ops
from ultralytics import YOLO
print("both stacks loaded")
"""


@pytest.mark.slow
def test_tensorflow_then_torch_in_one_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(models=tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "both stacks loaded" in result.stdout
