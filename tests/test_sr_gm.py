"""SR-GM: the projection (equations 10-11), the damping term (equation 12), the ablations, end to end."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import make_tiny_graph
from mmgc.errors import InputError
from mmgc.methods import Context, create_method, get_method
from mmgc.methods.modality_gradients import (
    check_pairable, intra_modal_similarity, laplacian_quadratic, modality_gradient_stats, project_conflicts,
)

TWO = {"text": (0, 2), "image": (2, 4)}
FAST = dict(epochs=4, outer_loop=3, inner_loop=2, hidden=16, select_every=2, select_epochs=20, select_eval_every=5,
            pge_hidden=8, cycle_epochs=4, structure_epochs=1)


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
    assert laplacian_quadratic(g, a, normalized=True).item() == pytest.approx(float(torch.trace(g.T @ lap_norm @ g)), rel=1e-5)
    # isolated nodes contribute nothing to the normalised form, and nothing is NaN
    a[0] = 0
    a[:, 0] = 0
    assert math.isfinite(laplacian_quadratic(g, a, normalized=True).item())


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
    strip = lambda h: {k: v for k, v in h.items() if k not in ("seconds", "elapsed")}  # noqa: E731
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
    # decoupling changes the run when there are conflicts; without it the run is "w/o D"
    no_d = create_method("sr_gm", dict(FAST, lam=1e4, decouple=False)).condense(graph, 0.25, Context(seed=0))
    assert not torch.equal(condensed.x, no_d.x) or h[0]["conflict_frac"] == 0


@pytest.mark.parametrize("options", [dict(decouple_target="meta_gradient"), dict(feature_grad="total"),
                                     dict(laplacian="normalized"), dict(structure="none")])
def test_sr_gm_options_run(options):
    graph = make_tiny_graph(n=48, d_text=5, d_image=5)
    condensed = create_method("sr_gm", dict(FAST, lam=1e3, **options)).condense(graph, 0.25, Context(seed=0))
    assert all(math.isfinite(h["loss_total"]) for h in condensed.info["history"])


def test_sr_gm_refuses_decoupling_on_modalities_of_different_widths():
    graph = make_tiny_graph(n=48, d_text=6, d_image=4)
    with pytest.raises(InputError, match="equal width"):
        create_method("sr_gm", FAST).condense(graph, 0.25, Context(seed=0))
    # without decoupling the damping alone is defined
    create_method("sr_gm", dict(FAST, decouple=False, epochs=1)).condense(graph, 0.25, Context(seed=0))


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
    method._has_structure = True
    logits = method.synthetic_forward(model, x_in, method.synthetic_operand(adj))
    state = StepState(method, SimpleNamespace(modalities=TWO), 0, 0, phase, model, list(model.parameters()), x, x_in,
                      adj, logits, labels, logits.new_zeros(()), False)
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
