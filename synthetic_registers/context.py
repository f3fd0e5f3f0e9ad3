"""Everything later steps need to know about a chunk's persons, gathered once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic_registers.population import ChunkPlan


@dataclass
class ChunkPeople:
    plan: ChunkPlan
    start_day: int  # first day of the window
    end_day: int  # first day after the window
    sex: np.ndarray
    birth: np.ndarray
    entry: np.ndarray  # first day resident inside the window
    exit: np.ndarray  # first day no longer resident (death, emigration or window end)
    death: np.ndarray  # NEVER if alive at the window end
    emigration: np.ndarray
    immigration: np.ndarray
    origin: np.ndarray
    region: np.ndarray
    municipality: np.ndarray
    ses: np.ndarray  # latent socio-economic position, standard normal
    onsets: dict[str, np.ndarray]
    mother: np.ndarray  # index of the mother for births in the period, else -1

    def __len__(self) -> int:
        return len(self.sex)

    @property
    def years(self) -> range:
        return range(self.plan.start_year, self.plan.end_year + 1)
