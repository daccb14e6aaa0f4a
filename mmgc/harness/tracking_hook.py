"""The tracking hook of a sweep and its trials: where they are tracked. The base class tracks
nothing; `mmgc.harness.tracking.MlflowTracking` tracks them in MLflow."""

from __future__ import annotations

from typing import Any


class Tracking:
    """Where trials are tracked. The base class is the no-op default."""

    def recover(self, experiment: Any, results_root: str) -> list[str]:
        """Called by the sweep driver before `start_sweep`: tidy what a killed earlier driver left behind;
        returns one line per thing done, for the driver to print."""
        return []

    def start_sweep(self, experiment: Any, results_root: str) -> dict[str, Any] | None:
        """Called once by the sweep driver before any trial; returns the record put in ``spec.tracking``."""
        return None

    def log_trial(self, spec: Any, rows: list[dict[str, Any]], condensed: Any = None) -> str | None:
        """Called in the trial's process once its rows are complete (``spec`` a
        `mmgc.harness.trial.TrialSpec`); returns the run id (or None)."""
        return None

    def end_sweep(self, record: dict[str, Any] | None, status: str) -> None:
        """Called once by the sweep driver at the end ('FINISHED', 'FAILED' or 'KILLED')."""
        return None
