"""Training-time regularizers: the UOT/FUGW solver against POT, OptiMAG, DAGR, the registry and the
bridge to the training loop."""

from __future__ import annotations

import json
import math
import textwrap
from importlib.metadata import EntryPoint

import pytest
import torch

from mmgc import plugins
from mmgc.adjacency import Adjacency
from mmgc.errors import InputError
from mmgc.regularizers import (
    BatchSampler, create_regularizer, describe_regularizers, get_regularizer, list_regularizers, parse_regularizers,
    register_regularizer, regularizer_loss,
)
from mmgc.regularizers import base as reg_base
from mmgc.regularizers.base import Regularizer, RegularizerConfig, induced_adjacency
from mmgc.regularizers.dagr import anchor_hinge, dispersion_infonce, dispersion_spectral
from mmgc.regularizers.optimag import cosine_cost, graph_costs
from mmgc.regularizers.transport import fugw_loss, fugw_plan, gw_cost, uot_sinkhorn


def _community_graph(n: int = 96, k: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    src = torch.randint(0, n, (8 * n,), generator=g)
    dst = torch.randint(0, n, (8 * n,), generator=g)
    keep = (y[src] == y[dst]) | (torch.rand(8 * n, generator=g) < 0.05)
    ei = torch.stack([src[keep], dst[keep]])
    ei = torch.cat([ei, ei.flip(0)], 1)
    ei = torch.unique(ei[:, ei[0] != ei[1]], dim=1)
    return Adjacency.from_edge_index(ei, n), y, g


# ------------------------------------------------------------------------------------------ solver
def test_gw_cost_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    cx, cy, plan = torch.rand(8, 8, generator=g, dtype=torch.float64), torch.rand(6, 6, generator=g, dtype=torch.float64), \
        torch.rand(8, 6, generator=g, dtype=torch.float64)
    brute = torch.einsum("ikjl,kl->ij", (cx[:, :, None, None] - cy[None, None, :, :]) ** 2, plan)
    assert torch.allclose(gw_cost(cx, cy, plan), brute, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("domain", ["scaling", "log"])
@pytest.mark.parametrize("rho", [0.01, 0.1, 1.0])
def test_unbalanced_sinkhorn_matches_pot(rho, domain):
    ot = pytest.importorskip("ot")
    g = torch.Generator().manual_seed(1)
    a = torch.rand(7, generator=g, dtype=torch.float64) + 0.5
    b = torch.rand(9, generator=g, dtype=torch.float64) + 0.5
    a, b = a / a.sum(), b / b.sum()
    cost = torch.rand(7, 9, generator=g, dtype=torch.float64)
    ours, _ = uot_sinkhorn(cost, a, b, eps=0.05, rho=rho, n_iter=20, domain=domain)
    pot = ot.unbalanced.sinkhorn_unbalanced(a, b, cost, 0.05, rho, numItermax=20, stopThr=0.0)
    assert torch.allclose(ours, pot, rtol=1e-6, atol=1e-12)
    ours_conv, _ = uot_sinkhorn(cost, a, b, eps=0.05, rho=rho, n_iter=2000, domain=domain)
    pot_conv = ot.unbalanced.sinkhorn_unbalanced(a, b, cost, 0.05, rho, numItermax=2000, stopThr=1e-14)
    assert torch.allclose(ours_conv, pot_conv, rtol=1e-4, atol=1e-10)


def test_sinkhorn_falls_back_to_the_log_domain_at_tiny_entropy():
    g = torch.Generator().manual_seed(7)
    cost = torch.rand(30, 30, generator=g) * 10
    a = torch.full((30,), 1 / 30)
    plan, _ = uot_sinkhorn(cost, a, a, eps=1e-3, rho=0.1, n_iter=50)  # |cost| / eps = 1e4: log domain
    ref, _ = uot_sinkhorn(cost.double(), a.double(), a.double(), eps=1e-3, rho=0.1, n_iter=50, domain="log")
    assert torch.isfinite(plan).all() and plan.dtype == torch.float32
    assert torch.allclose(plan.double(), ref, rtol=1e-3, atol=1e-9)


@pytest.mark.parametrize("domain", ["scaling", "log"])
@pytest.mark.parametrize("alpha,rho,eps", [(0.6, 0.1, 0.05), (0.5, 1.0, 0.1), (0.9, 0.01, 0.05)])
def test_fugw_plan_matches_pot(alpha, rho, eps, domain):
    ot = pytest.importorskip("ot")
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(7, 3, generator=g, dtype=torch.float64), torch.rand(9, 3, generator=g, dtype=torch.float64)
    cx, cy, m = torch.cdist(x, x), torch.cdist(y, y), torch.cdist(x, y)
    ours = fugw_plan(cx, cy, m, alpha=alpha, rho=rho, eps=eps, bcd_iters=5, sinkhorn_iters=20, domain=domain)
    # POT weights the GW term by 1: divide our objective by alpha
    pot, _ = ot.gromov.fused_unbalanced_gromov_wasserstein(
        cx, cy, reg_marginals=rho / alpha, epsilon=eps / alpha, alpha=(1 - alpha) / alpha, M=m,
        unbalanced_solver="sinkhorn", max_iter=5, tol=0.0, max_iter_ot=20, tol_ot=0.0)
    assert torch.allclose(ours, pot, rtol=1e-4, atol=1e-12)


def test_plan_carries_no_gradient_and_loss_reaches_modality_costs_only():
    adj, y, g = _community_graph()
    h = torch.randn(adj.num_nodes, 8, generator=g, requires_grad=True)
    reg = create_regularizer("optimag")
    plans = reg.plans({"text": h}, adj)
    assert all(not p.requires_grad and p.grad_fn is None for p in plans.values())
    cg, m = graph_costs(adj, reg.config)
    assert not cg.requires_grad and not m.requires_grad
    loss = reg.loss({"text": h}, adj)
    loss.backward()
    assert h.grad is not None and torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0
    # fugw_loss detaches a plan that has a graph attached
    cx = cosine_cost(h)
    plan = torch.full((adj.num_nodes, adj.num_nodes), 1.0 / adj.num_nodes**2, requires_grad=True)
    fugw_loss(cx, cg, plan, m).backward()
    assert plan.grad is None


def test_identical_costs_put_the_plan_on_the_diagonal():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(20, 4, generator=g, dtype=torch.float64)
    c = torch.cdist(x, x)
    plan = fugw_plan(c, c, 1 - torch.eye(20, dtype=torch.float64), alpha=0.6, rho=1.0, eps=0.01, bcd_iters=10)
    assert float(plan.diagonal().sum() / plan.sum()) > 0.9


# ------------------------------------------------------------------------------------------ OptiMAG
def test_optimag_loss_is_lower_when_the_modality_agrees_with_the_graph():
    adj, y, g = _community_graph()
    centers = torch.randn(4, 16, generator=g) * 3
    agree = centers[y] + torch.randn(adj.num_nodes, 16, generator=g)
    shuffled = agree[torch.randperm(adj.num_nodes, generator=g)]  # same values, structure broken
    reg = create_regularizer("optimag")
    assert float(reg.loss({"text": agree}, adj)) < float(reg.loss({"text": shuffled}, adj))


def test_optimag_loss_falls_as_a_modality_is_trained_to_agree_with_the_graph():
    adj, y, g = _community_graph(n=64)
    h = torch.randn(adj.num_nodes, 16, generator=g).requires_grad_(True)
    reg = create_regularizer("optimag")
    cg, _ = graph_costs(adj, reg.config)
    off = ~torch.eye(adj.num_nodes, dtype=torch.bool)

    def agreement() -> float:
        return float(torch.corrcoef(torch.stack([cosine_cost(h.detach())[off], cg[off]]))[0, 1])

    before_loss, before_corr = float(reg.loss({"text": h.detach()}, adj)), agreement()
    optimizer = torch.optim.Adam([h], lr=0.05)
    for _ in range(40):
        optimizer.zero_grad()
        reg.loss({"text": h}, adj).backward()
        optimizer.step()
    after_loss, after_corr = float(reg.loss({"text": h.detach()}, adj)), agreement()
    assert after_loss < 0.8 * before_loss
    assert after_corr > before_corr + 0.2


def test_optimag_pairs_and_anchor_options():
    adj, y, g = _community_graph(n=40)
    emb = {"text": torch.randn(40, 8, generator=g), "image": torch.randn(40, 8, generator=g)}
    for pairs, count in (("modality_graph", 2), ("cross_modal", 1), ("both", 3)):
        for anchor in ("ppr_softmax", "off_diagonal", "none"):
            reg = create_regularizer("optimag", {"pairs": pairs, "anchor": anchor})
            value = reg.loss(emb, adj)
            assert torch.isfinite(value)
            assert len([k for k in reg.last if not k.endswith(":mass")]) == count


def test_optimag_is_stable_in_float32_on_a_disconnected_batch():
    g = torch.Generator().manual_seed(4)
    reg = create_regularizer("optimag", {"epsilon": 0.01})
    value = reg.loss({"t": torch.randn(64, 8, generator=g)}, Adjacency.empty(64))
    assert torch.isfinite(value)


# ------------------------------------------------------------------------------------------ DAGR
def test_dagr_hinge_is_exactly_zero_inside_the_band():
    g = torch.Generator().manual_seed(5)
    za = torch.nn.functional.normalize(torch.randn(50, 8, generator=g), dim=1)
    zb = torch.nn.functional.normalize(za + 0.05 * torch.randn(50, 8, generator=g), dim=1)
    d2 = (za - zb).pow(2).sum(1)
    band = float(d2.max()) + 1e-3
    for squared in (False, True):
        assert torch.equal(anchor_hinge(za, zb, band, squared), torch.zeros(50))
    # through the regularizer: the anchoring term and its gradient are exactly zero
    ha, hb = za.clone().requires_grad_(True), zb.clone().requires_grad_(True)
    reg = create_regularizer("dagr", {"band": band, "disp_weight": 0.0})
    loss = reg.loss({"text": ha, "image": hb})
    assert float(loss) == 0.0 and reg.last["inter"] == 0.0
    loss.backward()
    assert torch.equal(ha.grad, torch.zeros_like(ha)) and torch.equal(hb.grad, torch.zeros_like(hb))
    # outside the band: positive exactly where the distance exceeds it
    small = float(d2.median())
    out = anchor_hinge(za, zb, small)
    assert torch.equal(out > 0, d2 > small) and torch.allclose(out[d2 > small], (d2 - small)[d2 > small])


@pytest.mark.parametrize("kind", ["infonce", "spectral"])
def test_dagr_dispersion_falls_as_embeddings_spread(kind):
    g = torch.Generator().manual_seed(6)
    pole = torch.zeros(16)
    pole[0] = 1.0
    noise = torch.randn(200, 16, generator=g)
    values = []
    for spread in (0.05, 0.2, 0.5, 1.0, 3.0):
        z = torch.nn.functional.normalize(pole + spread * noise, dim=1)
        values.append(float(dispersion_infonce(z, 0.5) if kind == "infonce" else dispersion_spectral(z)))
    assert all(b < a for a, b in zip(values, values[1:])), values
    reg = create_regularizer("dagr", {"disp": kind, "anchor_weight": 0.0})
    tight = float(reg.loss({"t": pole + 0.05 * noise}))
    wide = float(reg.loss({"t": pole + 3.0 * noise}))
    assert wide < tight


def test_dagr_needs_one_width_for_anchoring():
    with pytest.raises(InputError, match="one width"):
        create_regularizer("dagr").loss({"text": torch.randn(5, 4), "image": torch.randn(5, 3)})


# ------------------------------------------------------------------------------------------ registry
def test_registry_lists_builtins_and_run_time_registrations():
    names = list_regularizers()
    assert names["optimag"] == "built-in" and names["dagr"] == "built-in"
    assert get_regularizer("optimag").name == "optimag"

    @register_regularizer("test-const")
    class Const(Regularizer):
        Config = RegularizerConfig

        def loss(self, embeddings, adj, index=None):
            return sum(h.sum() * 0 for h in embeddings.values()) + 1.0

    try:
        assert list_regularizers()["test-const"] == "registered at run time"
        assert create_regularizer("test-const", {"weight": 2}).weight == 2.0
    finally:
        reg_base.REGULARIZER_REGISTRY.classes.pop("test-const")


def test_entry_point_group(monkeypatch, tmp_path):
    (tmp_path / "my_reg_pkg.py").write_text(textwrap.dedent("""
        from mmgc.regularizers.base import Regularizer, RegularizerConfig

        class Zero(Regularizer):
            Config = RegularizerConfig

            def loss(self, embeddings, adj, index=None):
                return next(iter(embeddings.values())).sum() * 0
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [EntryPoint(name="zero", value="my_reg_pkg:Zero", group="mmgc.regularizers"),
           EntryPoint(name="notreg", value="json:dumps", group="mmgc.regularizers")]
    monkeypatch.setattr(plugins, "entry_points", lambda group: [e for e in eps if e.group == group])
    try:
        assert list_regularizers()["zero"].startswith("entry point my_reg_pkg:Zero")
        assert float(create_regularizer("zero").loss({"t": torch.ones(3, 2)}, Adjacency.empty(3))) == 0.0
        with pytest.raises(InputError, match="not a Regularizer"):
            get_regularizer("notreg")
    finally:
        reg_base.REGULARIZER_REGISTRY.classes.pop("zero", None)


@pytest.mark.parametrize("call,match", [
    (lambda: create_regularizer("optimag", {"rhoo": 0.1}), "unknown key 'rhoo'"),
    (lambda: create_regularizer("optimagg"), "unknown regularizer 'optimagg'"),
    (lambda: create_regularizer("optimag", {"alpha": 1.5}), "alpha"),
    (lambda: create_regularizer("optimag", {"pairs": "all"}), "pairs"),
    (lambda: create_regularizer("dagr", {"band": "wide"}), "band"),
    (lambda: create_regularizer("dagr", {"weight": -1}), "weight"),
    (lambda: parse_regularizers("optimag:rho"), "key=value"),
    (lambda: parse_regularizers([{"rho": 0.1}]), "'name'"),
])
def test_bad_config_fails_with_input_error(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_parse_and_describe():
    regs = parse_regularizers("optimag:rho=0.01,weight=0.5+dagr")
    assert [r.name for r in regs] == ["optimag", "dagr"]
    assert regs[0].config.rho == 0.01 and regs[0].weight == 0.5
    assert parse_regularizers(None) == [] and parse_regularizers("none") == []
    assert parse_regularizers({"name": "dagr", "band": 0.3})[0].config.band == 0.3
    assert parse_regularizers([{"name": "dagr", "config": {"band": 0.2}}])[0].config.band == 0.2
    described = json.loads(describe_regularizers([regs[0], (regs[1], 0.25)]))
    assert described[0]["name"] == "optimag" and described[0]["config"]["rho"] == 0.01
    assert described[1]["config"]["weight"] == 0.25
    assert describe_regularizers([]) == "[]"


# ------------------------------------------------------------------------------------------ bridge
def test_batch_sampler_is_seeded_bounded_and_local():
    adj, _, _ = _community_graph(n=400)
    a = BatchSampler(64, seed=3).sample(adj)
    b = BatchSampler(64, seed=3).sample(adj)
    assert torch.equal(a, b) and a.numel() == 64 and a.unique().numel() == 64
    local = induced_adjacency(adj, a).edge_index.shape[1]
    uniform = induced_adjacency(adj, BatchSampler(64, seed=3, mode="uniform").sample(adj)).edge_index.shape[1]
    assert local > uniform
    assert BatchSampler(512).sample(adj) is None  # small graphs are taken whole
    pool = torch.arange(0, 400, 2)
    assert bool(torch.isin(BatchSampler(32, seed=1, candidates=pool).sample(adj), pool).all())


def test_modality_embeddings_sparse_rows_match_dense(tiny_graph):
    from mmgc.models import build_backbone
    from mmgc.models.training import graph_adjacency

    torch.manual_seed(0)
    model = build_backbone("gcn", tiny_graph.feature_dim, 16, tiny_graph.num_classes, modalities=tiny_graph.modalities)
    sparse = graph_adjacency(tiny_graph)
    dense = Adjacency.from_dense(torch.zeros(tiny_graph.num_nodes, tiny_graph.num_nodes).index_put_(
        tuple(tiny_graph.edge_index), torch.ones(tiny_graph.edge_index.shape[1])))
    index = torch.tensor([3, 0, 17, 25, 39])
    for attach in ("pre_mp", "post_mp"):
        full = model.modality_embeddings(tiny_graph.x, sparse, attach=attach)
        rows = model.modality_embeddings(tiny_graph.x, sparse, index=index, attach=attach)
        from_dense = model.modality_embeddings(tiny_graph.x, dense, index=index, attach=attach)
        assert set(full) == {"text", "image"}
        for m in full:
            assert torch.allclose(rows[m], full[m][index], atol=1e-5)
            assert torch.allclose(from_dense[m], full[m][index], atol=1e-5)
    # the modalities add up to the first graph convolution (without bias)
    full = model.modality_embeddings(tiny_graph.x, sparse)
    first = torch.sparse.mm(sparse.gcn(), tiny_graph.x @ model.linears[0].weight.T)
    assert torch.allclose(full["text"] + full["image"], first, atol=1e-5)


@pytest.mark.parametrize("names", ["optimag", "dagr", "optimag+dagr"])
def test_regularizer_loss_trains_deterministically(tiny_graph, names):
    from mmgc.models import build_backbone
    from mmgc.models.training import TrainConfig, graph_adjacency, seed_all, train_node_classifier

    def run():
        seed_all(0)
        model = build_backbone("gcn", tiny_graph.feature_dim, 16, tiny_graph.num_classes, modalities=tiny_graph.modalities)
        history: list[dict[str, float]] = []
        extra = regularizer_loss(parse_regularizers(names), batch_size=24, seed=0, history=history)
        train = tiny_graph.train_mask.nonzero()[:, 0]
        result = train_node_classifier(
            model, tiny_graph.x, graph_adjacency(tiny_graph), tiny_graph.y[train], lambda m: 0.0,
            TrainConfig(epochs=5), train_index=train, extra_loss=extra)
        return [h["loss"] for h in result.history], history

    first, terms = run()
    second, _ = run()
    assert first == second and all(math.isfinite(v) for v in first)
    assert len(terms) == 5 and set(terms[0]) == set(names.split("+"))


def test_regularizer_gradient_reaches_the_first_layer(tiny_graph):
    from mmgc.models import build_backbone
    from mmgc.models.training import graph_adjacency

    torch.manual_seed(0)
    model = build_backbone("gcn", tiny_graph.feature_dim, 16, tiny_graph.num_classes, modalities=tiny_graph.modalities)
    extra = regularizer_loss([create_regularizer("optimag", {"weight": 1.0})], batch_size=16)
    adj = graph_adjacency(tiny_graph)
    extra(model, tiny_graph.x, adj, model(tiny_graph.x, adj)).backward()
    assert model.linears[0].weight.grad.abs().sum() > 0
    assert model.linears[-1].weight.grad is None or model.linears[-1].weight.grad.abs().sum() == 0


def test_cli_lists_and_describes_regularizers():
    from typer.testing import CliRunner

    from mmgc.harness.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["regularizers", "list"])
    assert listed.exit_code == 0 and "optimag" in listed.output and "dagr" in listed.output
    info = runner.invoke(app, ["regularizers", "info", "optimag"])
    assert info.exit_code == 0 and "rho" in info.output and "loguniform" in info.output


def test_each_regularizer_gets_a_batch_of_its_own_size(tiny_graph):
    from mmgc.models import build_backbone
    from mmgc.models.training import graph_adjacency

    seen: dict[str, list[int]] = {}

    @register_regularizer("test-size")
    class Size(Regularizer):
        Config = RegularizerConfig

        def loss(self, embeddings, adj, index=None):
            seen.setdefault(str(self.config.batch_size), []).append(adj.num_nodes)
            assert all(h.shape[0] == adj.num_nodes for h in embeddings.values())
            return sum(h.sum() for h in embeddings.values()) * 0

    try:
        model = build_backbone("gcn", tiny_graph.feature_dim, 8, tiny_graph.num_classes, modalities=tiny_graph.modalities)
        regs = [create_regularizer("test-size", {"batch_size": 8}), create_regularizer("test-size", {"batch_size": 20})]
        adj = graph_adjacency(tiny_graph)
        regularizer_loss(regs)(model, tiny_graph.x, adj, model(tiny_graph.x, adj))
        regularizer_loss(regs, batch_size=100)(model, tiny_graph.x, adj, model(tiny_graph.x, adj))
        assert seen == {"8": [8, 40], "20": [20, 40]}  # the override takes the whole 40-node graph
    finally:
        reg_base.REGULARIZER_REGISTRY.classes.pop("test-size")


def test_mmgcn_gives_each_branch_first_convolution(tiny_graph):
    from mmgc.models import build_backbone
    from mmgc.models.training import graph_adjacency

    torch.manual_seed(0)
    model = build_backbone("mmgcn", tiny_graph.feature_dim, 16, tiny_graph.num_classes, modalities=tiny_graph.modalities)
    adj = graph_adjacency(tiny_graph)
    emb = model.modality_embeddings(tiny_graph.x, adj)
    index = torch.tensor([2, 9, 31])
    rows = model.modality_embeddings(tiny_graph.x, adj, index=index)
    for name, (a, b) in tiny_graph.modalities.items():
        first = model.branches[name].linears[0]
        expected = torch.sparse.mm(adj.gcn(), tiny_graph.x[:, a:b] @ first.weight.T) + first.bias
        assert torch.allclose(emb[name], expected, atol=1e-5)
        assert torch.allclose(rows[name], expected[index], atol=1e-5)
    pre = model.modality_embeddings(tiny_graph.x, adj, attach="pre_mp")
    assert torch.allclose(pre["text"], model.branches["text"].linears[0](tiny_graph.x[:, :6]), atol=1e-6)


@pytest.mark.parametrize("arch", ["gcn", "sgc", "sage", "gat", "mlp", "mmgcn"])
def test_every_backbone_exposes_modality_embeddings(tiny_graph, arch):
    from mmgc.models import build_backbone
    from mmgc.models.training import graph_adjacency

    model = build_backbone(arch, tiny_graph.feature_dim, 16, tiny_graph.num_classes, modalities=tiny_graph.modalities)
    emb = model.modality_embeddings(tiny_graph.x, graph_adjacency(tiny_graph), index=torch.arange(10))
    assert set(emb) == {"text", "image"} and all(h.shape[0] == 10 for h in emb.values())
    loss = create_regularizer("dagr").loss(emb) + create_regularizer("optimag").loss(
        emb, induced_adjacency(graph_adjacency(tiny_graph), torch.arange(10)), torch.arange(10))
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("arch", ["gcn", "mmgcn"])
def test_regularizers_run_through_the_evaluation_protocol(tiny_graph, arch):
    from mmgc.graph import CondensedGraph
    from mmgc.harness.evaluate import EvalConfig, evaluate, evaluate_original

    config = EvalConfig(epochs=4, hidden=16)
    plain = evaluate_original(tiny_graph, arch, [0], config)
    rows = evaluate_original(tiny_graph, arch, [0, 1], config, regularizers="optimag:batch_size=16+dagr")
    assert plain[0]["regularizers"] == "[]"
    assert [r["status"] for r in rows] == ["ok", "ok"]
    described = json.loads(rows[0]["regularizers"])
    assert [d["name"] for d in described] == ["optimag", "dagr"] and described[0]["config"]["batch_size"] == 16
    # on a dense weighted condensed graph (taken whole: fewer nodes than the batch)
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(tiny_graph.num_nodes, generator=g)[:12]
    adj = torch.rand(12, 12, generator=g)
    adj = (adj + adj.T) / 2
    adj.fill_diagonal_(0)
    condensed = CondensedGraph(x=tiny_graph.x[idx], adj=adj, y=tiny_graph.y[idx], modalities=tiny_graph.modalities,
                               info={"method": "test"})
    rows = evaluate(condensed, tiny_graph, arch, [0], config, regularizers=[{"name": "optimag"}, {"name": "dagr"}])
    assert rows[0]["status"] == "ok" and math.isfinite(rows[0]["test_metric"])


@pytest.mark.parametrize("method", ["gcond", "sr_gm"])
def test_condensation_adds_regularizers_on_its_synthetic_embeddings(method):
    from mmgc.methods import Context, create_method
    from tests.conftest import make_tiny_graph

    fast = dict(epochs=2, outer_loop=2, inner_loop=1, hidden=16, select_every=0, select_epochs=5, select_eval_every=5,
                cycle_epochs=2, structure_epochs=1, regularizers="optimag:weight=0.5+dagr")
    condensed = create_method(method, fast).condense(make_tiny_graph(n=48, d_text=5, d_image=5), 0.25, Context(seed=0))
    history = condensed.info["history"]
    assert all(math.isfinite(h["reg/optimag"]) and math.isfinite(h["reg/dagr"]) for h in history)
    # each term on its own sends a gradient to the synthetic features (the engine's per-term
    # autograd.grad of the term w.r.t. X_S on every diagnosed step), not only a logged value
    assert all(h["gradnorm_x/reg/optimag"] > 0 and h["gradnorm_x/reg/dagr"] > 0 for h in history)
    assert condensed.info["config"]["regularizers"] == "optimag:weight=0.5+dagr"
    with pytest.raises(InputError, match="unknown regularizer"):
        create_method(method, dict(fast, regularizers="nope"))


def test_experiment_entries_carry_their_own_regularizers():
    from pathlib import Path

    from mmgc.harness.experiment import load_experiment, parse_experiment

    data = {"name": "regs", "datasets": [{"name": "synthetic", "ratios": [0.01]}],
            "methods": [{"name": "original"}, {"name": "original", "label": "Original+DAGR", "regularizers": "dagr"}],
            "evaluation": {"regularizers": "optimag"}}
    exp = parse_experiment(data)
    assert [m.regularizers for m in exp.methods] == [None, "dagr"]
    assert exp.eval_options["regularizers"] == "optimag"
    bad = dict(data, methods=[{"name": "original", "regularizers": "optimagg"}])
    with pytest.raises(InputError, match=r"methods\[0\]\.regularizers: unknown regularizer 'optimagg'"):
        parse_experiment(bad)
    path = Path(__file__).resolve().parents[1] / "tune_configs" / "regularizers_synthetic.yaml"
    labels = {m.label: m.regularizers for m in load_experiment(path).methods}
    assert labels["Original"] is None and labels["SR-GM+DAGR w=10.0"] == "dagr:weight=10.0"


REG_SWEEP_YAML = """
name: regs_tiny
datasets:
  - {name: synthetic, options: {nodes: 200}, ratios: [0.1]}
methods:
  - {name: original}
  - {name: original, label: Original+OptiMAG, regularizers: "optimag:batch_size=32"}
  - {name: original, label: Original+DAGR, regularizers: dagr}
  - {name: random, label: Random}
  - {name: random, label: Random+DAGR, regularizers: dagr}
seeds: {condense: [0], eval: [0, 1]}
evaluation: {archs: [gcn, mmgcn], options: {epochs: 15}}
resources: {cpu: 1, gpu: 0}
"""


def test_a_regularizer_sweep_gives_the_regularizers_table(tmp_path):
    from mmgc.harness import tables
    from mmgc.harness.store import ResultStore
    from mmgc.harness.sweep import run_sweep

    path = tmp_path / "regs_tiny.yaml"
    path.write_text(REG_SWEEP_YAML)
    root = str(tmp_path / "results")
    report = run_sweep(path, results=root, num_cpus=2, progress=False)
    assert report.missing == 0, report
    rows = [r for r in ResultStore(root).rows("regs_tiny") if r["phase"] == "final"]
    assert {r["regularizers"] == "[]" for r in rows} == {True, False}
    table = tables.build("regularizers", root, experiments=["regs_tiny"])
    assert table.header[:6] == ["Dataset", "Alignment", "Arch", "Trained on", "none", "OptiMAG"]
    body = {(r[2].text, r[3].text): r for r in table.rows}
    assert set(body) == {("GCN", "Original"), ("MMGCN", "Original"), ("GCN", "Random @ 10%"), ("MMGCN", "Random @ 10%")}
    # each cell is the mean over the rows of its setting; Δ = setting minus none
    for (arch, graph), line in body.items():
        cells = dict(zip(table.header, line))
        picked = [r for r in rows if r["arch"] == arch.lower() and (r["method"] == "original") == (graph == "Original")]
        for column, name in (("none", None), ("DAGR", "dagr")):
            mine = [r["test_metric"] for r in picked
                    if [d["name"] for d in json.loads(r["regularizers"])] == ([name] if name else [])]
            assert cells[column].stat.mean == pytest.approx(sum(mine) / len(mine))
        assert cells["Δ DAGR"].delta == pytest.approx((cells["DAGR"].stat.mean - cells["none"].stat.mean) * 100)
        if graph != "Original":
            assert cells["OptiMAG"].stat is None and "—" in cells["OptiMAG"].render("md")
    markdown = table.render("md")
    assert "**" in markdown and "Original" in markdown
