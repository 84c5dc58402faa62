"""The channelized Hotelling observer on paired channel outputs, and its figures of merit.

Template w = S⁻¹ Δv̄, with S the mean of the signal-present and signal-absent channel covariances
and Δv̄ the difference of their means (Barrett & Myers, ch. 13). It is trained on one half of the
pairs and applied to the other, then the halves swap (two-fold), so no test statistic comes from
a template that saw its pair. d′ = (μ_sp − μ_sa) / √(½(σ²_sp + σ²_sa)); AUC is the Mann–Whitney
probability that a signal-present statistic exceeds a signal-absent one (ties count one half).
Both accept image weights (bootstrap draws) over pairs."""

from __future__ import annotations

import numpy as np


def template(v_sp: np.ndarray, v_sa: np.ndarray) -> np.ndarray:
    """J-vector Hotelling template from N×J signal-present and signal-absent channel outputs."""
    s = 0.5 * (np.cov(v_sp, rowvar=False) + np.cov(v_sa, rowvar=False))
    return np.linalg.pinv(np.atleast_2d(s)) @ (v_sp.mean(axis=0) - v_sa.mean(axis=0))


def two_fold_statistics(v_sp: np.ndarray, v_sa: np.ndarray, fold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Test statistics (t_sp, t_sa) of every pair from the template trained on the other fold (0/1)."""
    t_sp, t_sa = np.zeros(len(v_sp)), np.zeros(len(v_sa))
    for k in (0, 1):
        train, test = fold != k, fold == k
        if train.sum() < 2 or not test.any():
            return np.full(len(v_sp), np.nan), np.full(len(v_sa), np.nan)
        w = template(v_sp[train], v_sa[train])
        t_sp[test], t_sa[test] = v_sp[test] @ w, v_sa[test] @ w
    return t_sp, t_sa


def dprime(t_sp: np.ndarray, t_sa: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """d′ per weight row (B×N pair weights; None: every pair once)."""
    w = np.ones((1, len(t_sp))) if weights is None else np.atleast_2d(weights)
    n = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m_sp, m_sa = (w @ t_sp) / n, (w @ t_sa) / n
        v_sp = (w @ t_sp**2) / n - m_sp**2
        v_sa = (w @ t_sa**2) / n - m_sa**2
        return (m_sp - m_sa) / np.sqrt(np.maximum(0.5 * (v_sp + v_sa), 1e-300))


def auc(t_sp: np.ndarray, t_sa: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Mann–Whitney AUC per weight row, in O(B·N log N)."""
    w = np.ones((1, len(t_sp))) if weights is None else np.atleast_2d(weights)
    order = np.argsort(t_sa, kind="mergesort")
    sorted_sa = t_sa[order]
    below = np.searchsorted(sorted_sa, t_sp, side="left")
    upto = np.searchsorted(sorted_sa, t_sp, side="right")
    cum = np.concatenate([np.zeros((len(w), 1)), np.cumsum(w[:, order], axis=1)], axis=1)  # B×(N+1)
    wins = cum[:, below] + 0.5 * (cum[:, upto] - cum[:, below])  # sa weight below (and tied with) each sp
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * wins).sum(axis=1) / (total * total)
