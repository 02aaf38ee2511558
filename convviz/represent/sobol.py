"""Sobol total-order indices of a function of ``k`` inputs in [0, 1], as CRAFT (Fel et al. 2023)
uses them to rank concepts: quasi-Monte Carlo designs and Jansen's estimator.

With two independent designs A and B (n × k) and, for each input i, the design C_i equal to A
but with column i taken from B, the total index of input i is (Jansen 1999)

    ST_i = E[(f(A) − f(C_i))²] / (2 Var f),

the share of the output's variance that involves input i, alone or with others: 0 when the
output ignores i, the same for inputs that matter equally.
"""

from __future__ import annotations

import numpy as np

from convviz.core.errors import InputError

__all__ = ["sobol_design", "total_indices"]


def sobol_design(k: int, n: int = 32, *, seed: int = 0) -> np.ndarray:
    """The ``n (k + 2)`` masks on which to evaluate a function of ``k`` inputs: A, B, then
    C_1 … C_k (each ``n`` rows), from a scrambled Sobol sequence of dimension 2k (scipy's,
    seeded: the same masks for a seed). ``n`` should be a power of two. Returns float32
    (n (k + 2), k) in [0, 1]."""
    from scipy.stats import qmc

    if k < 1 or n < 2:
        raise InputError(f"a Sobol design needs k ≥ 1 inputs and n ≥ 2 rows, got k={k}, n={n}")
    base = qmc.Sobol(d=2 * k, scramble=True, seed=seed).random(n)
    a, b = base[:, :k], base[:, k:]
    c = np.repeat(a[None], k, axis=0)
    for i in range(k):
        c[i, :, i] = b[:, i]
    return np.concatenate([a, b, c.reshape(k * n, k)]).astype(np.float32)


def total_indices(values: np.ndarray, k: int) -> np.ndarray:
    """Jansen's total-order indices from ``values``, the function on :func:`sobol_design`'s
    masks (``(n (k + 2),)`` or ``(m, n (k + 2))`` for ``m`` functions at once). Returns (k,) or
    (m, k); 0 where the output does not vary."""
    v = np.asarray(values, np.float64)
    single = v.ndim == 1
    v = v[None] if single else v
    n, rest = divmod(v.shape[1], k + 2)
    if rest or n < 2:
        raise InputError(f"{v.shape[1]} values do not come from a design of {k} inputs (n (k + 2) values, n ≥ 2)")
    fa, fb, fc = v[:, :n], v[:, n : 2 * n], v[:, 2 * n :].reshape(len(v), k, n)
    var = np.concatenate([fa, fb], axis=1).var(axis=1)
    st = ((fa[:, None, :] - fc) ** 2).mean(axis=2) / 2
    st = np.divide(st, var[:, None], out=np.zeros_like(st), where=var[:, None] > 0)
    return st[0] if single else st
