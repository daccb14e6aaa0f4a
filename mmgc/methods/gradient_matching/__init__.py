"""The gradient-matching engine shared by GCond, SR-GM, MSGC and SGDD (GCond's loop:
Jin et al., ICLR 2022, official code ``gcond_agent_transduct.py``).

- `config`: the shared settings (`GradientMatchingConfig`, `StructureLearningConfig`);
- `distances`: the matching distance between synthetic and real gradients (`match_distance`);
- `sampler`: GCond's per-class neighbourhood sampler of the real side (`ClassNeighborSampler`);
- `gradients`: the per-class real and synthetic gradients, batched over the classes or one by one;
- `state`: what one run prepared and carries (`Setup`, `Run`, `StepState`);
- `selection`: which synthetic graph a run returns (`Selector`, `ValidationSelector`);
- `engine`: the loop (`GradientMatchingMethod`) and the hooks a method overrides (`HOOKS`).
"""

from mmgc.methods.gradient_matching.config import (
    GCOND_FANOUTS, STRUCTURE_SEARCH_SPACE, GradientMatchingConfig, ScheduleConfig, SelectionConfig,
    StructureLearningConfig, check_fanouts, check_learning_rate,
)
from mmgc.methods.gradient_matching.distances import DISTANCES, match_distances
from mmgc.methods.gradient_matching.engine import (
    HOOKS, FrozenDenseAdjacency, GradientMatchingMethod, StructureLearningMethod,
)
from mmgc.methods.gradient_matching.sampler import ClassNeighborSampler, ClassSamples
from mmgc.methods.gradient_matching.selection import Selector, ValidationSelector
from mmgc.methods.gradient_matching.state import Run, Setup, StepState

__all__ = [
    "DISTANCES", "GCOND_FANOUTS", "HOOKS", "STRUCTURE_SEARCH_SPACE", "ClassNeighborSampler", "ClassSamples", "FrozenDenseAdjacency",
    "GradientMatchingConfig", "GradientMatchingMethod", "Run", "ScheduleConfig", "SelectionConfig", "Selector", "Setup",
    "StepState", "check_fanouts", "check_learning_rate",
    "StructureLearningConfig", "StructureLearningMethod", "ValidationSelector", "match_distances",
]
