"""The rows the tables read (final, ok, validation-selected; read once from the store) and their
vocabulary: label, dataset group, alignment, features, ratio."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from mmgc.errors import InputError
from mmgc.harness.schema import ORIGINAL
from mmgc.harness.store import ResultStore

READ_COLUMNS = ("experiment", "phase", "trial_id", "dataset", "dataset_variant", "ratio", "n", "method",
                "method_label", "method_config", "config_hash", "condense_seed", "condense_arch", "arch", "eval_seed",
                "metric", "val_metric", "test_metric", "status", "mlflow_run_id", "artifact_path", "regularizers",
                "feature_steps", "eval_recipe")
ALIGNMENTS = ("aligned", "unaligned")
FUSED = "fused"
FEATURE_ORDER = ("text", "image", FUSED)  # Figure 3's slots first; other modalities (audio, ...) sort between


def feature_rank(feature: str) -> tuple[int, str]:
    """Sort key of a features value: text, image, any other modality by name, fused last."""
    if feature == FUSED:
        return (len(FEATURE_ORDER), feature)
    return (FEATURE_ORDER.index(feature), feature) if feature in FEATURE_ORDER else (len(FEATURE_ORDER) - 1, feature)

# feature encoders and the alignment they give (MM-GRAPH's CLIP and ImageBind embed text and image in
# one joint space; T5 + ViT/DINO are separate encoders)
ENCODER_ALIGNMENT = {"clip": "aligned", "imagebind": "aligned", "t5vit": "unaligned", "t5dino": "unaligned",
                     "synthetic-aligned": "aligned", "synthetic-unaligned": "unaligned"}
# options that make a single-modality variant of a dataset (they do not name another dataset group)
SINGLE_MODALITY_KEYS = ("modality_names", "dims", "signal", "noise", "conflict", "conflict_modality")


def row_label(row: Mapping[str, Any]) -> str:
    """The row's stored label (its experiment entry's ``label``); the method name for rows written
    before labels were stored."""
    return str(row.get("method_label") or row.get("method"))


def is_original(row: Mapping[str, Any]) -> bool:
    """Whether the row trained on the whole graph (the experiment's original entry)."""
    return row.get("method") == ORIGINAL


def method_config(row: Mapping[str, Any]) -> dict[str, Any]:
    try:
        config = json.loads(row.get("method_config") or "{}")
    except (TypeError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def parse_variant(variant: str | None) -> dict[str, str]:
    """``'alignment=unaligned;features=text'`` -> ``{'alignment': 'unaligned', 'features': 'text'}``."""
    out: dict[str, str] = {}
    for part in (variant or "").split(";"):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def alignment_of(row: Mapping[str, Any]) -> str:
    """``alignment`` of the variant; else the alignment of its ``encoder`` (`ENCODER_ALIGNMENT`);
    else ``aligned`` (every dataset's default variant is aligned)."""
    variant = parse_variant(row.get("dataset_variant"))
    if "alignment" in variant:
        return variant["alignment"]
    return ENCODER_ALIGNMENT.get(variant.get("encoder", ""), "aligned")


def features_of(row: Mapping[str, Any]) -> str:
    """``features`` of the variant; else the one modality kept (``modalities=text``, or a
    single-modality generated variant ``modality_names=text``); else ``fused``."""
    variant = parse_variant(row.get("dataset_variant"))
    if "features" in variant:
        return variant["features"]
    for key in ("modalities", "modality_names"):
        names = [n for n in variant.get(key, "").split(",") if n]
        if len(names) == 1:
            return names[0]
    return FUSED


def dataset_group(row: Mapping[str, Any]) -> str:
    """The dataset name plus the variant keys other than alignment, encoder and features (and, for a
    single-modality variant, the keys that make it single-modality)."""
    variant = parse_variant(row.get("dataset_variant"))
    drop = {"alignment", "encoder", "features", "modalities"}
    if features_of(row) != FUSED and "features" not in variant and "modalities" not in variant:
        drop |= set(SINGLE_MODALITY_KEYS)
    rest = {k: v for k, v in variant.items() if k not in drop}
    return str(row.get("dataset")) + "".join(f" [{k}={v}]" for k, v in sorted(rest.items()))


def format_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio * 100:.4g}%"


def sort_key_ratio(value: Any) -> float:
    return float(value) if value is not None else math.inf


@dataclass
class Results:
    """Final ok rows of one or more experiments, read once from the store."""

    rows: list[dict[str, Any]]
    experiments: list[str]
    results_root: str
    mlflow_uri: str | None = None


def load_results(results_root: str, experiments: Sequence[str], mlflow_uri: str | None = None,
                 phase: str = "final") -> Results:
    """The ``phase`` rows with status ok of every experiment in ``experiments`` (read through the
    store's DuckDB view, pruned to each experiment's folder); each row gets its ``label`` (`row_label`).

    Rows whose protocol selects on test (``selection = 'test'``) are left out: every table ranks and
    compares, and test-selected numbers are never ranked with validation-selected ones (the
    leaderboard and the report show them, marked)."""
    store = ResultStore(results_root)
    if store.local and not Path(store.root).is_dir():
        raise InputError(f"{results_root}: results root not found (expected the folder a sweep wrote; see --results)")
    cols = ", ".join(READ_COLUMNS)
    found: list[dict[str, Any]] = []
    used: list[str] = []
    for experiment in experiments:
        cursor = store.connect(experiment).execute(f"SELECT {cols} FROM results WHERE experiment = ? AND phase = ? AND status = 'ok' "
                                                   "AND coalesce(selection, 'val') = 'val'",
                             [experiment, phase])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r)) for r in cursor.fetchall()]
        if rows:
            found.extend(rows)
            used.append(experiment)
    for r in found:
        r["label"] = row_label(r)
    return Results(found, used, results_root, mlflow_uri)


def available_experiments(results_root: str) -> list[str]:
    """The experiment names that have final ok rows under ``results_root``."""
    con = ResultStore(results_root).connect()
    return [r[0] for r in con.execute("SELECT DISTINCT experiment FROM results WHERE phase = 'final' AND "
                                      "status = 'ok' ORDER BY 1").fetchall()]


def first_with_rows(results_root: str, candidates: Sequence[str], mlflow_uri: str | None) -> Results:
    for experiment in candidates:
        res = load_results(results_root, [experiment], mlflow_uri)
        if res.rows:
            return res
    return Results([], [], results_root, mlflow_uri)
