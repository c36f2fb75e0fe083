"""One drawn fault of the soak (tests/scenarios/test_fault_soak.py): which fault, over how many
manifests and images, in which stage; the same seed draws the same fault."""

from __future__ import annotations

import random
from dataclasses import dataclass

from support.faults import FAULTS


@dataclass(frozen=True)
class FaultDraw:
    seed: int
    fault: str
    manifests: int
    images: int
    stage: str

    @classmethod
    def from_seed(cls, seed: int) -> "FaultDraw":
        rng = random.Random(seed)
        images = rng.randint(2, 5)
        # The prompts of fewer than four images may all be answered between two looks.
        stages = ["faces", "prompts"] if images >= 4 else ["faces"]
        return cls(seed, rng.choice(sorted(FAULTS)), rng.randint(1, 3), images, rng.choice(stages))

    @property
    def name(self) -> str:
        return f"{self.seed}-{self.fault}-{self.manifests}x{self.images}-in-{self.stage}"
