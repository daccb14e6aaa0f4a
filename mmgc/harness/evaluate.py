"""The one evaluation protocol (docs/design.md, "The evaluation protocol"), used by every table.

`evaluate` trains a fresh backbone on a condensed graph and scores it on the original graph;
`evaluate_original` trains the same backbone on the original training graph (the "Original" column).
Both return result rows (`mmgc.harness.schema.make_row`), one per architecture and evaluation seed.

The protocol (`EvalConfig` defaults, GCond's ``test_with_val``; its rules are written once in
`mmgc.models.protocol`, which the methods' checkpoint selection and the coresets share):

- the protocol's training recipe: a 2-layer backbone with 256 hidden units, dropout 0.5 when the
  dataset is transductive and 0 when inductive; 600 epochs of Adam, lr 0.01 then 0.001 from epoch
  300, weight decay 5e-4;
- the weights of the epoch with the best metric on the **original validation nodes** are kept and the
  **original test nodes** are reported: transductive graphs are predicted on the whole graph,
  inductive graphs on the subgraphs induced by the val and by the test nodes (`SplitScorer`);
  accuracy or ROC-AUC as the dataset says. Prediction is full-batch inference with sparse matmuls
  (no gradient): ``O(E + N * hidden)`` memory for a 2-layer GCN, a few GB at 700k nodes and 7M edges;
- synthetic edges below the protocol's weak-edge threshold are dropped first (``adj[adj < t] = 0``;
  by the size of the **original** graph, following GCond's tester; ``edge_threshold`` sets it). The
  threshold used is written in every row. (GCond used 0.5 for GAT on Cora/Citeseer; pass
  ``edge_threshold=0.5`` to reproduce that.)

"Original" trains on the graph a method may see (transductive: the whole graph with the train
labels; inductive: the train-induced subgraph), full-batch while it has at most
``full_batch_max_nodes`` nodes and otherwise with neighbour-sampled mini-batches
(`mmgc.models.protocol.GraphTrainer`, as the coresets' embedding; `mmgc.models.training.NeighborSampler`:
PyG's ``NeighborLoader`` needs pyg-lib or torch-sparse, which we do not install): ``epochs`` then
counts mini-batch steps of ``batch_size`` seeds with ``fanouts`` neighbours per hop, validated every
``sampled_eval_every`` steps.

Very sparse features (bag-of-words such as Cora's, ~1% non-zero) are handed to backbones that accept
them (``sparse_input``: GCN, SGC, SAGE, MLP) as a sparse CSR matrix for prediction and full-batch
"Original" training (``sparse_feature_density``); the results equal the dense ones up to float
rounding and the validation pass, which dominates the cost on such graphs, is several times faster.

Training-time regularizers: ``regularizers`` takes anything `mmgc.regularizers.parse_regularizers`
reads (``"optimag"``, ``"optimag:weight=0.1+dagr"``, a list of mappings or instances); their loss is
added through the training loop's ``extra_loss`` hook (`mmgc.regularizers.regularizer_loss`, seeded
with the evaluation seed) and their description goes into the row's ``regularizers`` column.
``extra_loss_factory(model, seed) -> extra_loss`` is the generic hook for anything else. Both
default to none.

Rows read these keys of ``condensed.info`` (what every method writes): ``method``, ``config``,
``ratio``, ``seed``, ``condense_arch``, and what `CondensationMethod.condense_measured` adds
(``wall_seconds``, ``cpu_seconds``, ``peak_memory_mb``); missing keys leave
their columns empty. `summarize` gives the harness's one summary (`mmgc.harness.statistics`): mean ±
population standard deviation (numpy's default, as GCond reports).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Literal, Mapping, Optional, Sequence

import torch
from torch import nn

from mmgc.adjacency import Adjacency
from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph, stored_bytes
from mmgc.harness.schema import ORIGINAL, make_row
from mmgc.harness.statistics import summary_of
from mmgc.methods.base import config_hash
from mmgc.models.base import build_backbone, get_backbone
from mmgc.models.protocol import (
    SMALL_GRAPH_NODES, GraphTrainer, TrainingRecipe, edge_threshold, threshold_edges, wants_sparse_features,
)
from mmgc.models.training import ExtraLoss, SplitScorer, accepts_sparse_features, seed_all, train_node_classifier
from mmgc.plugins import build_config
from mmgc.provenance import git_commit, node_name, now_iso, package_version
from mmgc.regularizers import describe_regularizers, parse_regularizers, regularizer_loss

INFO_COLUMNS = ("feature_steps", "structure_steps", "outer_steps", "selected_epoch", "dead_backbone")
"""The keys of ``CondensedGraph.info`` a row copies as they are: the optimisation budget a method spent,
and how much of it ran on a dead backbone."""

ExtraLossFactory = Callable[[nn.Module, int], Optional[ExtraLoss]]
"""``factory(model, eval_seed) -> extra_loss`` called once per trained model (None: no extra loss)."""

ProgressCallback = Callable[[str, dict], None]
"""``callback(event, payload)``: ``run_start`` {arch, seed, index, total, epochs}, ``epoch`` {epoch, loss,
val}, ``run_end`` {row}."""


@dataclass(frozen=True)
class EvalConfig(TrainingRecipe):
    """Settings of the evaluation protocol: the protocol's `TrainingRecipe` (backbone, dropout rule,
    optimisation, mini-batches for large graphs, sparse features) and the evaluation's own.

    Attributes:
        edge_threshold: synthetic edges below this weight are dropped; None = the protocol's rule
            (`mmgc.models.protocol.edge_threshold`: 0.05 if the original graph has fewer than
            ``small_graph_nodes`` nodes, else 0.01).
        small_graph_nodes: the size boundary of the default threshold.
        full_batch_max_nodes: "Original" trains full-batch up to this many training-graph nodes and
            with neighbour-sampled mini-batches above it (``batch_size``, ``fanouts``).
        sampled_eval_every: the mini-batch path validates every this many steps.
        selection: ``val`` (the protocol: weights kept at the best *validation* epoch) or ``test``
            (the SR-GM authors' evaluator: kept at the best *test* epoch; a flagged, optimistic
            protocol: every row records ``selection`` and tables never rank test-selected rows with
            validation-selected ones). A condensed graph whose checkpoint was itself chosen on test
            nodes (``select_split=test``) also gives ``selection=test`` rows.
        sparse_feature_density: bag-of-words features (Cora 1.3%, Citeseer 0.9% non-zero) are
            handed as a sparse matrix to backbones that accept it, for prediction and for full-batch
            "Original" training without regularizers.
    """

    edge_threshold: Optional[float] = None
    small_graph_nodes: int = SMALL_GRAPH_NODES
    sampled_eval_every: int = 20
    selection: Literal["val", "test"] = "val"

    settings_name: ClassVar[str] = "evaluation"
    positive_settings: ClassVar[tuple[str, ...]] = TrainingRecipe.positive_settings + ("small_graph_nodes",
                                                                                      "sampled_eval_every")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.edge_threshold is not None and not (math.isfinite(self.edge_threshold) and self.edge_threshold >= 0):
            raise InputError(f"evaluation edge_threshold: expected a weight >= 0, found {self.edge_threshold}")

    def threshold_for(self, graph: MultimodalGraph) -> float:
        return edge_threshold(graph, self.edge_threshold, self.small_graph_nodes)


def eval_settings(options: Mapping[str, Any] | None) -> tuple[EvalConfig, Any]:
    """(`EvalConfig`, regularizers) from an experiment's ``evaluation.options`` (+ ``regularizers``)."""
    options = dict(options or {})
    regularizers = options.pop("regularizers", None)
    return build_config(EvalConfig, options, where="evaluation.options"), regularizers


def _provenance(device: torch.device) -> dict[str, Any]:
    return {"device": str(device), "package_version": package_version(), "git_commit": git_commit(),
            "created_at": now_iso(), "node": node_name()}


def _condensed_columns(condensed: CondensedGraph) -> dict[str, Any]:
    info = condensed.info or {}
    method = info.get("method")
    config = info.get("config")
    columns = {
        "ratio": info.get("ratio"),
        "n": condensed.num_nodes,
        "method": method,
        "method_config": json.dumps(config, sort_keys=True, default=str) if config is not None else None,
        "config_hash": config_hash(method, config) if method is not None and config is not None else None,
        "condense_seed": info.get("seed"),
        "condense_arch": info.get("condense_arch"),
        "condense_seconds": info.get("wall_seconds"),
        "condense_cpu_seconds": info.get("cpu_seconds"),
        "condense_peak_mb": info.get("peak_memory_mb"),
        **{key: info.get(key) for key in INFO_COLUMNS},
    }
    return columns


def adjacency_columns(adj: torch.Tensor, threshold: float) -> dict[str, float]:
    """``adj_mean`` (mean off-diagonal weight) and ``adj_density`` (share of off-diagonal entries at or
    above ``threshold``) of a dense condensed adjacency: a structure-free result shows as 0, 0."""
    n = adj.shape[0]
    pairs = n * (n - 1)
    if pairs == 0:
        return {"adj_mean": 0.0, "adj_density": 0.0}
    off = adj.float() * (1 - torch.eye(n, dtype=torch.float32))
    return {"adj_mean": float(off.sum() / pairs), "adj_density": float(_kept(off, threshold).sum() / pairs)}


def _kept(off_diagonal: torch.Tensor, threshold: float) -> torch.Tensor:
    """The entries the evaluation keeps: at or above the weak-edge threshold, and non-zero."""
    return (off_diagonal >= threshold) & (off_diagonal > 0)


def cost_columns(condensed: CondensedGraph, graph: MultimodalGraph, threshold: float) -> dict[str, int]:
    """``condensed_bytes`` (the graph as evaluated: its edges below the threshold dropped) and
    ``original_bytes`` (the graph the method could see), both `mmgc.graph.stored_bytes`."""
    adj = condensed.adj.float()
    kept = int(torch.triu(_kept(adj, threshold), diagonal=1).sum())
    return {"condensed_bytes": stored_bytes(condensed.num_nodes, condensed.x.shape[1], kept),
            "original_bytes": graph.visible_bytes()}


def recipe_hash(config: EvalConfig, regularizers: str) -> str:
    """A short hash of the evaluation settings and regularizers (the ``eval_recipe`` column)."""
    text = json.dumps({"config": dataclasses.asdict(config), "regularizers": regularizers}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _regularizer_setup(regularizers: Any) -> tuple[list, str]:
    if regularizers is None or regularizers == [] or regularizers == "":
        return [], "[]"

    parsed = parse_regularizers(regularizers)
    return parsed, describe_regularizers(parsed)


def _extra_loss(model: nn.Module, seed: int, parsed: list, factory: ExtraLossFactory | None) -> ExtraLoss | None:
    hooks = []
    if parsed:
        hooks.append(regularizer_loss(parsed, seed=seed))
    if factory is not None:
        hook = factory(model, seed)
        if hook is not None:
            hooks.append(hook)
    if not hooks:
        return None
    if len(hooks) == 1:
        return hooks[0]

    def combined(m, x, adj, logits):
        return sum(h(m, x, adj, logits) for h in hooks)

    return combined


def _as_list(value: Any, what: str) -> list:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    items = [value] if isinstance(value, int) else list(value)
    if not items:
        raise InputError(f"evaluate: expected at least one {what}")
    return items


def _check_compatible(condensed: CondensedGraph, graph: MultimodalGraph) -> None:
    if condensed.x.shape[1] != graph.feature_dim:
        raise InputError(
            f"condensed graph has {condensed.x.shape[1]} feature columns but dataset {graph.name!r} has "
            f"{graph.feature_dim}; evaluate a condensed graph against the dataset it was condensed from")
    top = int(condensed.y.max())
    if top >= graph.num_classes:
        raise InputError(f"condensed graph has label {top} but dataset {graph.name!r} has {graph.num_classes} classes")


# ---------------------------------------------------------------------------------------- the protocol
TrainOne = Callable[[nn.Module, int, Optional[ExtraLoss], Callable, SplitScorer, bool], Any]
"""``train_one(model, seed, extra_loss, on_epoch, validate, sparse) -> TrainResult`` (the model is trained in
place; ``sparse``: the model may take the original features as a sparse CSR matrix)."""


def _run_all(
    graph: MultimodalGraph,
    arch: str | Sequence[str],
    seeds: int | Sequence[int],
    config: EvalConfig,
    device: torch.device,
    train_one: TrainOne,
    fixed: Mapping[str, Any],
    regularizers: Any,
    extra_loss_factory: ExtraLossFactory | None,
    callback: ProgressCallback | None,
    on_error: str,
) -> list[dict[str, Any]]:
    archs = [str(a) for a in _as_list(arch, "architecture")]
    seed_list = [int(s) for s in _as_list(seeds, "seed")]
    if on_error not in ("raise", "row"):
        raise InputError(f"on_error: expected 'raise' or 'row', found {on_error!r}")
    for name in archs:  # unknown names fail before any training
        get_backbone(name)
    parsed, described = _regularizer_setup(regularizers)
    sparse_archs = {a for a in archs if accepts_sparse_features(get_backbone(a))}
    sparse = bool(sparse_archs) and wants_sparse_features(graph.x, config.sparse_feature_density)
    scorers = {False: (SplitScorer(graph, "val", device), SplitScorer(graph, "test", device))}
    if sparse:
        scorers[True] = (SplitScorer(graph, "val", device, sparse_features=True),
                         SplitScorer(graph, "test", device, sparse_features=True))
    dropout = config.dropout_for(graph)
    rows = []
    total, index = len(archs) * len(seed_list), 0
    for name in archs:
        for seed in seed_list:
            index += 1
            if callback is not None:
                callback("run_start", {"arch": name, "seed": seed, "index": index, "total": total,
                                       "epochs": config.epochs})
            start = time.perf_counter()
            base = dict(dataset=graph.name, dataset_variant=graph.info.get("variant"), setting=graph.setting,
                        arch=name, eval_seed=seed, regularizers=described, eval_recipe=recipe_hash(config, described),
                        metric=graph.metric, method_label=fixed.get("method"), **_provenance(device))
            base.update(fixed)  # the condensed graph's columns and the caller's row_defaults win

            def on_epoch(epoch: int, metrics: dict) -> None:
                if callback is not None:
                    callback("epoch", {"epoch": epoch, **metrics})

            use_sparse = sparse and name in sparse_archs
            validate, test = scorers[use_sparse]
            try:
                seed_all(seed)
                model = build_backbone(name, graph.feature_dim, config.hidden, graph.num_classes, config.layers,
                                       dropout, graph.modalities).to(device)
                extra = _extra_loss(model, seed, parsed, extra_loss_factory)
                on_test = config.selection == "test"
                trained = time.perf_counter()
                result = train_one(model, seed, extra, on_epoch, test if on_test else validate, use_sparse)
                train_seconds = time.perf_counter() - trained
                val_metric = float(validate(model)) if on_test else float(result.best_val)
                row = make_row(**base, val_metric=val_metric, test_metric=float(test(model)),
                               best_epoch=int(result.best_epoch), train_seconds=train_seconds,
                               eval_seconds=time.perf_counter() - start, status="ok")
            except InputError:
                raise
            except Exception as exc:  # with on_error='row' a failed run becomes a failed row (sweeps go on)
                if on_error != "row":
                    raise
                row = make_row(**base, eval_seconds=time.perf_counter() - start, status="failed",
                               error=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            if callback is not None:
                callback("run_end", {"row": row})
    return rows


def evaluate(
    condensed: CondensedGraph,
    graph: MultimodalGraph,
    arch: str | Sequence[str],
    seeds: int | Sequence[int],
    config: EvalConfig | None = None,
    *,
    device: torch.device | str = "cpu",
    regularizers: Any = None,
    extra_loss_factory: ExtraLossFactory | None = None,
    row_defaults: Mapping[str, Any] | None = None,
    callback: ProgressCallback | None = None,
    on_error: Literal["raise", "row"] = "raise",
) -> list[dict[str, Any]]:
    """Train each architecture in ``arch`` under each seed in ``seeds`` on ``condensed`` (its edges
    below the threshold dropped), keep the epoch with the best metric on the original validation nodes
    of ``graph`` and report the original test nodes; one row per (arch, seed), archs outermost.

    Args:
        condensed: the condensed graph (features, dense weighted adjacency, labels).
        graph: the original dataset it was condensed from.
        arch: backbone name(s): gcn, sgc, sage, gat, mlp, mmgcn, or any registered backbone.
        seeds: evaluation seed(s); each seeds model initialisation and dropout.
        config: the protocol settings (`EvalConfig`).
        device: where to train and predict.
        regularizers: training-time regularizers (see the module docstring); default none.
        extra_loss_factory: ``factory(model, seed) -> extra_loss`` for any other added loss.
        row_defaults: extra columns for every row (experiment, phase, trial_id, artifact_path, ...).
        callback: progress events (see `ProgressCallback`).
        on_error: ``raise`` (default) or ``row``: a run that fails with anything but bad input gives a
            row with status ``failed`` and the error, and the other runs go on.
    """
    config = config or EvalConfig()
    device = torch.device(device)
    _check_compatible(condensed, graph)
    threshold = config.threshold_for(graph)
    x = condensed.x.float().to(device)
    adj = Adjacency.from_dense(threshold_edges(condensed.adj.float(), threshold).to(device))
    y = condensed.y.to(device)
    on_test = config.selection == "test" or (condensed.info or {}).get("selection_split") == "test"
    fixed = dict(_condensed_columns(condensed), edge_threshold=threshold, selection="test" if on_test else "val",
                 **adjacency_columns(condensed.adj, threshold), **cost_columns(condensed, graph, threshold))
    fixed.update(row_defaults or {})

    def train_one(model, seed, extra, on_epoch, validate, sparse):
        return train_node_classifier(model, x, adj, y, validate, config.train_config(), extra_loss=extra,
                                     callback=on_epoch)

    return _run_all(graph, arch, seeds, config, device, train_one, fixed, regularizers, extra_loss_factory,
                    callback, on_error)


def evaluate_original(
    graph: MultimodalGraph,
    arch: str | Sequence[str],
    seeds: int | Sequence[int],
    config: EvalConfig | None = None,
    *,
    device: torch.device | str = "cpu",
    regularizers: Any = None,
    extra_loss_factory: ExtraLossFactory | None = None,
    row_defaults: Mapping[str, Any] | None = None,
    callback: ProgressCallback | None = None,
    on_error: Literal["raise", "row"] = "raise",
) -> list[dict[str, Any]]:
    """The "Original" column: train on the graph a method may see (transductive: the whole graph with
    the train labels; inductive: the train-induced subgraph) and score as `evaluate` does. Full-batch
    up to ``config.full_batch_max_nodes`` training-graph nodes, neighbour-sampled mini-batches above.
    Rows have ``method = 'original'``, ``ratio = 1``, ``n`` = the training graph's nodes and no edge
    threshold. Arguments as `evaluate`."""
    config = config or EvalConfig()
    device = torch.device(device)
    visible = graph.visible_graph()
    size = graph.visible_bytes()
    fixed: dict[str, Any] = dict(ratio=1.0, n=visible.num_nodes, method=ORIGINAL, edge_threshold=None,
                                 selection=config.selection, condensed_bytes=size, original_bytes=size)
    fixed.update(row_defaults or {})
    trainer = GraphTrainer(visible, config, device, sampled_eval_every=config.sampled_eval_every)

    def train_one(model, seed, extra, on_epoch, validate, sparse):
        return trainer.fit(model, validate, seed, sparse=sparse, extra_loss=extra, callback=on_epoch)

    return _run_all(graph, arch, seeds, config, device, train_one, fixed, regularizers, extra_loss_factory,
                    callback, on_error)


# ---------------------------------------------------------------------------------------- summaries
def summarize(rows: Iterable[Mapping[str, Any]], keys: Sequence[str] = ("dataset", "method", "ratio", "arch")
              ) -> list[dict[str, Any]]:
    """Mean and (population) standard deviation (`mmgc.harness.statistics.summary_of`) of
    ``test_metric`` and ``val_metric`` over the ``ok`` rows of each group of ``keys``, in first-seen
    order (NaN when a group has none); ``runs`` counts them, ``failed`` the others."""
    groups: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row.get(k) for k in keys)
        group = groups.setdefault(key, {**{k: row.get(k) for k in keys}, "metric": row.get("metric"),
                                        "_ok": [], "failed": 0})
        if row.get("status") == "ok":
            group["_ok"].append(row)
        else:
            group["failed"] += 1
    out = []
    for group in groups.values():
        ok = group.pop("_ok")
        test, val = summary_of(r["test_metric"] for r in ok), summary_of(r["val_metric"] for r in ok)
        group.update(runs=len(ok), test_mean=test.mean if test else math.nan, test_std=test.std if test else math.nan,
                     val_mean=val.mean if val else math.nan, val_std=val.std if val else math.nan)
        out.append(group)
    return out
