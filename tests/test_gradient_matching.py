"""The gradient-matching engine, GCond's PGE and GCond / GCond-X end to end on a tiny graph."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import GCOND_FAST, make_tiny_graph

from mmgc.errors import InputError
from mmgc.methods import Context, create_method
from mmgc.methods.gradient_matching import ClassNeighborSampler, GradientMatchingMethod, match_distances
from mmgc.methods.structure import PGE

FAST = GCOND_FAST


# ------------------------------------------------------------------------------------ distances
def match_distance(gw_syn, gw_real, *args):
    """One class's distance: `match_distances` on a class dimension of one."""
    return match_distances([g[None] for g in gw_syn], [g[None] for g in gw_real], *args)[0]


def test_match_distances_are_per_class():
    torch.manual_seed(0)
    gs = [torch.randn(4, 3, 5), torch.randn(4, 3)]
    gr = [torch.randn(4, 3, 5), torch.randn(4, 3)]
    for args in (("ours", "skip"), ("ours", "cos"), ("mse",), ("cos",)):
        batched = match_distances(gs, gr, *args)
        one_by_one = torch.stack([match_distance([g[c] for g in gs], [g[c] for g in gr], *args) for c in range(4)])
        assert torch.allclose(batched, one_by_one, rtol=1e-6), args


def test_ours_distance_is_one_minus_cosine_per_output_row_without_transposing():
    gs = [torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]), torch.tensor([5.0, -5.0])]
    gr = [torch.tensor([[1.0, 1.0, 0.0], [0.0, -1.0, 0.0]]), torch.tensor([1.0, 1.0])]
    # nn.Linear weights are (out, in): rows are output units, compared as they are
    expected = (1 - 1 / math.sqrt(2)) + (1 - (-1.0))
    assert match_distance(gs, gr, "ours", "skip").item() == pytest.approx(expected, rel=1e-5)
    # the bias vector as one more row: 1 - cos([5, -5], [1, 1]) = 1
    assert match_distance(gs, gr, "ours", "cos").item() == pytest.approx(expected + 1.0, rel=1e-5)
    # a transposed comparison would give another value: the layout matters
    transposed = match_distance([g.T.contiguous() for g in gs[:1]], [g.T.contiguous() for g in gr[:1]], "ours")
    assert transposed.item() != pytest.approx(expected, rel=1e-3)


def test_mse_and_global_cosine_include_biases():
    gs = [torch.tensor([[1.0, 2.0]]), torch.tensor([3.0])]
    gr = [torch.tensor([[0.0, 2.0]]), torch.tensor([1.0])]
    assert match_distance(gs, gr, "mse").item() == pytest.approx(1.0 + 4.0)
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 2.0, 1.0])
    assert match_distance(gs, gr, "cos").item() == pytest.approx(1 - float(a @ b / (a.norm() * b.norm())), rel=1e-5)


# ------------------------------------------------------------------------------------ PGE
def _naive_pge(pge: PGE, x: torch.Tensor) -> torch.Tensor:
    """The official evaluation: the MLP on all n^2 concatenated pairs, BatchNorm over the pairs."""
    n = x.shape[0]
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    h = torch.cat([x[i.reshape(-1)], x[j.reshape(-1)]], 1)
    h = F.relu(F.batch_norm(pge.first(h), None, None, pge.bns[0].weight, pge.bns[0].bias, training=True))
    for k, layer in enumerate(pge.middle):
        h = F.relu(F.batch_norm(layer(h), None, None, pge.bns[k + 1].weight, pge.bns[k + 1].bias, training=True))
    z = pge.last(h).reshape(n, n)
    a = torch.sigmoid((z + z.T) / 2)
    return a - torch.diag(torch.diag(a))


@pytest.mark.parametrize("layers", [2, 3, 4])
def test_pge_factorised_first_layer_equals_the_official_pairwise_mlp(layers):
    torch.manual_seed(0)
    pge = PGE(6, hidden=8, layers=layers).double()
    with torch.no_grad():
        for bn in pge.bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    x = torch.randn(9, 6, dtype=torch.float64, requires_grad=True)
    fast, naive = pge(x), _naive_pge(pge, x)
    assert torch.allclose(fast, naive, atol=1e-10)
    params = [x] + [p for name, p in pge.named_parameters() if "bias" not in name or "bns" in name or "last" in name]
    g_fast = torch.autograd.grad((fast ** 2).sum(), params)
    g_naive = torch.autograd.grad((naive ** 2).sum(), params)
    for a, b in zip(g_fast, g_naive):
        assert torch.allclose(a, b, atol=1e-9)


def _autograd_nodes(t: torch.Tensor) -> set[str]:
    seen, todo = {}, [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and id(node) not in seen:
            seen[id(node)] = node.name()
            todo.extend(f for f, _ in node.next_functions)
    return set(seen.values())


@pytest.mark.parametrize("chunk_pairs, block_pairs", [(1 << 17, 2048), (1 << 17, 20), (30, 20)],
                         ids=["one-block", "blocks-kept", "blocks-recomputed"])
def test_pge_fused_blocks_equal_the_official_pairwise_mlp_with_first_and_second_derivatives(chunk_pairs, block_pairs):
    """GCond's depth (three layers) runs `_PairwiseBlocks`: in one block, in row blocks whose
    pre-activations are kept, and in row blocks recomputed in the backward pass (n^2 > chunk_pairs)."""
    torch.manual_seed(2)
    pge = PGE(6, hidden=8, layers=3, chunk_pairs=chunk_pairs, block_pairs=block_pairs).double()
    with torch.no_grad():
        pge.bns[1].weight.uniform_(0.5, 1.5)
        pge.bns[1].bias.uniform_(-0.5, 0.5)
    x = torch.randn(11, 6, dtype=torch.float64, requires_grad=True)
    fast, naive = pge(x), _naive_pge(pge, x)
    assert "_PairwiseBlocksBackward" in _autograd_nodes(fast)
    assert torch.allclose(fast, naive, atol=1e-12)
    params = [x] + list(pge.parameters())
    g_fast = torch.autograd.grad((fast ** 3).sum(), params, allow_unused=True)
    g_naive = torch.autograd.grad((naive ** 3).sum(), params, allow_unused=True)
    for name, a, b in zip(["x"] + [n for n, _ in pge.named_parameters()], g_fast, g_naive):
        if b is None:  # the first layer's bias: removed by its BatchNorm
            continue
        assert torch.allclose(a, b, atol=1e-10), name
    (gx_fast,) = torch.autograd.grad((pge(x) ** 3).sum(), x, create_graph=True)
    (gx_naive,) = torch.autograd.grad((_naive_pge(pge, x) ** 3).sum(), x, create_graph=True)
    wrt = [x, pge.middle[0].weight, pge.bns[1].weight, pge.last.weight]
    for a, b in zip(torch.autograd.grad((gx_fast ** 2).sum(), wrt), torch.autograd.grad((gx_naive ** 2).sum(), wrt)):
        assert torch.allclose(a, b, atol=1e-9)


def test_pge_blocks_are_cache_sized_per_cpu_thread_and_as_large_as_the_memory_bound_on_a_gpu():
    pge = PGE(4, chunk_pairs=1000, block_pairs=100)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert pge._block_rows(10, torch.device("cpu")) == 10
        assert pge._block_rows(500, torch.device("cpu")) == 1
        torch.set_num_threads(2)
        assert pge._block_rows(10, torch.device("cpu")) == 20
    finally:
        torch.set_num_threads(before)
    assert pge._block_rows(10, torch.device("cuda")) == 100


def test_pge_chunked_path_equals_the_single_piece_including_second_order():
    torch.manual_seed(1)
    pge = PGE(5, hidden=8, layers=4).double()
    x = torch.randn(11, 5, dtype=torch.float64, requires_grad=True)

    def run(chunk_pairs):
        pge.chunk_pairs = chunk_pairs
        adj = pge(x)
        (gx,) = torch.autograd.grad((adj ** 3).sum(), x, create_graph=True)
        second = torch.autograd.grad((gx ** 2).sum(), [x, pge.middle[0].weight, pge.last.weight])
        return adj, second

    adj_a, sec_a = run(1 << 17)
    adj_b, sec_b = run(20)  # 2 rows per chunk
    assert torch.allclose(adj_a, adj_b, atol=1e-12)
    for a, b in zip(sec_a, sec_b):
        assert torch.allclose(a, b, atol=1e-9)


def test_pge_output_is_a_symmetric_weighted_adjacency_with_zero_diagonal():
    pge = PGE(4, hidden=8)
    adj = pge(torch.randn(7, 4))
    assert torch.equal(adj, adj.T)
    assert torch.all(adj.diagonal() == 0)
    assert bool(((adj >= 0) & (adj <= 1)).all())
    assert torch.equal(pge.inference(torch.ones(7, 4) * 0.5).diagonal(), torch.zeros(7))


# ------------------------------------------------------------------------------------ sampling
def test_class_sampler_returns_real_edges_within_fanouts_and_train_seeds_of_the_class():
    graph = make_tiny_graph(n=60)
    torch.manual_seed(0)
    sampler = ClassNeighborSampler(graph, graph.num_classes, batch=5, fanouts=(2, 1), device=torch.device("cpu"))
    real = set(map(tuple, graph.edge_index.T.tolist()))
    samples = sampler.sample()
    for c in range(graph.num_classes):
        nodes, adj, seed_pos, seeds = samples.block(c)
        assert seeds.numel() == min(5, int((graph.train_mask & (graph.y == c)).sum()))
        assert bool(graph.train_mask[seeds].all()) and bool((graph.y[seeds] == c).all())
        assert torch.equal(nodes[seed_pos], seeds)
        ids = nodes[adj.edge_index]
        assert all(tuple(e) in real for e in ids.T.tolist())
        # each seed keeps at most fanouts[0] of its sampled first-hop edges plus edges sampled from the
        # next hop towards it (at most one per reached neighbour), so degrees stay bounded
        assert adj.edge_index.shape[1] <= 2 * (5 * 2 + 5 * 2 * 1)


def test_class_sampler_with_all_neighbours_recovers_the_two_hop_neighbourhood():
    graph = make_tiny_graph(n=40)
    sampler = ClassNeighborSampler(graph, graph.num_classes, batch=1000, fanouts=(-1, -1), device=torch.device("cpu"))
    nodes, adj, _, seeds = sampler.sample().block(0)
    a = torch.zeros(40, 40)
    a[graph.edge_index[0], graph.edge_index[1]] = 1
    reach = ((a + torch.eye(40)) @ (a + torch.eye(40)))[seeds].sum(0) > 0
    assert set(nodes.tolist()) == set(reach.nonzero()[:, 0].tolist())


# ------------------------------------------------------------------------------------ end to end
class _Recorder:
    def __init__(self):
        self.steps = []

    def report(self, step, metrics):
        self.steps.append((step, dict(metrics)))


@pytest.mark.parametrize("structure", ["pge", "none"])
def test_gcond_condenses_the_tiny_graph_end_to_end(structure):
    graph = make_tiny_graph(n=60, d_text=5, d_image=5)
    reporter = _Recorder()
    method = create_method("gcond", dict(FAST, structure=structure))
    condensed = method.condense(graph, 0.2, Context(seed=3, reporter=reporter))
    n = int(0.2 * 60)
    assert condensed.x.shape == (n, graph.feature_dim) and condensed.adj.shape == (n, n)
    assert torch.equal(torch.bincount(condensed.y, minlength=3), torch.tensor([4, 4, 4]))
    assert torch.equal(condensed.adj, condensed.adj.T) and torch.all(condensed.adj.diagonal() == 0)
    if structure == "none":
        assert torch.all(condensed.adj == 0)
    else:
        assert float(condensed.adj.max()) > 0
    info = condensed.info
    assert info["method"] == "gcond" and info["n"] == n and info["seed"] == 3
    assert len(info["history"]) == FAST["epochs"] and [s for s, _ in reporter.steps] == list(range(FAST["epochs"]))
    first = info["history"][1]
    for key in ("loss_gm", "loss_total", "loss_inner", "seconds", "conflict_frac", "grad_cos", "dirichlet_G",
                "intra_sim", "gradnorm_x/loss_gm"):
        assert key in first and math.isfinite(first[key]), key
    assert info["selected_epoch"] in (1, 3) and 0 <= info["selected_val"] <= 1
    phases = [h["phase"] for h in info["history"]]
    # GCond-X alternates as GCond does (feature_schedule=alternate): the same feature steps at the same epochs
    assert phases == ["structure" if structure == "pge" else "idle", "features", "features", "features"]
    steps = FAST["outer_loop"]
    assert (info["feature_steps"], info["structure_steps"], info["outer_steps"]) == (
        (3 * steps, steps, 4 * steps) if structure == "pge" else (3 * steps, 0, 3 * steps))


def test_gcond_x_every_epoch_steps_the_features_in_every_epoch():
    config = dict(FAST, structure="none", feature_schedule="every_epoch", select_every=0)
    info = create_method("gcond", config).condense(make_tiny_graph(n=60, d_text=5, d_image=5), 0.2,
                                                   Context(seed=3)).info
    assert [h["phase"] for h in info["history"]] == ["features"] * 4
    assert info["feature_steps"] == 4 * FAST["outer_loop"] and info["selected_epoch"] == 3


@pytest.mark.parametrize("config", [dict(epochs=10), dict(epochs=3, structure="none"),
                                    dict(epochs=4, structure_epochs=2, cycle_epochs=2)])
def test_a_schedule_without_a_feature_epoch_is_refused(config):
    with pytest.raises(InputError, match="give the features no epoch"):
        create_method("gcond", config)
    if config.get("structure") == "none":  # GraphSlim's schedule steps the features in every epoch
        create_method("gcond", dict(config, feature_schedule="every_epoch"))


def test_condensation_is_deterministic_under_a_seed_and_differs_across_seeds():
    graph = make_tiny_graph(n=48)
    run = lambda seed: create_method("gcond", FAST).condense(graph, 0.25, Context(seed=seed))  # noqa: E731
    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a.x, b.x) and torch.equal(a.adj, b.adj)
    assert [h["loss_gm"] for h in a.info["history"]] == [h["loss_gm"] for h in b.info["history"]]
    assert not torch.equal(a.x, c.x)


def test_selection_reads_validation_and_never_test(monkeypatch):
    from mmgc.methods.gradient_matching import selection

    splits = []
    original = selection.SplitScorer

    def spy(graph, split, device="cpu", **kwargs):
        splits.append(split)
        return original(graph, split, device, **kwargs)

    monkeypatch.setattr(selection, "SplitScorer", spy)
    create_method("gcond", FAST).condense(make_tiny_graph(n=48), 0.25, Context(seed=0))
    assert splits == ["val"]


def test_time_budget_stops_early_and_still_returns_a_graph():
    graph = make_tiny_graph(n=48)
    condensed = create_method("gcond", dict(FAST, epochs=50)).condense(graph, 0.25, Context(seed=0, time_budget_s=0.0))
    assert condensed.info["epochs_run"] == 1 and condensed.info["stopped_early"]
    assert condensed.x.shape[0] == 12


def test_engine_hooks_extra_terms_are_added_and_logged():
    from mmgc.methods.gcond import GCond

    class WithL2(GCond):
        name = "gcond_l2_test"

        def extra_terms(self, state):
            return {"l2": 0.5 * state.x.pow(2).sum()}

    graph = make_tiny_graph(n=48)
    condensed = WithL2(**FAST).condense(graph, 0.25, Context(seed=0))
    h = condensed.info["history"][0]
    assert h["loss_total"] == pytest.approx(h["loss_gm"] + h["l2"], rel=1e-6)
    assert "gradnorm_x/l2" in h and "ratio_x/l2" in h


def test_bad_config_values_fail_with_one_line():
    with pytest.raises(InputError, match="outer_loop"):
        create_method("gcond", {"outer_loop": 0})
    with pytest.raises(InputError, match="unknown key"):
        create_method("gcond", {"lr_fet": 0.1})
    with pytest.raises(InputError, match="distance"):
        create_method("gcond", {"distance": "l1"})
    with pytest.raises(InputError, match="fanouts"):
        create_method("gcond", {"fanouts": "3,0"})


def test_gcond_exposes_defaults_and_search_space():
    from mmgc.methods import get_method

    cls = get_method("gcond")
    assert issubclass(cls, GradientMatchingMethod)
    cfg = cls.Config()
    assert (cfg.lr_feat, cfg.lr_adj, cfg.epochs, cfg.outer_loop, cfg.pge_hidden, cfg.pge_layers) == (1e-4, 1e-4, 600, 20, 128, 3)
    assert set(cls.search_space) >= {"lr_feat", "lr_adj"}


class _RebuiltPGE(PGE):
    """PGE that the engine may not reuse: it rebuilds the adjacency for the inner loop, as before."""

    inference_is_forward = False


def test_reused_adjacency_builds_the_generator_once_per_step_and_changes_nothing(monkeypatch):
    graph = make_tiny_graph(setting="transductive")
    config = dict(FAST, diagnostics_every=1)
    calls = {"n": 0}
    forward = PGE.forward

    def counted(self, x):
        calls["n"] += 1
        return forward(self, x)

    monkeypatch.setattr(PGE, "forward", counted)
    reused = create_method("gcond", config).condense(graph, 0.2, Context(seed=0))
    per_run = calls["n"]
    import mmgc.methods.gcond as gcond

    monkeypatch.setattr(gcond, "PGE", _RebuiltPGE)
    calls["n"] = 0
    rebuilt = create_method("gcond", config).condense(graph, 0.2, Context(seed=0))
    # one build per outer step (plus a checkpoint's), against two per step but the last
    assert per_run < calls["n"]
    assert torch.equal(reused.x, rebuilt.x) and torch.equal(reused.adj, rebuilt.adj)
    strip = lambda h: repr({k: v for k, v in h.items() if k not in ("seconds", "cpu_seconds", "elapsed")})  # noqa: E731
    assert [strip(h) for h in reused.info["history"]] == [strip(h) for h in rebuilt.info["history"]]  # NaN == NaN


def test_a_feature_epoch_holds_the_generator_constant_and_changes_nothing_else(monkeypatch):
    """Feature epochs run the pairwise backward without its weight gradient; structure epochs, and
    feature epochs with diagnostics (which log the generator's gradient norms), keep it; the
    condensed graph is the one the engine gave with the generator left differentiable."""
    import mmgc.methods.gradient_matching.engine as gm
    import mmgc.methods.structure as st

    graph = make_tiny_graph(setting="transductive")
    config = dict(FAST, epochs=4, structure_epochs=1, cycle_epochs=2, diagnostics_every=0)
    seen: list[tuple[int, bool]] = []
    backward = st._PairwiseBlocks.backward

    def spied(ctx, dz):
        seen.append((len(seen), ctx.needs_input_grad[2]))
        return backward(ctx, dz)

    monkeypatch.setattr(st._PairwiseBlocks, "backward", staticmethod(spied))
    held = create_method("gcond", config).condense(graph, 0.2, Context(seed=0))
    weight_grads = [need for _, need in seen]
    assert True in weight_grads and False in weight_grads
    seen.clear()
    create_method("gcond", dict(config, diagnostics_every=1)).condense(graph, 0.2, Context(seed=0))
    assert all(need for _, need in seen)
    monkeypatch.setattr(gm, "_held_constant", lambda params: __import__("contextlib").nullcontext())
    free = create_method("gcond", config).condense(graph, 0.2, Context(seed=0))
    assert torch.equal(held.x, free.x) and torch.equal(held.adj, free.adj)


# ------------------------------------------------------------------------------------ hooks and run state
GM_METHODS = ("gcond", "sr_gm", "msgc", "sgdd", "doscond")


def test_every_hook_a_method_overrides_is_listed_and_every_listed_hook_exists():
    from mmgc.methods.base import get_method
    from mmgc.methods.gradient_matching import HOOKS

    engine_names = {name for name, value in vars(GradientMatchingMethod).items() if inspect.isfunction(value)}
    assert set(HOOKS) <= engine_names
    for method in GM_METHODS:
        cls = get_method(method)
        overridden = {name for name in engine_names
                      if not name.startswith("__") and getattr(cls, name) is not getattr(GradientMatchingMethod, name)}
        assert overridden <= set(HOOKS), (method, overridden - set(HOOKS))


@pytest.mark.parametrize("method", GM_METHODS)
def test_a_method_object_keeps_no_run_state(method):
    """Per-run state lives in the run: after condensing, the method holds its config and nothing else,
    and a second condensation with the same object equals the first."""
    config = {k: v for k, v in FAST.items() if k != "pge_hidden"}
    config.update(epochs=2, select_every=0, diagnostics_every=0,
                  **{"gcond": dict(pge_hidden=8), "sr_gm": dict(pge_hidden=8), "msgc": dict(num_graphs=2, edge_hidden=8),
                     "sgdd": dict(generator_hidden=8, ot_block_size=16), "doscond": dict(pge_hidden=8)}[method])
    m = create_method(method, config)
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    first = m.condense(graph, 0.25, Context(seed=0))
    assert set(vars(m)) == {"config"}
    second = m.condense(graph, 0.25, Context(seed=0))
    assert torch.equal(first.x, second.x) and torch.equal(first.adj, second.adj)
