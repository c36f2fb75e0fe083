"""Computer vision behind the detection and face stages.

Nothing here imports torch, ultralytics, tensorflow or deepface at module import time: the heavy
libraries are imported inside the functions that load a model, so the TUI and the CLI start fast.
"""
