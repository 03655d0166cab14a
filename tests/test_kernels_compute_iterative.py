"""conv2d, black_scholes and the iterative kernels: references against mpmath on tiny
inputs, and the checkpoint contract of the iterative kernels (increasing iteration
indices, the same initial state in every backend, an error profile in the record)."""
import numpy as np
import pytest
from mpmath import mp, mpf

from harness.kernels._common import LONGDOUBLE_BITS
from harness.kernels._iterative import checkpoint_steps
from harness.registry import get_registry
from harness.runner import Case, RunContext, execute_case
from harness.timing import TimingOptions

REG = get_registry()
ITERATIVE = ["jacobi2d", "nbody", "adam", "mlp_xor", "quadratic_fit"]


def M(a):
    """float64 array -> nested lists of mpf (exact)."""
    a = np.asarray(a, dtype=np.float64)
    return [M(x) for x in a] if a.ndim else mpf(float(a))


def A(x):
    """nested lists of mpf -> float64 array."""
    return np.array(x, dtype=object).astype(np.float64)


def mp_conv2d(i):
    X, W = M(i["X"]), M(i["W"])
    n, c, s = len(X), len(X[0]), len(X[0][0])
    return [[[[mp.fsum(W[o][ci][ky][kx] * X[b][ci][y + ky - 1][x + kx - 1]
                       for ci in range(c) for ky in range(3) for kx in range(3)
                       if 0 <= y + ky - 1 < s and 0 <= x + kx - 1 < s)
               for x in range(s)] for y in range(s)] for o in range(len(W))] for b in range(n)]


def mp_black_scholes(i):
    calls, puts = [], []
    for S, K, T, r, v in zip(*(M(i[k]) for k in ("S", "K", "T", "r", "sigma"))):
        sq = v * mp.sqrt(T)
        d1 = (mp.log(S / K) + (r + v * v / 2) * T) / sq
        d2 = d1 - sq
        disc = K * mp.exp(-r * T)
        phi = lambda x: (1 + mp.erf(x / mp.sqrt(2))) / 2  # noqa: E731
        calls.append(S * phi(d1) - disc * phi(d2))
        puts.append(disc * phi(-d2) - S * phi(-d1))
    return [calls, puts]


def mp_jacobi2d(i):
    x, b, k = M(i["x0"]), M(i["b"]), int(i["k"])
    n = len(x)
    steps, out = checkpoint_steps(k, 9), [x]
    for it in range(1, k + 1):
        y = [row[:] for row in x]
        for r in range(1, n - 1):
            for c in range(1, n - 1):
                y[r][c] = (x[r - 1][c] + x[r + 1][c] + x[r][c - 1] + x[r][c + 1] + b[r][c]) / 4
        x = y
        if it in steps:
            out.append(x)
    return out


def mp_nbody(i):
    x, v, m = M(i["pos"]), M(i["vel"]), M(i["mass"])
    h, e2, k = mpf(i["h"]), mpf(i["eps2"]), int(i["k"])
    n = len(m)

    def acc(x):
        a = []
        for p in range(n):
            s = [mpf(0)] * 3
            for q in range(n):
                d = [x[q][c] - x[p][c] for c in range(3)]
                w = m[q] / (sum(dc * dc for dc in d) + e2) ** mpf(1.5)
                s = [s[c] + w * d[c] for c in range(3)]
            a.append(s)
        return a

    steps, out = checkpoint_steps(k, 9), [[x, v]]
    a = acc(x)
    for it in range(1, k + 1):
        v = [[v[p][c] + h / 2 * a[p][c] for c in range(3)] for p in range(n)]
        x = [[x[p][c] + h * v[p][c] for c in range(3)] for p in range(n)]
        a = acc(x)
        v = [[v[p][c] + h / 2 * a[p][c] for c in range(3)] for p in range(n)]
        if it in steps:
            out.append([x, v])
    return out


def mp_adam(i):
    w, c, d = M(i["w0"]), M(i["c"]), M(i["d"])
    lr, b1, b2, eps, k = (mpf(float(i[key])) for key in ("lr", "beta1", "beta2", "eps", "k"))
    m = [mpf(0)] * len(w)
    v = [mpf(0)] * len(w)
    steps, out = checkpoint_steps(int(k), 9), [w]
    for it in range(1, int(k) + 1):
        g = [dj * (wj - cj) for wj, cj, dj in zip(w, c, d)]
        m = [b1 * mj + (1 - b1) * gj for mj, gj in zip(m, g)]
        v = [b2 * vj + (1 - b2) * gj * gj for vj, gj in zip(v, g)]
        w = [wj - lr * (mj / (1 - b1 ** it)) / (mp.sqrt(vj / (1 - b2 ** it)) + eps)
             for wj, mj, vj in zip(w, m, v)]
        if it in steps:
            out.append(w)
    return out


def mp_quadratic_fit(i):
    x, y, th = M(i["x"]), M(i["y"]), M(i["theta0"])
    lr, k, n = mpf(float(i["lr"])), int(i["k"]), len(M(i["x"]))
    steps, out = checkpoint_steps(k, 9), [th]
    for it in range(1, k + 1):
        r = [th[0] * xi * xi + th[1] * xi + th[2] - yi for xi, yi in zip(x, y)]
        g = [2 * mp.fsum(ri * xi ** (2 - j) for ri, xi in zip(r, x)) / n for j in range(3)]
        th = [th[j] - lr * g[j] for j in range(3)]
        if it in steps:
            out.append(th)
    return out


def mp_mlp_xor(i):
    from harness.kernels.mlp_xor import HIDDEN as H

    X, y = M(i["X"]), M(i["y"])
    W1, b1, W2, b2 = M(i["W1"]), M(i["b1"]), M(i["W2"]), M(i["b2"])[0]
    lr, k, n = mpf(float(i["lr"])), int(i["k"]), len(y)
    steps, losses, params = checkpoint_steps(k, 9), [], []
    for it in range(k + 1):
        hs = [[mp.tanh(x[0] * W1[0][j] + x[1] * W1[1][j] + b1[j]) for j in range(H)] for x in X]
        z2 = [mp.fsum(h[j] * W2[j] for j in range(H)) + b2 for h in hs]
        if it in steps:
            losses.append(mp.fsum(mp.log(1 + mp.exp(z)) - yi * z for z, yi in zip(z2, y)) / n)
            params.append([W1[0][j] for j in range(H)] + [W1[1][j] for j in range(H)] + b1 + W2 + [b2])
        if it == k:
            break
        dz2 = [(1 / (1 + mp.exp(-z)) - yi) / n for z, yi in zip(z2, y)]
        dz1 = [[dz2[s] * W2[j] * (1 - hs[s][j] ** 2) for j in range(H)] for s in range(n)]
        W1 = [[W1[r][j] - lr * mp.fsum(X[s][r] * dz1[s][j] for s in range(n)) for j in range(H)] for r in range(2)]
        b1 = [b1[j] - lr * mp.fsum(dz1[s][j] for s in range(n)) for j in range(H)]
        W2 = [W2[j] - lr * mp.fsum(hs[s][j] * dz2[s] for s in range(n)) for j in range(H)]
        b2 = b2 - lr * mp.fsum(dz2)
    return [losses, params]


MP = {"conv2d": (mp_conv2d, 3), "black_scholes": (mp_black_scholes, 7), "jacobi2d": (mp_jacobi2d, 5),
      "nbody": (mp_nbody, 3), "adam": (mp_adam, 3), "quadratic_fit": (mp_quadratic_fit, 7),
      "mlp_xor": (mp_mlp_xor, 4)}


def _long_double_reference(kernel, i):
    """The float64-case reference before its final rounding to float64."""
    from harness.kernels import adam, black_scholes, conv2d, jacobi2d, mlp_xor, nbody, quadratic_fit

    ld = np.longdouble
    if kernel == "conv2d":
        return conv2d.conv_gather(i["X"], i["W"], ld)
    if kernel == "black_scholes":
        return black_scholes.prices(i["S"], i["K"], i["T"], i["r"], i["sigma"], ld)
    if kernel == "jacobi2d":
        return jacobi2d.sweeps(i["x0"], i["b"], i["k"], ld)
    if kernel == "nbody":
        return nbody.leapfrog(i["pos"], i["vel"], i["mass"], i["h"], i["eps2"], i["k"], ld)
    if kernel == "adam":
        return adam.adam_steps(i["w0"], i["c"], i["d"], i["lr"], i["beta1"], i["beta2"], i["eps"], i["k"], ld)
    if kernel == "quadratic_fit":
        return quadratic_fit.gd(i["x"], i["y"], i["theta0"], i["lr"], i["k"], ld)
    return mlp_xor.train(i["X"], i["y"], mlp_xor._theta0(i), i["lr"], i["k"], ld)


@pytest.mark.skipif(LONGDOUBLE_BITS <= 53, reason="long double is double on this platform")
@pytest.mark.parametrize("kernel", list(MP))
def test_long_double_reference_beats_float64(kernel):
    """Before rounding to float64, the float64-case reference is within a few hundred
    long-double roundoffs of the mpmath truth: far below float64's u = 1.1e-16."""
    fn, size = MP[kernel]
    inputs = REG.kernels[kernel].make_inputs(size, "float64", seed=3)
    got = _long_double_reference(kernel, inputs.exact)
    with mp.workprec(200):
        truth = fn(inputs.exact)
    gots = got if isinstance(got, tuple) else (got,)
    truths = truth if kernel == "mlp_xor" else [truth]
    for g, t in zip(gots, truths):
        t = np.array([np.longdouble(mp.nstr(v, 40)) for v in np.ravel(np.array(t, dtype=object))])
        err = np.max(np.abs(g.ravel() - t)) / np.max(np.abs(t))
        assert err < 1e-17, f"{kernel}: long double reference off by {float(err):.3g}"


@pytest.mark.parametrize("kernel", list(MP))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reference_matches_mpmath(kernel, dtype):
    """float32 cases: a float64 reference; float64 cases: long double, rounded once to
    float64 at the end, so it is off by no more than that final rounding (u = 2^-53)."""
    if dtype == "float64" and LONGDOUBLE_BITS <= 53:
        pytest.skip("long double is double on this platform")
    fn, size = MP[kernel]
    spec = REG.kernels[kernel]
    inputs = spec.make_inputs(size, dtype, seed=3)
    ref = spec.reference_for(inputs)
    with mp.workprec(200):
        truth = fn(inputs.exact)
    refs = ref if isinstance(ref, tuple) else (ref,)
    truths = truth if kernel == "mlp_xor" else [truth]
    tol = 1e-14 if dtype == "float32" else 1.2e-16
    for r, t in zip(refs, truths):
        t = A(t)
        assert r.shape == t.shape
        err = np.max(np.abs(r - t)) / np.max(np.abs(t))
        assert err < tol, f"{kernel}/{dtype}: reference off by {err:.3g} relative"


def test_long_double_erf_matches_mpmath():
    from harness.kernels.black_scholes import erf_series

    x = np.array([-5.0, -1.3, -1e-3, 0.0, 0.4, 2.5, 6.0, 30.0])
    got = erf_series(x.astype(np.longdouble))
    want = np.array([mp.erf(mpf(v)) for v in x], dtype=object)
    with mp.workprec(100):
        err = [abs(mpf(str(g)) - mp.erf(mpf(v))) for g, v in zip(got, x)]
    assert max(err) < 1e-18, err
    assert np.all(np.abs(got.astype(np.float64) - want.astype(np.float64)) <= 2.3e-16)


def test_checkpoint_steps_increase_and_span_the_run():
    for k in (0, 1, 5, 64, 128, 200):
        s = checkpoint_steps(k, 9)
        assert s[0] == 0 and s[-1] == k
        assert all(a < b for a, b in zip(s, s[1:]))
        assert len(s) == min(9, k + 1)


@pytest.fixture(scope="module")
def ctx():
    return RunContext(REG, seed=2, timing=TimingOptions(budget_s=0.002, min_samples=2, max_samples=2))


def _own_impl(kernel, backend):
    """The backend's hand-written implementation, or the Array API one where that is all
    the backend has."""
    return REG.impls.get((kernel, backend, backend)) or REG.impls[(kernel, backend, "array_api")]


def _initial_state(kernel, out):
    """The checkpoint-0 state: the inputs themselves, for every backend bit-identical."""
    if kernel == "mlp_xor":
        return np.asarray(out[1][0])
    return np.asarray(out[0])


@pytest.mark.opencl
@pytest.mark.parametrize("kernel", ITERATIVE)
def test_profile_and_same_initial_state_everywhere(kernel, ctx):
    spec = REG.kernels[kernel]
    size = spec.preset_sizes("test")[2]
    inputs = spec.make_inputs(size, "float32", seed=2)
    firsts = {}
    for backend in ("numpy", "torch", "opencl"):
        b = REG.backend(backend)
        if not b.probe()[0]:
            continue
        dev = b.devices()[0]
        impl = _own_impl(kernel, backend)
        out = dev.outputs_to_host(impl.fn(dev, **dev.inputs_to_device(inputs.values, "float32")))
        firsts[backend] = _initial_state(kernel, out)
    assert "numpy" in firsts
    for backend, first in firsts.items():
        assert first.tobytes() == firsts["numpy"].tobytes(), f"{backend} starts elsewhere"

    rec = execute_case(Case(kernel, _own_impl(kernel, "numpy").name, "numpy", "cpu", "float32", size), ctx)
    assert rec["status"] == "ok", rec["message"]
    prof = rec["profile"]
    steps = prof["x"]
    assert prof["x_label"] == "iteration" and steps[0] == 0
    assert all(a < b for a, b in zip(steps, steps[1:]))
    assert len(prof["error"]) == len(steps) == len(prof["bound"])
    assert rec["rel_error"] == prof["error"][-1]
    assert all(e <= b for e, b in zip(prof["error"], prof["bound"])), prof
    if kernel != "mlp_xor":  # the loss at iteration 0 is computed, the other states are copied
        assert prof["error"][0] == 0.0


def test_nbody_reports_energy(ctx):
    rec = execute_case(Case("nbody", "numpy", "numpy", "cpu", "float64", 33), ctx)
    assert rec["status"] == "ok"
    for key in ("energy_drift", "ref_energy_drift", "energy_error", "velocity_error"):
        assert np.isfinite(rec[key])
    # leapfrog conserves energy to O(h^2): the drift is small but not zero
    assert 0 < rec["ref_energy_drift"] < 1e-3
    assert len(rec["profile"]["energy_drift"]) == len(rec["profile"]["x"])


def test_bound_catches_a_wrong_trajectory(ctx):
    """A jacobi2d that skips one sweep must exceed its bound: the bound is not vacuous."""
    from harness.accuracy import BoundContext, measure
    from harness.kernels import jacobi2d as J

    spec = REG.kernels["jacobi2d"]
    inputs = spec.make_inputs(33, "float32", seed=1)
    ref = spec.reference_for(inputs)
    wrong = J.sweeps(inputs.values["x0"], inputs.values["b"], inputs.values["k"] - 1, np.float32)
    c = BoundContext(33, "float32", 2.0**-24, inputs.exact, ref)
    res = measure(wrong, ref, "float32", "float32", spec.error_model, c)
    assert not res["accuracy_ok"]
