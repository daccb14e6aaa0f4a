"""The result row: one evaluation of one condensed graph (or of the original graph) by one
architecture under one seed. Every trial writes rows with exactly these columns; the store, the
leaderboard and the tables read them. Types are Arrow type names (pyarrow is imported lazily)."""

from __future__ import annotations

from typing import Any, Mapping

from mmgc.methods.base import full_config

ORIGINAL = "original"
"""The ``method`` of the whole-graph rows (the tables' "Original" column): not a condensation method."""


def method_config(method: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``method_config`` of a row: the method's full config (`mmgc.methods.base.full_config`), or
    ``{}`` for the whole-graph entry."""
    return {} if method == ORIGINAL else full_config(method, values)


RESULT_COLUMNS: dict[str, str] = {
    # what was run
    "experiment": "string",        # experiment name (the YAML's `name`)
    "phase": "string",             # 'search' (an Optuna trial) or 'final' (best config re-run over seeds) or 'single'
    "trial_id": "string",          # unique id of the trial that wrote the row
    "dataset": "string",           # dataset name as registered (e.g. synth-ele-fashion, magb-toys+synthfeat)
    "dataset_variant": "string",   # options that change the data, e.g. 'alignment=unaligned;features=text'
    "setting": "string",           # transductive | inductive
    "ratio": "float64",            # n / N, N = nodes the method may see (inductive: train graph; transductive: whole graph)
    "n": "int64",                  # synthetic nodes actually produced
    "method": "string",            # registered method name, or 'original' for the whole-graph column
    "method_label": "string",      # the experiment entry's label, what the tables print (e.g. 'SR-GM w/o D'); = method by default
    "method_config": "string",     # the method's full config as JSON (sorted keys)
    "config_hash": "string",       # config_hash(method, config)
    "condense_seed": "int64",
    "condense_arch": "string",     # backbone used inside condensation (gradient matching, coreset embedding)
    "condense_seconds": "float64", # wall seconds of the condensation
    "condense_cpu_seconds": "float64",  # CPU seconds of the condensation, all threads of the process
    "condense_peak_mb": "float64", # peak resident memory of the process during condensation (MiB)
    "feature_steps": "int64",      # optimiser steps applied to the synthetic features (0: none learned)
    "structure_steps": "int64",    # optimiser steps applied to the synthetic structure
    "outer_steps": "int64",        # matching (outer) steps run, whatever they stepped
    "selected_epoch": "int64",     # condensation epoch of the kept checkpoint
    "dead_backbone": "float64",    # share of outer steps whose backbone gave every synthetic node the same logits (G_S = 0)
    "condensed_bytes": "int64",    # the graph evaluated, as stored: float32 features, int64 labels, kept edges (2 x int64 + float32 each)
    "original_bytes": "int64",     # the graph the method could see (train graph if inductive), in the same encoding
    "adj_mean": "float64",         # condensed graph: mean off-diagonal edge weight (0 = structure-free)
    "adj_density": "float64",      # condensed graph: fraction of off-diagonal entries >= edge_threshold
    # how it was evaluated
    "arch": "string",              # evaluation architecture
    "eval_seed": "int64",
    "edge_threshold": "float64",   # synthetic edges below this weight were dropped before evaluation
    "selection": "string",         # val (the evaluation model and condensed graph chosen on validation) | test
    "regularizers": "string",      # training-time regularizers as JSON ([] for none)
    "eval_recipe": "string",       # hash of the evaluation settings and regularizers: rows compare only within one recipe
    "metric": "string",            # accuracy | roc_auc
    "val_metric": "float64",       # on the original validation nodes (selection uses this only)
    "test_metric": "float64",      # on the original test nodes (recorded, never optimised)
    "best_epoch": "int64",
    "train_seconds": "float64",    # training the evaluation model (scoring excluded)
    "eval_seconds": "float64",     # training and scoring
    # provenance
    "device": "string",
    "node": "string",              # where the trial ran: hostname, plus the Ray node id under Ray
    "status": "string",            # ok | failed
    "error": "string",             # the error message when failed
    "package_version": "string",
    "git_commit": "string",
    "mlflow_run_id": "string",
    "artifact_path": "string",     # the condensed graph file, when kept
    "created_at": "string",        # ISO 8601 UTC
}


def make_row(**values: Any) -> dict[str, Any]:
    """A complete row: every column present (missing ones None); unknown columns are a bug."""
    unknown = sorted(set(values) - set(RESULT_COLUMNS))
    if unknown:
        raise KeyError(f"unknown result columns {unknown}")
    return {name: values.get(name) for name in RESULT_COLUMNS}


def arrow_schema():
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)() if kind != "string" else pa.string())
                      for name, kind in RESULT_COLUMNS.items()])
