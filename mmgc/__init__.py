"""mmgc: a harness for multimodal graph condensation (SR-GM and its baselines)."""

from mmgc.runtime import apply_cpu_defaults as _apply_cpu_defaults

__version__ = "0.1.0"

_apply_cpu_defaults()  # before anything loads torch: one thread, passive OpenMP waiting, huge pages (mmgc.runtime)
