"""Unbalanced optimal transport in torch: an unbalanced Sinkhorn and the fused unbalanced
Gromov-Wasserstein (FUGW) block-coordinate-descent solver that OptiMAG needs.

Both follow POT's solvers step for step, so their plans can be checked against POT
(``ot.unbalanced.sinkhorn_unbalanced`` and ``ot.gromov.fused_unbalanced_gromov_wasserstein(...,
unbalanced_solver="sinkhorn")``) in the tests, but they run for a fixed number of iterations, on any
device, without importing POT, and fall back from the scaling domain to the log domain when the
kernel would over- or underflow (stable in float32 at small entropies).

Conventions (ours, written with the fused weight ``alpha`` in [0, 1] as OptiMAG states it):

    min_{P, Q >= 0, mass(P) = mass(Q)}
        alpha * sum_{ijkl} (Cx[i,k] - Cy[j,l])^2 P_ij Q_kl + (1 - alpha)/2 * <M, P + Q>
        + rho * KL(P1 (x) Q1 | a (x) a) + rho * KL(P^T1 (x) Q^T1 | b (x) b)
        + eps * KL(P (x) Q | (a b^T) (x) (a b^T))

Dividing by ``alpha`` gives POT's form (GW weight 1) with ``alpha_pot = (1 - alpha) / alpha``,
``reg_marginals = rho / alpha`` and ``epsilon = eps / alpha``: the same plans.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def gw_cost(cx: Tensor, cy: Tensor, plan: Tensor) -> Tensor:
    """``L[i, j] = sum_{kl} (cx[i,k] - cy[j,l])^2 plan[k,l]`` in O(n^3), without the 4-D tensor:
    ``(cx^2) plan 1 1^T + 1 1^T plan (cy^2)^T - 2 cx plan cy^T``."""
    left = (cx * cx) @ plan.sum(1)
    right = (cy * cy) @ plan.sum(0)
    return left[:, None] + right[None, :] - 2.0 * (cx @ plan @ cy.T)


def _kl(p: Tensor, q: Tensor) -> Tensor:
    """Relative entropy without the mass terms, as POT's ``kl_div(mass=False)``."""
    return torch.sum(p * torch.log(p / q + 1e-16))


def _kl_to_product(plan: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """``KL(plan | a b^T)`` without the mass terms (POT's ``div_to_product``)."""
    return (torch.sum(plan * torch.log(plan + (plan == 0).to(plan.dtype)))
            - torch.sum(plan.sum(1) * torch.log(a)) - torch.sum(plan.sum(0) * torch.log(b)))


SCALING_LIMIT = 300.0
"""``uot_sinkhorn(domain="auto")`` iterates in the scaling domain (float64 matrix-vector products,
about ten times faster than log-sum-exp) while ``|cost| / eps`` stays below this, else in the log domain."""

FLOAT32_SCALING_LIMIT = 60.0
"""Below this ``|cost| / eps``, float32 inputs iterate in float32 (else float64)."""


@torch.no_grad()
def uot_sinkhorn(cost: Tensor, a: Tensor, b: Tensor, eps: float, rho: float, n_iter: int = 20,
                 init: tuple[Tensor, Tensor] | None = None, domain: str = "auto"
                 ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Entropic unbalanced OT with KL marginal penalties, by Sinkhorn scaling.

    Solves ``min_P <cost, P> + eps KL(P | a b^T) + rho KL(P1 | a) + rho KL(P^T1 | b)``. The plan is
    ``P_ij = a_i b_j exp(log_u_i + log_v_j - cost_ij / eps)``; each iteration updates ``u`` then
    ``v`` with exponent ``rho / (rho + eps)`` (1 when ``rho`` is infinite: balanced OT), exactly
    the iterates of POT's ``sinkhorn_knopp_unbalanced``.

    ``domain``: ``scaling`` (``u = (a / K v)^fi``, in float32 for float32 inputs while
    ``|cost| / eps < 60``, else float64), ``log`` (the same iterates through
    log-sum-exp: stable at any entropy, slower) or ``auto`` (scaling while ``|cost| / eps`` is below
    `SCALING_LIMIT` and the result is finite, else log).

    Returns:
        ``(plan, (log_u, log_v))``; the duals can warm-start the next call (POT's ``warmstart``).
    """
    if eps <= 0:
        raise ValueError(f"uot_sinkhorn: eps must be > 0, found {eps}")
    if domain not in ("auto", "scaling", "log"):
        raise ValueError(f"uot_sinkhorn: domain must be auto, scaling or log, found {domain!r}")
    fi = 1.0 if math.isinf(rho) else rho / (rho + eps)
    if domain != "log":
        largest = float(cost.abs().max()) / eps
        if domain == "scaling" or largest < SCALING_LIMIT:
            # float32 keeps exp(-cost / eps) and the scalings well inside its range up to ~60
            work = torch.float32 if cost.dtype != torch.float64 and largest < FLOAT32_SCALING_LIMIT else torch.float64
            out = _sinkhorn_scaling(cost.to(work) / eps, a, b, fi, n_iter, init)
            if out is not None or domain == "scaling":
                if out is None:
                    raise FloatingPointError("uot_sinkhorn: the scaling iterations over/underflowed; use domain='log'")
                plan, (log_u, log_v) = out
                return plan.to(cost.dtype), (log_u.to(a.dtype), log_v.to(b.dtype))
    return _sinkhorn_log(cost, a, b, eps, fi, n_iter, init)


def _sinkhorn_scaling(scaled: Tensor, a: Tensor, b: Tensor, fi: float, n_iter: int,
                      init: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]] | None:
    a64, b64 = a.to(scaled.dtype), b.to(scaled.dtype)
    kernel = torch.exp(-scaled) * a64[:, None] * b64[None, :]
    if init is None:
        u, v = torch.ones_like(a64), torch.ones_like(b64)
    else:
        u, v = torch.exp(init[0].to(scaled.dtype)), torch.exp(init[1].to(scaled.dtype))
    kernel_t = kernel.T.contiguous()
    for _ in range(n_iter):  # plain torch calls: the loop is overhead-bound on small batches
        u = torch.pow(torch.div(a64, torch.mv(kernel, v)), fi)
        v = torch.pow(torch.div(b64, torch.mv(kernel_t, u)), fi)
    if not (bool(torch.isfinite(u).all()) and bool(torch.isfinite(v).all()) and bool((u > 0).all())
            and bool((v > 0).all())):
        return None
    return u[:, None] * kernel * v[None, :], (torch.log(u), torch.log(v))


def _sinkhorn_log(cost: Tensor, a: Tensor, b: Tensor, eps: float, fi: float, n_iter: int,
                  init: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    log_a, log_b = torch.log(a), torch.log(b)
    kernel = -cost / eps
    if init is None:
        log_u, log_v = torch.zeros_like(a), torch.zeros_like(b)
    else:
        log_u, log_v = init[0].to(a.dtype).clone(), init[1].to(b.dtype).clone()
    for _ in range(n_iter):
        log_u = -fi * torch.logsumexp(kernel + (log_b + log_v)[None, :], dim=1)
        log_v = -fi * torch.logsumexp(kernel + (log_a + log_u)[:, None], dim=0)
    plan = torch.exp(log_a[:, None] + log_b[None, :] + log_u[:, None] + log_v[None, :] + kernel)
    return plan, (log_u, log_v)


@torch.no_grad()
def fugw_plan(cx: Tensor, cy: Tensor, m: Tensor | None = None, alpha: float = 0.6, rho: float = 0.1,
              eps: float = 0.05, a: Tensor | None = None, b: Tensor | None = None, bcd_iters: int = 5,
              sinkhorn_iters: int = 20, warm_start: bool = True, domain: str = "auto") -> Tensor:
    """The sample coupling of fused unbalanced Gromov-Wasserstein between ``(cx, a)`` and ``(cy, b)``.

    Block-coordinate descent as POT's ``fused_unbalanced_gromov_wasserstein`` (Thual et al. 2022;
    Séjourné et al. 2021): two couplings ``P`` and ``Q`` start at ``a b^T``; each BCD iteration
    updates ``Q`` with ``P`` fixed, then ``P`` with ``Q`` fixed, each an entropic unbalanced OT
    (`uot_sinkhorn`, ``sinkhorn_iters`` iterations, warm-started from that coupling's previous
    duals) on the linearised cost ``alpha * gw_cost + (1 - alpha)/2 * M`` plus the constant terms
    of the fixed coupling, with ``eps`` and ``rho`` scaled by the fixed coupling's mass, then
    rescaled so both couplings have the same mass. Runs under ``no_grad``: the plan is a constant.

    Args:
        cx, cy: ``[n, n]`` and ``[p, p]`` cost (dissimilarity) matrices.
        m: ``[n, p]`` linear (Wasserstein) cost, or None for pure unbalanced GW.
        alpha: fused weight of the GW term in [0, 1] (linear term weight ``1 - alpha``).
        rho: KL marginal penalty; eps: entropic regularisation.
        a, b: reference measures (uniform ``1/n``, ``1/p`` by default).
        domain: the Sinkhorn iterations' domain (`uot_sinkhorn`).
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"fugw_plan: alpha must lie in (0, 1], found {alpha}")
    n, p = cx.shape[0], cy.shape[0]
    a = torch.full((n,), 1.0 / n, dtype=cx.dtype, device=cx.device) if a is None else a
    b = torch.full((p,), 1.0 / p, dtype=cy.dtype, device=cy.device) if b is None else b
    linear = None if m is None or alpha == 1.0 else (1.0 - alpha) / 2.0 * m
    ab = a[:, None] * b[None, :]
    pi_p, pi_q = ab.clone(), ab.clone()
    duals_p = duals_q = None

    def linearised(other: Tensor, transpose: bool) -> Tensor:
        cost = alpha * (gw_cost(cx.T, cy.T, other) if transpose else gw_cost(cx, cy, other))
        if linear is not None:
            cost = cost + linear
        constant = (rho * (_kl(other.sum(1), a) + _kl(other.sum(0), b))
                    + eps * _kl_to_product(other, a, b))
        return cost + constant

    for _ in range(bcd_iters):
        mass = pi_p.sum()
        new_q, duals = uot_sinkhorn(linearised(pi_p, True), a, b, float(eps * mass), float(rho * mass),
                                    sinkhorn_iters, duals_q if warm_start else None, domain)
        pi_q, duals_q = torch.sqrt(mass / new_q.sum()) * new_q, duals
        mass = pi_q.sum()
        new_p, duals = uot_sinkhorn(linearised(pi_q, False), a, b, float(eps * mass), float(rho * mass),
                                    sinkhorn_iters, duals_p if warm_start else None, domain)
        pi_p, duals_p = torch.sqrt(mass / new_p.sum()) * new_p, duals
    if not bool(torch.isfinite(pi_p).all()):
        raise FloatingPointError("fugw_plan: the transport plan is not finite; raise eps or normalise the costs")
    return pi_p


def fugw_loss(cx: Tensor, cy: Tensor, plan: Tensor, m: Tensor | None = None, alpha: float = 0.6) -> Tensor:
    """The fused GW transport cost of a fixed ``plan``, normalised by its mass:
    ``alpha * sum_{ijkl}(cx[i,k]-cy[j,l])^2 T_ij T_kl / mass^2 + (1-alpha) * <M, T> / mass``.

    ``plan`` is used detached, so gradients reach ``cx`` and ``cy`` (and ``m``) only: the entropic
    and marginal terms of the FUGW objective are constants once the plan is fixed and are left out.
    """
    plan = plan.detach()
    mass = plan.sum().clamp_min(1e-12)
    value = alpha * torch.sum(gw_cost(cx, cy, plan) * plan) / mass ** 2
    if m is not None and alpha < 1.0:
        value = value + (1.0 - alpha) * torch.sum(m * plan) / mass
    return value
