"""Per-epoch curves of a condensation (its history), read from MLflow or from the condensed graph file."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from mmgc.graph import CondensedGraph
from mmgc.harness import tracking
from mmgc.harness.statistics import summary_of
from mmgc.harness.tables.rows import Results
from mmgc.harness.tracking import history_series

# the history keys (condensed graph info['history']) the figures draw: the validation metric at a
# checkpoint, the fraction of nodes with conflicting modality gradients, the Dirichlet energies
CHECKPOINT_KEY = "val"
CONFLICT_KEY = "conflict_frac"
DIRICHLET_KEYS = {"dirichlet_G": "E(G)", "dirichlet_Gp": "E(G') decoupled"}


def history_of(res: Results, row: Mapping[str, Any]) -> Any | None:
    """The condensation history of a row's trial: MLflow's history artifact, else the condensed file."""
    run_id = row.get("mlflow_run_id")
    uri = res.mlflow_uri or tracking.default_uri(res.results_root)
    if run_id:
        found_uri, run = tracking.find_run(run_id, [uri])
        if run is not None:
            history = tracking.load_history(found_uri, run_id)
            if history is not None:
                return history
    path = row.get("artifact_path")
    if path and Path(path).is_file():
        return CondensedGraph.load(path).info.get("history")
    return None


def trial_curves(res: Results, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, list[tuple[int, float]]]]:
    """One history (as series) per distinct trial among ``rows``."""
    seen: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        seen.setdefault(str(r.get("trial_id")), r)
    out = []
    for r in seen.values():
        history = history_of(res, r)
        if history is not None:
            out.append(history_series(history))
    return out


def mean_curve(curves: Sequence[Sequence[tuple[int, float]]]) -> tuple[list[int], list[float], list[float]]:
    """Steps, and the mean and population std of the curves' values at each step (`summary_of`; a
    step where no value is finite is left out)."""
    by_step: dict[int, list[float]] = defaultdict(list)
    for curve in curves:
        for step, value in curve:
            by_step[step].append(value)
    summaries = {step: s for step in sorted(by_step) if (s := summary_of(by_step[step])) is not None}
    return list(summaries), [s.mean for s in summaries.values()], [s.std for s in summaries.values()]
