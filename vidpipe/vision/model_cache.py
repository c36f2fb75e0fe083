"""Heavy models load lazily, once per process, under a lock.

A model object is cheap to construct; ``load()`` does the expensive part the first time it is
needed. ``shared_model`` keeps one instance per key (weights, device ...) for the life of the
process, so a second job in the same worker pays no load time.
"""

from __future__ import annotations

import threading
from typing import Callable, Hashable, TypeVar

T = TypeVar("T", bound="LazyModel")

_registry: dict[Hashable, "LazyModel"] = {}
_registry_lock = threading.Lock()


class LazyModel:
    """Base of every model wrapper: subclasses implement ``_load()``; callers use ``load()``.

    ``lock`` also serialises inference: neither a torch module on one device nor deepface's
    Keras models are meant to be driven from several threads at once.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._loaded = False
        self.load_seconds: float | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        if self._loaded:
            return
        import time

        with self.lock:
            if self._loaded:
                return
            start = time.perf_counter()
            self._load()
            self.load_seconds = time.perf_counter() - start
            self._loaded = True

    def _load(self) -> None:
        raise NotImplementedError


def shared_model(key: Hashable, factory: Callable[[], T]) -> T:
    """The process-wide instance for ``key``, created by ``factory`` on first use."""
    with _registry_lock:
        model = _registry.get(key)
        if model is None:
            model = factory()
            _registry[key] = model
        return model  # type: ignore[return-value]
