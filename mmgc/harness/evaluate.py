"""The one evaluation protocol (DESIGN.md), used by every table.

`evaluate` trains a fresh backbone on a condensed graph and scores it on the original graph;
`evaluate_original` trains the same backbone on the original training graph (the "Original" column).
Both return result rows (`mmgc.harness.schema.make_row`), one per architecture and evaluation seed.

The protocol (`EvalConfig` defaults, GCond's ``test_with_val``):

- a 2-layer backbone with 256 hidden units, dropout 0.5 when the dataset is transductive and 0 when
  inductive; 600 epochs of Adam, lr 0.01 then 0.001 from epoch 300, weight decay 5e-4;
- the weights of the epoch with the best metric on the **original validation nodes** are kept and the
  **original test nodes** are reported: transductive graphs are predicted on the whole graph,
  inductive graphs on the subgraphs induced by the val and by the test nodes (`SplitScorer`);
  accuracy or ROC-AUC as the dataset says. Prediction is full-batch inference with sparse matmuls
  (no gradient): ``O(E + N * hidden)`` memory for a 2-layer GCN, a few GB at 700k nodes and 7M edges;
- synthetic edges of weight below ``edge_threshold`` are dropped first (``adj[adj < t] = 0``). The
  default follows GCond's tester (0.05 on Cora/Citeseer, 0.01 on Flickr/Arxiv/Reddit) by the size of
  the **original** graph (the condensed graphs are all small): 0.05 when ``graph.num_nodes`` is below
  ``small_graph_nodes`` (10,000), 0.01 otherwise. The threshold used is written in every row. (GCond
  used 0.5 for GAT on Cora/Citeseer; pass ``edge_threshold=0.5`` to reproduce that.)

"Original" trains on the graph a method may see (transductive: the whole graph with the train
labels; inductive: the train-induced subgraph), full-batch while it has at most
``full_batch_max_nodes`` nodes and otherwise with neighbour-sampled mini-batches
(`mmgc.models.training.NeighborSampler`; PyG's ``NeighborLoader`` needs pyg-lib or torch-sparse,
which we do not install): ``epochs`` then counts mini-batch steps of ``batch_size`` seeds with
``fanouts`` neighbours per hop, validated every ``sampled_eval_every`` steps.

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
``ratio``, ``seed``, ``condense_arch``, ``wall_seconds``, ``peak_memory_mb``; missing keys leave
their columns empty. Standard deviations over seeds (`summarize`) are population standard deviations
(numpy's default, as GCond reports).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Literal, Mapping, Optional, Sequence

import torch
from torch import nn

from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph
from mmgc.harness.schema import RESULT_COLUMNS, make_row
from mmgc.models.adjacency import Adjacency
from mmgc.models.base import build_backbone, get_backbone
from mmgc.models.training import (
    ExtraLoss, MiniBatchConfig, NeighborSampler, SplitScorer, TrainConfig, accepts_sparse_features,
    check_training_settings, feature_density, graph_adjacency, seed_all, sparse_features_of, train_node_classifier,
    train_node_classifier_sampled,
)

ExtraLossFactory = Callable[[nn.Module, int], Optional[ExtraLoss]]
"""``factory(model, eval_seed) -> extra_loss`` called once per trained model (None: no extra loss)."""

ProgressCallback = Callable[[str, dict], None]
"""``callback(event, payload)``: ``run_start`` {arch, seed, index, total, epochs}, ``epoch`` {epoch, loss,
val}, ``run_end`` {row}."""


@dataclass(frozen=True)
class EvalConfig:
    """Settings of the evaluation protocol (defaults: DESIGN.md / GCond).

    Attributes:
        hidden, layers: backbone width and depth.
        dropout: None = 0.5 for transductive datasets, 0 for inductive ones.
        epochs, lr, lr_drop_epoch, lr_after_drop, weight_decay, eval_every: training (`TrainConfig`).
        edge_threshold: synthetic edges below this weight are dropped; None = 0.05 if the original
            graph has fewer than ``small_graph_nodes`` nodes, else 0.01.
        small_graph_nodes: the size boundary of the default threshold.
        full_batch_max_nodes: "Original" trains full-batch up to this many training-graph nodes and
            with neighbour-sampled mini-batches above it.
        batch_size, fanouts, sampled_eval_every: the mini-batch path (seeds per step, neighbours per
            hop, validate every this many steps).
        selection: ``val`` (the protocol: weights kept at the best *validation* epoch) or ``test``
            (the SR-GM authors' evaluator: kept at the best *test* epoch; a flagged, optimistic
            protocol: every row records ``selection`` and tables never rank test-selected rows with
            validation-selected ones). A condensed graph whose checkpoint was itself chosen on test
            nodes (``select_split=test``) also gives ``selection=test`` rows.
        sparse_feature_density: when at most this fraction of the original features is non-zero
            (bag-of-words: Cora 1.3%, Citeseer 0.9%), backbones that accept it (``sparse_input``: GCN,
            SGC, SAGE, MLP) get them as a sparse CSR matrix for prediction and for full-batch
            "Original" training without regularizers; several times faster, equal up to float
            rounding. 0 disables.
    """

    hidden: int = 256
    layers: int = 2
    dropout: Optional[float] = None
    epochs: int = 600
    lr: float = 0.01
    lr_drop_epoch: Optional[int] = 300
    lr_after_drop: float = 0.001
    weight_decay: float = 5e-4
    eval_every: int = 1
    edge_threshold: Optional[float] = None
    small_graph_nodes: int = 10_000
    full_batch_max_nodes: int = 200_000
    batch_size: int = 1024
    fanouts: tuple[int, ...] = (15, 10)
    sampled_eval_every: int = 20
    sparse_feature_density: float = 0.1
    selection: Literal["val", "test"] = "val"

    def __post_init__(self) -> None:
        check_training_settings(self, "evaluation", ("hidden", "layers", "epochs", "eval_every", "small_graph_nodes",
                                                     "full_batch_max_nodes", "batch_size", "sampled_eval_every"))
        if self.edge_threshold is not None and not (math.isfinite(self.edge_threshold) and self.edge_threshold >= 0):
            raise InputError(f"evaluation edge_threshold: expected a weight >= 0, found {self.edge_threshold}")

    def train_config(self, eval_every: int | None = None) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, lr=self.lr, lr_drop_epoch=self.lr_drop_epoch,
                           lr_after_drop=self.lr_after_drop, weight_decay=self.weight_decay,
                           eval_every=eval_every or self.eval_every)

    def dropout_for(self, graph: MultimodalGraph) -> float:
        if self.dropout is not None:
            return self.dropout
        return 0.5 if graph.setting == "transductive" else 0.0

    def threshold_for(self, graph: MultimodalGraph) -> float:
        if self.edge_threshold is not None:
            return float(self.edge_threshold)
        return 0.05 if graph.num_nodes < self.small_graph_nodes else 0.01


def threshold_edges(adj: torch.Tensor, threshold: float) -> torch.Tensor:
    """``adj`` with the entries below ``threshold`` set to zero (a copy)."""
    return torch.where(adj < threshold, torch.zeros_like(adj), adj)


# ---------------------------------------------------------------------------------------- provenance
_GIT_COMMIT: list[str | None] = []


def git_commit() -> str | None:
    """The commit of the mmgc source tree (None outside a git checkout); computed once."""
    if not _GIT_COMMIT:
        import subprocess
        from pathlib import Path

        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                                 capture_output=True, text=True, timeout=5)
            _GIT_COMMIT.append(out.stdout.strip() or None if out.returncode == 0 else None)
        except (OSError, subprocess.SubprocessError):
            _GIT_COMMIT.append(None)
    return _GIT_COMMIT[0]


def _provenance(device: torch.device) -> dict[str, Any]:
    import socket

    import mmgc

    values = {"device": str(device), "package_version": mmgc.__version__, "git_commit": git_commit(),
              "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if "node" in RESULT_COLUMNS:
        values["node"] = socket.gethostname()
    return values


def _condensed_columns(condensed: CondensedGraph) -> dict[str, Any]:
    from mmgc.methods.base import config_hash

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
        "condense_peak_mb": info.get("peak_memory_mb"),
        "feature_grad": (config or {}).get("feature_grad"),
        "grad_field": (config or {}).get("grad_field"),
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
    return {"adj_mean": float(off.sum() / pairs), "adj_density": float(((off >= threshold) & (off > 0)).sum() / pairs)}


def _regularizer_setup(regularizers: Any) -> tuple[list, str]:
    if regularizers is None or regularizers == [] or regularizers == "":
        return [], "[]"
    from mmgc.regularizers import describe_regularizers, parse_regularizers

    parsed = parse_regularizers(regularizers)
    return parsed, describe_regularizers(parsed)


def _extra_loss(model: nn.Module, seed: int, parsed: list, factory: ExtraLossFactory | None) -> ExtraLoss | None:
    hooks = []
    if parsed:
        from mmgc.regularizers import regularizer_loss

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
    sparse = bool(sparse_archs) and config.sparse_feature_density > 0 and \
        feature_density(graph.x) <= config.sparse_feature_density
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
                        arch=name, eval_seed=seed, regularizers=described, metric=graph.metric,
                        **_provenance(device))
            if "method_label" in RESULT_COLUMNS:
                base["method_label"] = fixed.get("method")
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
                result = train_one(model, seed, extra, on_epoch, test if on_test else validate, use_sparse)
                val_metric = float(validate(model)) if on_test else float(result.best_val)
                row = make_row(**base, val_metric=val_metric, test_metric=float(test(model)),
                               best_epoch=int(result.best_epoch), eval_seconds=time.perf_counter() - start,
                               status="ok")
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
                 **adjacency_columns(condensed.adj, threshold))
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
    train_index = visible.train_mask.nonzero()[:, 0]
    fixed: dict[str, Any] = dict(ratio=1.0, n=visible.num_nodes, method="original", edge_threshold=None,
                                 selection=config.selection)
    fixed.update(row_defaults or {})
    if visible.num_nodes <= config.full_batch_max_nodes:
        x = visible.x.to(device)
        adj = graph_adjacency(visible).to(device)
        y = visible.y[train_index].to(device)
        index = train_index.to(device)
        x_sparse: list = []

        def train_one(model, seed, extra, on_epoch, validate, sparse):
            features = x
            if sparse and extra is None:  # regularizers read column slices of x: keep it dense for them
                if not x_sparse:
                    x_sparse.append(sparse_features_of(x))
                features = x_sparse[0]
            return train_node_classifier(model, features, adj, y, validate, config.train_config(),
                                         train_index=index, extra_loss=extra, callback=on_epoch)
    else:
        sampler = NeighborSampler(visible.edge_index, visible.num_nodes, visible.edge_weight)
        minibatch = MiniBatchConfig(config.batch_size, config.fanouts)

        def train_one(model, seed, extra, on_epoch, validate, sparse):
            return train_node_classifier_sampled(
                model, visible.x, sampler, visible.y, train_index, validate,
                config.train_config(eval_every=config.sampled_eval_every), minibatch, seed=seed,
                extra_loss=extra, callback=on_epoch)

    return _run_all(graph, arch, seeds, config, device, train_one, fixed, regularizers, extra_loss_factory,
                    callback, on_error)


# ---------------------------------------------------------------------------------------- summaries
def summarize(rows: Iterable[Mapping[str, Any]], keys: Sequence[str] = ("dataset", "method", "ratio", "arch")
              ) -> list[dict[str, Any]]:
    """Mean and (population) standard deviation of ``test_metric`` and ``val_metric`` over the ``ok``
    rows of each group of ``keys``, in first-seen order; ``runs`` counts them, ``failed`` the others."""
    groups: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row.get(k) for k in keys)
        group = groups.setdefault(key, {**{k: row.get(k) for k in keys}, "metric": row.get("metric"),
                                        "_test": [], "_val": [], "failed": 0})
        if row.get("status") == "ok":
            group["_test"].append(float(row["test_metric"]))
            group["_val"].append(float(row["val_metric"]))
        else:
            group["failed"] += 1
    out = []
    for group in groups.values():
        test, val = group.pop("_test"), group.pop("_val")
        group.update(runs=len(test), test_mean=_mean(test), test_std=_std(test), val_mean=_mean(val),
                     val_std=_std(val))
        out.append(group)
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _std(values: list[float]) -> float:
    if not values:
        return float("nan")
    m = _mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def config_as_dict(config: EvalConfig) -> dict[str, Any]:
    return asdict(config)
