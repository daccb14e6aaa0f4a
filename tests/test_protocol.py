"""The evaluation protocol's rules are one: evaluation, the engine's checkpoint selection and the
coresets' embedding read the same weak-edge threshold, dropout rule and training recipe."""

from __future__ import annotations

import pytest
import torch

from conftest import make_tiny_graph
from mmgc.harness.evaluate import EvalConfig
from mmgc.methods import Context, create_method
from mmgc.methods.coreset import EmbeddingConfig
from mmgc.methods.gradient_matching import ValidationSelector
from mmgc.models.protocol import GraphTrainer, TrainingRecipe, edge_threshold, protocol_dropout, threshold_edges


def _selector(graph, **config) -> ValidationSelector:
    method = create_method("gcond", dict(epochs=1, structure_epochs=0, outer_loop=1, hidden=8, **config))
    setup, _ = method.prepare(graph, 0.1, Context(seed=0))
    return ValidationSelector(method.config, setup)


@pytest.mark.parametrize("setting", ["transductive", "inductive"])
@pytest.mark.parametrize("nodes", [60, 10_000])
def test_selection_scores_checkpoints_with_the_evaluations_threshold_and_dropout(setting, nodes):
    graph = make_tiny_graph(n=nodes, setting=setting)
    selector, evaluation = _selector(graph), EvalConfig()
    assert selector.threshold == evaluation.threshold_for(graph) == edge_threshold(graph)
    assert selector.threshold == (0.05 if nodes < 10_000 else 0.01)
    assert selector.dropout == evaluation.dropout_for(graph) == protocol_dropout(graph)
    assert selector.dropout == (0.5 if setting == "transductive" else 0.0)
    explicit = _selector(graph, select_threshold=0.3, select_dropout=0.2)
    assert (explicit.threshold, explicit.dropout) == (0.3, 0.2)


def test_selection_evaluation_and_coresets_train_by_one_recipe():
    graph = make_tiny_graph()
    recipe = TrainingRecipe()
    assert EvalConfig().train_config() == EmbeddingConfig().train_config() == recipe.train_config()
    # the selection validates its checkpoint model every select_eval_every (10) epochs, otherwise the same
    assert _selector(graph).train_config == recipe.train_config(eval_every=10)
    selector = _selector(graph, select_epochs=40, select_hidden=32)
    assert (selector.recipe.hidden, selector.train_config.epochs, selector.train_config.lr_drop_epoch) == (32, 40, 20)
    assert EmbeddingConfig().dropout == 0.5  # GCond's coreset embedding: 0.5 on every dataset
    assert EvalConfig(epochs=50).train_config(eval_every=5).eval_every == 5


def test_threshold_edges_drops_only_the_weights_below_it():
    adj = torch.tensor([[0.0, 0.04, 0.05], [0.04, 0.0, 0.5], [0.05, 0.5, 0.0]])
    assert torch.equal(threshold_edges(adj, 0.05), torch.tensor([[0.0, 0.0, 0.05], [0.0, 0.0, 0.5], [0.05, 0.5, 0.0]]))


def test_graph_trainer_switches_to_mini_batches_above_the_full_batch_limit():
    graph = make_tiny_graph(n=80)
    assert GraphTrainer(graph, TrainingRecipe()).full_batch
    sampled = GraphTrainer(graph, TrainingRecipe(full_batch_max_nodes=50, batch_size=8), sampled_eval_every=3)
    assert not sampled.full_batch and sampled.minibatch.batch_size == 8
    from mmgc.models import build_backbone
    from mmgc.models.training import SplitScorer

    torch.manual_seed(0)
    model = build_backbone("gcn", graph.feature_dim, 8, graph.num_classes, 2, 0.0, graph.modalities)
    result = GraphTrainer(graph, TrainingRecipe(epochs=9, full_batch_max_nodes=50, batch_size=8),
                          sampled_eval_every=3).fit(model, SplitScorer(graph, "val"), seed=0)
    assert [h["epoch"] for h in result.history] == [2, 5, 8]  # validated every 3 steps
