"""SR-GM: the projection (equations 10-11), the damping term (equation 12), the ablations, end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import GCOND_FAST, make_tiny_graph

from mmgc.errors import InputError
from mmgc.methods import Context, create_method, get_method
from mmgc.methods.modality_gradients import (
    check_pairable, intra_modal_similarity, laplacian_quadratic, modality_gradient_stats, project_conflicts,
)

TWO = {"text": (0, 2), "image": (2, 4)}
FAST = GCOND_FAST


# ------------------------------------------------------------------------------------ decoupling
def test_projection_matches_a_hand_worked_example():
    g = torch.tensor([
        [1.0, 0.0, -1.0, 1.0],  # conflict: <(1,0), (-1,1)> = -1
        [1.0, 2.0, 3.0, 1.0],  # no conflict: <(1,2), (3,1)> = 5
    ])
    out, conflict = project_conflicts(g, TWO)
    # text' = (1,0) - (-1/2)(-1,1) = (0.5, 0.5); image' = (-1,1) - (-1/1)(1,0) = (0, 1)
    assert torch.allclose(out[0], torch.tensor([0.5, 0.5, 0.0, 1.0]))
    assert torch.equal(out[1], g[1])
    assert conflict.tolist() == [True, False]
    # where there was conflict each projected block is orthogonal to the *other original* block
    assert float(out[0, :2] @ g[0, 2:]) == pytest.approx(0.0, abs=1e-7)
    assert float(out[0, 2:] @ g[0, :2]) == pytest.approx(0.0, abs=1e-7)


def test_projection_is_safe_for_zero_norm_blocks_in_value_and_gradient():
    g = torch.tensor([[0.0, 0.0, 1.0, -2.0], [0.0, 0.0, 0.0, 0.0], [1e-30, 0.0, -1e-30, 0.0]], requires_grad=True)
    out, conflict = project_conflicts(g, TWO)
    assert torch.isfinite(out).all()
    assert torch.equal(out[:2].detach(), g[:2].detach())
    (grad,) = torch.autograd.grad(out.pow(2).sum(), g)
    assert torch.isfinite(grad).all()


def test_projection_with_three_modalities_uses_the_original_pairs():
    layout = {"a": (0, 2), "b": (2, 4), "c": (4, 6)}
    ga, gb, gc = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0]), torch.tensor([0.0, 1.0])
    out, conflict = project_conflicts(torch.cat([ga, gb, gc])[None], layout)
    # a conflicts with b only; b with a only (<b, c> = 1 > 0); c with nobody
    exp_a = ga - (ga @ gb) / (gb @ gb) * gb
    exp_b = gb - (gb @ ga) / (ga @ ga) * ga
    assert torch.allclose(out[0], torch.cat([exp_a, exp_b, gc]))
    assert bool(conflict[0])


def test_one_modality_is_left_alone_and_unequal_widths_are_refused():
    g = torch.randn(3, 4)
    out, conflict = project_conflicts(g, {"features": (0, 4)})
    assert torch.equal(out, g) and not bool(conflict.any())
    with pytest.raises(InputError, match="equal width"):
        check_pairable({"text": (0, 3), "image": (3, 4)})


def test_gradient_statistics_and_intra_modal_similarity():
    g = torch.tensor([[1.0, 0.0, -1.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    stats = modality_gradient_stats(g, TWO)
    assert stats["conflict_frac"] == 0.5 and stats["grad_cos"] == pytest.approx(0.0)
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]])
    sim = intra_modal_similarity(x, TWO)
    assert sim["intra_sim/text"] == pytest.approx(1.0) and sim["intra_sim/image"] == pytest.approx(0.0)


# ------------------------------------------------------------------------------------ damping
def test_dirichlet_energy_equals_the_explicit_edge_sum_of_equation_12():
    torch.manual_seed(0)
    n, d = 6, 4
    a = torch.rand(n, n)
    a = torch.triu(a, 1)
    a = a + a.T
    g = torch.randn(n, d)
    explicit = sum(a[i, j] * (g[i] - g[j]).pow(2).sum() for i in range(n) for j in range(i + 1, n))
    assert laplacian_quadratic(g, a).item() == pytest.approx(float(explicit), rel=1e-5)
    lap = torch.diag(a.sum(1)) - a
    assert laplacian_quadratic(g, a).item() == pytest.approx(float(torch.trace(g.T @ lap @ g)), rel=1e-5)
    dinv = a.sum(1).rsqrt()
    lap_norm = dinv[:, None] * lap * dinv[None, :]
    assert laplacian_quadratic(g, a, kind="normalized").item() == pytest.approx(float(torch.trace(g.T @ lap_norm @ g)), rel=1e-5)
    # isolated nodes contribute nothing to the normalised form, and nothing is NaN
    a[0] = 0
    a[:, 0] = 0
    assert math.isfinite(laplacian_quadratic(g, a, kind="normalized").item())


def test_damping_is_differentiable_in_the_features_and_the_generator():
    from mmgc.methods.structure import PGE

    torch.manual_seed(0)
    pge = PGE(4, hidden=8)
    x = torch.randn(5, 4, requires_grad=True)
    adj = pge(x)
    w = torch.randn(4, 3)
    loss = torch.nn.functional.cross_entropy(adj @ x @ w, torch.tensor([0, 1, 2, 0, 1]))
    (g,) = torch.autograd.grad(loss, x, create_graph=True)
    r = laplacian_quadratic(project_conflicts(g, TWO)[0], adj)
    grads = torch.autograd.grad(r, [x] + list(pge.parameters()), allow_unused=True)
    assert grads[0].abs().sum() > 0
    named = dict(zip([name for name, _ in pge.named_parameters()], grads[1:]))
    assert named["last.weight"] is not None and float(named["last.weight"].abs().sum()) > 0
    assert named["middle.0.weight"] is not None and float(named["middle.0.weight"].abs().sum()) > 0


# ------------------------------------------------------------------------------------ ablations
@pytest.mark.parametrize("decouple", [False, True])
def test_without_decoupling_and_damping_equals_gcond_bit_for_bit(decouple):
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    gcond = create_method("gcond", FAST).condense(graph, 0.25, Context(seed=7))
    ablated = create_method("sr_gm", dict(FAST, lam=0.0, decouple=decouple)).condense(graph, 0.25, Context(seed=7))
    assert torch.equal(gcond.x, ablated.x)
    assert torch.equal(gcond.adj, ablated.adj)
    assert torch.equal(gcond.y, ablated.y)
    strip = lambda h: {k: v for k, v in h.items() if k not in ("seconds", "cpu_seconds", "elapsed")}  # noqa: E731
    assert [strip(h) for h in gcond.info["history"]] == [strip(h) for h in ablated.info["history"]]


def test_sr_gm_end_to_end_logs_its_terms_and_diagnostics():
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    condensed = create_method("sr_gm", dict(FAST, lam=1e4)).condense(graph, 0.25, Context(seed=0))
    h = condensed.info["history"]
    assert condensed.info["method"] == "sr_gm"
    for key in ("loss_gm", "damping", "R", "ratio_x/damping", "conflict_frac", "grad_cos", "dirichlet_G",
                "dirichlet_Gp", "intra_sim/text", "intra_sim/image"):
        assert key in h[0] and math.isfinite(h[0][key]), key
    assert h[0]["loss_total"] == pytest.approx(h[0]["loss_gm"] + h[0]["damping"], rel=1e-5)
    assert h[0]["dirichlet_Gp"] <= h[0]["dirichlet_G"] * 1.5 + 1e-12  # same field, conflicts removed
    # this run has conflicting modality gradients, so decoupling them changes it; without it the run is "w/o D"
    assert max(e["conflict_frac"] for e in h) > 0
    no_d = create_method("sr_gm", dict(FAST, lam=1e4, decouple=False)).condense(graph, 0.25, Context(seed=0))
    assert not torch.equal(condensed.x, no_d.x)


@pytest.mark.parametrize("options", [dict(decouple_target="meta_gradient"), dict(feature_grad="total"),
                                     dict(laplacian="normalized"), dict(structure="none")])
def test_sr_gm_options_run(options):
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    condensed = create_method("sr_gm", dict(FAST, lam=1e3, **options)).condense(graph, 0.25, Context(seed=0))
    assert all(math.isfinite(h["loss_total"]) for h in condensed.info["history"] if h["phase"] != "idle")


def test_sr_gm_refuses_decoupling_on_modalities_of_different_widths():
    graph = make_tiny_graph(n=48, d_text=6, d_image=4)
    with pytest.raises(InputError, match="equal width"):
        create_method("sr_gm", FAST).condense(graph, 0.25, Context(seed=0))
    # without decoupling the damping alone is defined
    create_method("sr_gm", dict(FAST, decouple=False, epochs=2)).condense(graph, 0.25, Context(seed=0))


def test_sr_gm_declares_its_search_space():
    cls = get_method("sr_gm")
    space = cls.search_space
    assert space["lam"].kind == "loguniform" and (space["lam"].low, space["lam"].high) == (1.0, 1e6)
    assert {"lr_feat", "lr_adj"} <= set(space)
    with pytest.raises(InputError, match="lam"):
        create_method("sr_gm", {"lam": -1})


def _step_state(method, phase: str):
    """A hand-built outer step of ``method`` on 6 synthetic nodes with a PGE structure."""
    from types import SimpleNamespace

    from mmgc.methods.gradient_matching import StepState
    from mmgc.methods.structure import PGE
    from mmgc.models import build_backbone

    torch.manual_seed(0)
    pge = PGE(4, hidden=8)
    x = torch.nn.Parameter(torch.randn(6, 4))
    x_in = x.view_as(x)
    adj = pge(x)
    model = build_backbone("sgc", 4, 8, 3, layers=2, dropout=0.0, modalities=TWO)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    run = SimpleNamespace(method=method, setup=SimpleNamespace(modalities=TWO), x=x, labels=labels, has_structure=True)
    logits = method.synthetic_forward(model, x_in, method.synthetic_operand(run, adj))
    state = StepState(run, 0, 0, phase, model, list(model.parameters()), x_in, adj, logits, logits.new_zeros(()), False)
    return state, x, pge


def test_damping_at_fixed_structure_reaches_the_features_but_not_the_generator():
    paper = create_method("sr_gm", dict(lam=1.0))
    state, x, pge = _step_state(paper, "features")
    r = paper.extra_terms(state)["damping"]
    grads = torch.autograd.grad(r, [x] + list(pge.parameters()), allow_unused=True)
    assert float(grads[1].abs().sum()) > 0  # the paper's R trains the generator

    fixed = create_method("sr_gm", dict(lam=1.0, damp_structure=False))
    state, x, pge = _step_state(fixed, "features")
    r_fixed = fixed.extra_terms(state)["damping"]
    assert r_fixed.item() == pytest.approx(r.item(), rel=1e-5)  # same value, only the gradient path differs
    grads = torch.autograd.grad(r_fixed, [x] + list(pge.parameters()), allow_unused=True)
    assert float(grads[0].abs().sum()) > 0
    assert all(g is None or float(g.abs().sum()) == 0 for g in grads[1:])
    # on a structure epoch the fixed-structure damping adds nothing
    state, _, _ = _step_state(fixed, "structure")
    assert fixed.extra_terms(state) == {}


# ------------------------------------------------------------------------------------ the authors' form
def test_normalized_laplacian_with_self_loops_is_the_authors_and_zero_on_an_empty_graph():
    torch.manual_seed(0)
    n = 5
    a = torch.triu(torch.rand(n, n), 1)
    a = a + a.T
    g = torch.randn(n, 3)
    a_hat = a + torch.eye(n)
    dinv = a_hat.sum(1).rsqrt()
    lap = torch.eye(n) - dinv[:, None] * a_hat * dinv[None, :]
    value = laplacian_quadratic(g, a, kind="normalized_self_loops")
    assert value.item() == pytest.approx(float(torch.trace(g.T @ lap @ g)), rel=1e-5)
    assert laplacian_quadratic(g, torch.zeros(n, n), kind="normalized_self_loops").item() == pytest.approx(0, abs=1e-6)
    with pytest.raises(InputError, match="laplacian: expected one of"):
        laplacian_quadratic(g, a, kind="sideways")


def test_detached_field_passes_no_gradient_through_g_s_only_through_the_generator_input():
    from mmgc.methods.modality_gradients import laplacian_quadratic as quad

    method = create_method("sr_gm", dict(lam=2.0, grad_field="detached", laplacian="normalized_self_loops"))
    state, x, pge = _step_state(method, "features")
    r = method.extra_terms(state)["damping"]
    g_s = state.feature_gradient()
    assert not g_s.requires_grad
    # nothing reaches the backbone parameters: G_S is a constant
    assert all(g is None for g in torch.autograd.grad(r, state.params, retain_graph=True, allow_unused=True))
    gx = torch.autograd.grad(r, x, retain_graph=True)[0]
    # the X_S gradient is exactly the generator-input path: d/dX of lam * R(G_S const, PGE(X))
    x2 = x.detach().clone().requires_grad_(True)
    expected = 2.0 * quad(project_conflicts(g_s, TWO)[0], pge(x2), "normalized_self_loops")
    assert r.item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(gx, torch.autograd.grad(expected, x2)[0], rtol=1e-4, atol=1e-7)
    assert float(gx.abs().sum()) > 0
    # the differentiable field also moves X_S through G_S: a different gradient
    paper = create_method("sr_gm", dict(lam=2.0, laplacian="normalized_self_loops"))
    state_p, x_p, _ = _step_state(paper, "features")
    gx_p = torch.autograd.grad(paper.extra_terms(state_p)["damping"], x_p)[0]
    assert not torch.allclose(gx, gx_p, rtol=1e-3)
    with pytest.raises(InputError, match="grad_field=detached with damp_structure=false"):
        create_method("sr_gm", dict(grad_field="detached", damp_structure=False))


def test_class_weight_by_total_scales_the_matching_loss_by_max_over_total():
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    fast = dict(FAST, epochs=1, outer_loop=1, structure="none", feature_schedule="every_epoch")
    a = create_method("gcond", fast).condense(graph, 0.25, Context(seed=3))
    b = create_method("gcond", dict(fast, class_weight="by_total")).condense(graph, 0.25, Context(seed=3))
    counts = a.info["class_counts"]
    assert b.info["history"][0]["loss_gm"] == pytest.approx(a.info["history"][0]["loss_gm"] * max(counts) / sum(counts),
                                                            rel=1e-5)


def test_label_allocation_largest_takes_rest():
    from mmgc.methods.budget import allocate_labels, allocate_labels_largest_takes_rest

    # 12 classes, one large: the authors' rule floors every other class and gives the largest the rest
    labels = torch.cat([torch.full((k,), c) for c, k in enumerate([81] + [19] * 11)])  # quotas 8.1 and 1.9
    ours = allocate_labels(labels, 29, 12)
    theirs = allocate_labels_largest_takes_rest(labels, 29, 12)
    assert int(ours.sum()) == int(theirs.sum()) == 29
    assert theirs.tolist() == [18] + [1] * 11 and ours[0] == 8
    # ties: the class that appears last among the largest takes the rest (a stable sort of a Counter)
    tie = allocate_labels_largest_takes_rest(torch.tensor([1, 0, 1, 0, 2]), 4, 3)
    assert tie.tolist() == [2, 1, 1]
    with pytest.raises(InputError, match="largest_takes_rest"):
        allocate_labels_largest_takes_rest(torch.tensor([0] * 10 + [1] * 10 + [2] * 10), 2, 3)
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    condensed = create_method("gcond", dict(FAST, epochs=2, label_allocation="largest_takes_rest")).condense(
        graph, 0.25, Context(seed=0))
    assert sum(condensed.info["class_counts"]) == condensed.num_nodes


def test_the_authors_preset_builds_and_rows_record_the_form():
    from mmgc.harness.evaluate import EvalConfig, evaluate
    from mmgc.presets import load_preset

    settings = load_preset("sr_gm", "authors")
    assert settings["grad_field"] == "detached" and settings["laplacian"] == "normalized_self_loops"
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    run = dict(settings, **{k: v for k, v in FAST.items()}, lam=3000.0)
    condensed = create_method("sr_gm", run).condense(graph, 0.25, Context(seed=0))
    rows = evaluate(condensed, graph, "gcn", [0], EvalConfig(epochs=5))
    row = rows[0]
    recorded = json.loads(row["method_config"])
    assert (recorded["feature_grad"], recorded["grad_field"], row["selection"]) == ("total", "detached", "val")
    off = condensed.adj[~torch.eye(condensed.num_nodes, dtype=torch.bool)]
    assert row["adj_mean"] == pytest.approx(float(off.mean()), rel=1e-5)
    assert row["adj_density"] == pytest.approx(float((off >= row["edge_threshold"]).float().mean()), rel=1e-5)


# ------------------------------------------------------------------------------------ diagnostics
def test_diagnostics_cover_every_outer_step_with_first_and_last():
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    every = create_method("sr_gm", dict(FAST, lam=1e3)).condense(graph, 0.25, Context(seed=0)).info["history"]
    first = create_method("sr_gm", dict(FAST, lam=1e3, diagnostic_steps="first")).condense(
        graph, 0.25, Context(seed=0)).info["history"]
    for key in ("conflict_frac", "ratio_x/damping", "grad_norm_G", "adj_mean"):
        assert f"{key}/first" in every[0] and f"{key}/last" in every[0] and f"{key}/first" not in first[0]
        assert key in every[0] and math.isfinite(every[0][key])
    # step 0 is the same step in both runs; the mean is over all three steps
    assert every[0]["conflict_frac/first"] == pytest.approx(first[0]["conflict_frac"])
    assert every[0]["dead_backbone"] == 0.0


def test_a_dead_condensation_backbone_is_reported_and_warned_about():
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    with pytest.warns(RuntimeWarning, match="same output"):
        dead = create_method("gcond", dict(FAST, backbone="gcn", lr_model=100.0)).condense(graph, 0.25, Context(seed=0))
    assert dead.info["dead_backbone_epochs"] > 0 and max(h["dead_backbone"] for h in dead.info["history"]) > 0
    assert any(h.get("grad_norm_G/last") == 0 for h in dead.info["history"])


def test_a_sparse_generator_start_sets_the_initial_edge_weight():
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    for w in (0.05, 0.3):
        method = create_method("gcond", dict(FAST, pge_init_weight=w))
        setup, x0 = method.prepare(graph, 0.25, Context(seed=0))
        adj = method.make_structure(setup, x0).inference(x0)
        off = adj[~torch.eye(adj.shape[0], dtype=torch.bool)]
        assert float(off.mean()) == pytest.approx(w, rel=0.5)
    with pytest.raises(InputError, match="pge_init_weight"):
        create_method("gcond", dict(pge_init_weight=1.0))


# ------------------------------------------------------------------------------------ beyond the paper
def test_relative_damping_makes_lambda_the_share_of_the_feature_update():
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    h = create_method("sr_gm", dict(FAST, lam=0.3, damping_scale="relative")).condense(
        graph, 0.25, Context(seed=0)).info["history"]
    for record in h:
        for key in ("ratio_x/damping/first", "ratio_x/damping/last", "ratio_x/damping"):
            assert record[key] == pytest.approx(0.3, rel=1e-3), (record["epoch"], key)
        assert record["lam_t"] > 0


def _pcgrad_pair(a, b):
    dot = a @ b
    if dot >= 0:
        return a + b
    return (a - dot / (b @ b) * b) + (b - dot / (a @ a) * a)


def test_decoupled_sum_projects_conflicting_parameter_gradients():
    from mmgc.methods.modality_gradients import decoupled_sum

    a, b = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([-1.0, 1.0, 0.0])
    assert float(a @ b) < 0
    out = decoupled_sum([a, b])
    assert torch.allclose(out, _pcgrad_pair(a, b))
    # a' = a + b/2 = (0.5, 0.5, 2), b' = b + a/5 = (-0.8, 1, 0.4)
    assert torch.allclose(out, torch.tensor([-0.3, 1.5, 2.4]))
    c = torch.tensor([1.0, 1.0, 0.0])
    assert torch.equal(decoupled_sum([a, c]), a + c)  # no conflict: the plain sum


@pytest.mark.parametrize("path", ["loop", "batched"])
def test_target_gradient_decoupling_matches_the_hand_computed_pcgrad_target(path):
    from mmgc.methods.gradient_matching.gradients import real_gradients

    graph = make_tiny_graph(n=48, d_text=6, d_image=4)  # unequal widths are fine: no per-node projection
    method = create_method("sr_gm", dict(FAST, decouple_target="target_gradient"))
    setup, _ = method.prepare(graph, 0.25, Context(seed=0))
    method.validate_setup(setup)
    torch.manual_seed(1)
    model = method.build_model(setup)
    params = list(model.parameters())
    samples = setup.sampler.sample()
    got = real_gradients(method.real_class_gradient, model, samples, setup.x_real, setup.y_real, path)
    for c in range(setup.num_classes):
        nodes, adj, pos, seeds = samples.block(c)
        flat = []
        for start, stop in setup.modalities.values():
            x = torch.zeros_like(setup.x_real[nodes])
            x[:, start:stop] = setup.x_real[nodes][:, start:stop]
            loss = torch.nn.functional.cross_entropy(model(x, adj)[pos], setup.y_real[seeds])
            flat.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
        expected = _pcgrad_pair(flat[0], flat[1])
        assert torch.allclose(torch.cat([g[c].reshape(-1) for g in got]), expected, rtol=1e-4, atol=1e-7)
    condensed = create_method("sr_gm", dict(FAST, decouple_target="target_gradient")).condense(graph, 0.25, Context(seed=0))
    assert all(math.isfinite(r["loss_total"]) for r in condensed.info["history"])
