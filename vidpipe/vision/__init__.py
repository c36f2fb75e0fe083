"""Computer vision behind the detection and face stages: the models and their weights. What
the stages write to the database lives outside: vidpipe.pipeline.extracted (crop files and their rows),
vidpipe.pipeline.face_review (face groups and a person's merge/split decisions).

Nothing here imports torch, ultralytics, tensorflow or deepface at module import time: the heavy
libraries are imported inside the functions that load a model, so the TUI and the CLI start fast.
"""
