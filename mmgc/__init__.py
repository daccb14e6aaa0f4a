"""mmgc: a harness for multimodal graph condensation (SR-GM and its baselines)."""

__version__ = "0.1.0"
