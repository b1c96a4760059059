"""Float64 NumPy reference of Kaldi's online NG-SGD preconditioner, written from docs/ngd.md
(Kaldi HEAD: delta = 5e-4, three init passes) and the component update (docs/ngd.md §8). Used only by the tests.

Shapes: X [N, D] minibatch, W [R, D], d [R], rho scalar.
"""
from __future__ import annotations

import numpy as np

EPSILON = 1e-10
DELTA = 5e-4


class RefNgd:
    def __init__(self, rank=40, update_period=1, num_samples_history=2000.0, alpha=4.0):
        self.rank, self.update_period = rank, update_period
        self.S, self.alpha = num_samples_history, alpha
        self.t = -1
        self.skipped = 0
        self.W = self.d = self.rho = None
        self.num_reorth = 0
        self.num_gram_schmidt = 0

    # -- docs/ngd.md §3 --------------------------------------------------------------------------------------
    def eta(self, N):
        return min(1.0 - np.exp(-N / self.S), 0.9)

    def e_of(self, d, rho, D):
        beta = rho * (1 + self.alpha) + self.alpha / D * d.sum()
        return 1.0 / (beta / d + 1.0)

    # -- docs/ngd.md §7 --------------------------------------------------------------------------------------
    def init_default(self, D):
        R = min(self.rank, D - 1)
        self.R = R
        self.rho = EPSILON
        self.d = np.full(R, EPSILON)
        R0 = np.zeros((R, D))
        for r in range(R):
            cols = np.arange(r, D, R)
            R0[r, cols] = 1.0
            R0[r, r] = 1.1
            R0[r] /= np.linalg.norm(R0[r])
        e = 1.0 / (2 + (D + R) * self.alpha / D)
        self.W = np.sqrt(e) * R0
        self.t = 0

    def set_state(self, W, d, rho, t, skipped=0):
        self.W = np.array(W, np.float64)
        self.R = self.W.shape[0]
        self.d = np.array(d, np.float64)
        self.rho = float(rho)
        self.t, self.skipped = t, skipped

    def precondition(self, X):
        """Returns (X_hat, row_prod, gamma); X is not modified."""
        X = np.asarray(X, np.float64)
        N, D = X.shape
        if D == 1:
            return X.copy(), (X ** 2).sum(1), 1.0
        if self.t == -1:
            self.init_default(D)
            for _ in range(3):
                self._step(X.copy())
            self.t = 0
            self.skipped = 0
        return self._step(X)

    # -- docs/ngd.md §5 --------------------------------------------------------------------------------------
    def _step(self, X):
        N, D = X.shape
        R, W, d, rho = self.R, self.W, self.d, self.rho
        eta = self.eta(N)
        H = X @ W.T
        update = not (self.t >= 10 and self.skipped < self.update_period - 1)
        Xhat = X - H @ W
        row_prod = (Xhat ** 2).sum(1)
        tr_xhat = row_prod.sum()
        if not update:
            self.skipped += 1
            tr_x = (X ** 2).sum()
            gamma = 1.0 if tr_xhat == 0 else np.sqrt(tr_x / tr_xhat)
            return Xhat, row_prod, gamma
        J = H.T @ X
        L = H.T @ H
        K = J @ J.T
        L, K = 0.5 * (L + L.T), 0.5 * (K + K.T)
        e = self.e_of(d, rho, D)
        s = 1.0 / np.sqrt(e)
        c_ = d + rho
        a, b = eta / N, 1 - eta
        Z = (a * a * np.outer(s, s) * K + a * b * np.outer(s, s) * L * (c_[:, None] + c_[None, :])
             + np.diag(b * b * c_ * c_))
        zs = max(1.0, np.trace(Z))
        c, U = np.linalg.eigh(Z / zs)
        c, U = c[::-1] * zs, U[:, ::-1]
        flag = c[0] > 1e6 * c[R - 1]
        cfloor = (rho * (1 - eta)) ** 2
        if np.any(c < cfloor):
            flag = True
            c = np.maximum(c, cfloor)
        # tr(X X^T) recovered as in the spec (g); equals (X**2).sum() in exact arithmetic.
        tr_x = tr_xhat + np.sum(np.diag(L) * (2 - e))
        gamma = 1.0 if tr_xhat == 0 else np.sqrt(tr_x / tr_xhat)
        sqrt_c = np.sqrt(c)
        rho1 = (a * tr_x + b * (D * rho + d.sum()) - sqrt_c.sum()) / (D - R)
        d1 = sqrt_c - rho1
        fl = max(EPSILON, DELTA * sqrt_c.max())
        rho1 = max(rho1, fl)
        d1 = np.maximum(d1, fl)
        e1 = self.e_of(d1, rho1, D)
        B = J + (b / a) * (d + rho)[:, None] * W
        A = a * (np.sqrt(e1) / sqrt_c)[:, None] * U.T * (1 / np.sqrt(e))[None, :]
        W1 = A @ B
        if flag:
            W1 = self._reorth(W1, d1, rho1, D)
        self.t += 1
        self.skipped = 0
        self.W, self.d, self.rho = W1, d1, rho1
        return Xhat, row_prod, gamma

    # -- docs/ngd.md §6 --------------------------------------------------------------------------------------
    def _reorth(self, W1, d1, rho1, D):
        e = self.e_of(d1, rho1, D)
        O = (W1 @ W1.T) / np.sqrt(np.outer(e, e))
        if np.abs(O - np.eye(len(e))).max() <= 1e-3:
            return W1
        self.num_reorth += 1
        try:
            C = np.linalg.cholesky(O)
            Cinv = np.linalg.inv(C)
            ok = Cinv.max() < 100
        except np.linalg.LinAlgError:
            ok = False
        if not ok:
            self.num_gram_schmidt += 1
            Q = W1.copy()
            for i in range(Q.shape[0]):
                for _ in range(100):
                    start = Q[i] @ Q[i]
                    Q[i] -= Q[:i].T @ (Q[:i] @ Q[i])
                    end = Q[i] @ Q[i]
                    if end > 0.01 * start and end > 0:
                        Q[i] /= np.sqrt(end)
                        break
            return np.sqrt(e)[:, None] * Q
        T = np.tril(Cinv) * np.outer(np.sqrt(e), 1 / np.sqrt(e))
        return T @ W1

    def fisher(self):
        """F = R^T diag(d) R + rho I  [D, D], with R = E^{-1/2} W."""
        D = self.W.shape[1]
        e = self.e_of(self.d, self.rho, D)
        Rm = self.W / np.sqrt(e)[:, None]
        return Rm.T @ (self.d[:, None] * Rm) + self.rho * np.eye(D)


def affine_update_ref(x, dy, lr, W, b, ngd_in, ngd_out, max_change_per_sample):
    """docs/ngd.md §8 in float64: returns (W_new, b_new, info dict). x [N, I], dy [N, O], W [O, I], b [O]."""
    x = np.asarray(x, np.float64)
    N = x.shape[0]
    X_in = np.hstack([x, np.ones((N, 1))])
    Xi, p_in, g_in = ngd_in.precondition(X_in)
    Xo, p_out, g_out = ngd_out.precondition(np.asarray(dy, np.float64))
    scale = g_in * g_out
    ms = 1.0
    if max_change_per_sample > 0:
        tot = lr * scale * np.sqrt(p_in * p_out).sum()
        limit = max_change_per_sample * N
        if tot > limit:
            ms = limit / tot
    llr = lr * scale * ms
    W_new = W + llr * Xo.T @ Xi[:, :-1]
    b_new = b + llr * Xo.T @ Xi[:, -1]
    return W_new, b_new, dict(gamma_in=g_in, gamma_out=g_out, minibatch_scale=ms)
