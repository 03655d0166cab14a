"""References of the map, reduction and scan kernels against exact arithmetic
(fractions, math.fsum, mpmath) on tiny inputs; the cumsum profile; the chroma-key
mask metric on a hand-made case; the OpenCL scan and scaled norm at the edges."""
import math
from fractions import Fraction

import numpy as np
import pytest

from harness.accuracy import BoundContext, measure
from harness.dtypes import unit_roundoff
from harness.registry import get_registry

mpmath = pytest.importorskip("mpmath")

REG = get_registry()
U64 = 2.0**-53
DTYPES = ["float32", "float64"]


def _inputs(kernel, size, dtype, seed=3):
    spec = REG.kernels[kernel]
    inp = spec.make_inputs(size, dtype, seed)
    return spec, inp, spec.reference_for(inp)


def _close(ref, exact, tol):
    """|ref − exact| ≤ tol·|exact| elementwise, with exact given as Fractions or floats."""
    ref = np.asarray(ref, np.float64).ravel()
    exact = np.asarray(exact, dtype=object).ravel()
    for r, e in zip(ref, exact):
        assert abs(Fraction(float(r)) - Fraction(e)) <= Fraction(tol) * abs(Fraction(e)), (r, e)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vadd_relu_references_exact(dtype):
    _, inp, ref = _inputs("vadd", 50, dtype)
    x, y = inp.exact["x"], inp.exact["y"]
    assert np.array_equal(ref, [math.fsum([a, b]) for a, b in zip(x, y)])  # correctly rounded
    _, inp, ref = _inputs("relu", 50, dtype)
    assert np.array_equal(ref, [v if v > 0 else 0.0 for v in inp.exact["x"]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_colorblind_reference(dtype):
    _, inp, ref = _inputs("colorblind", 3, dtype)
    img, M = inp.exact["img"], inp.exact["M"]
    exact = [[[sum(Fraction(M[c, k]) * Fraction(img[i, j, k]) for k in range(3)) for c in range(3)]
              for j in range(3)] for i in range(3)]
    # one float64 rounding of the reference, plus long double's own rounding for float64 data
    _close(ref, exact, 2 * U64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dot_reference_correctly_rounded(dtype):
    _, inp, ref = _inputs("dot", 40, dtype)
    exact = sum(Fraction(a) * Fraction(b) for a, b in zip(inp.exact["x"], inp.exact["y"]))
    assert float(ref) == float(exact)


def test_dot_reference_exact_under_cancellation():
    from harness.kernels._reductions import exact_dot

    rng = np.random.default_rng(1)
    x = rng.standard_normal(30) * 10.0 ** rng.integers(-8, 8, 30)
    y = rng.standard_normal(30)
    exact = sum(Fraction(a) * Fraction(b) for a, b in zip(x, y))
    assert exact_dot(x, y) == float(exact)


@pytest.mark.parametrize("dtype", DTYPES)
def test_l2norm_reference(dtype):
    _, inp, ref = _inputs("l2norm", 40, dtype)
    with mpmath.workprec(300):
        exact = mpmath.sqrt(mpmath.fsum(mpmath.mpf(float(v)) ** 2 for v in inp.exact["x"]))
        assert abs(mpmath.mpf(float(ref)) - exact) <= U64 * exact


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_reference(dtype):
    _, inp, ref = _inputs("softmax", 5, dtype)
    x = inp.exact["x"]
    with mpmath.workprec(200):
        for i in range(x.shape[0]):
            e = [mpmath.exp(mpmath.mpf(float(v))) for v in x[i]]
            s = mpmath.fsum(e)
            for j in range(x.shape[1]):
                exact = e[j] / s
                # long double (float64 data) or float64 (float32 data) evaluation, then one rounding
                assert abs(mpmath.mpf(float(ref[i, j])) - exact) <= 16 * U64 * exact


@pytest.mark.parametrize("dtype", DTYPES)
def test_cumsum_reference(dtype):
    _, inp, ref = _inputs("cumsum", 300, dtype)
    prefix, exact = Fraction(0), []
    for v in inp.exact["x"]:
        prefix += Fraction(v)
        exact.append(prefix)
    _close(ref, exact, U64)


def test_exact_cumsum_mixed_signs_and_scales():
    """Under cancellation the documented accuracy: one rounding plus ~u²·Σ|xᵢ| absolute."""
    from harness.kernels._reductions import exact_cumsum

    rng = np.random.default_rng(2)
    x = rng.standard_normal(500) * np.exp(rng.uniform(-40, 40, 500))
    prefix, exact = Fraction(0), []
    for v in x:
        prefix += Fraction(v)
        exact.append(prefix)
    got = exact_cumsum(x)
    floor = Fraction(8 * U64 * U64) * sum(Fraction(abs(v)) for v in x)
    for r, e in zip(got, exact):
        assert abs(Fraction(float(r)) - e) <= Fraction(2 * U64) * abs(e) + floor
    positive = np.abs(x)  # no cancellation: one rounding
    _close(exact_cumsum(positive), np.cumsum([Fraction(v) for v in positive]), U64)


def test_chroma_key_reference_mask_is_exact():
    spec, inp, ref = _inputs("chroma_key", 12, "float32")
    fg, bg, key, t = inp.exact["fg"], inp.exact["bg"], inp.exact["key"], inp.exact["threshold"]
    for i in range(12):
        for j in range(12):
            d2 = sum((Fraction(fg[i, j, c]) - Fraction(key[c])) ** 2 for c in range(3))
            want = bg[i, j] if d2 < Fraction(t) ** 2 else fg[i, j]
            assert np.array_equal(ref[i, j], want)


def _chroma_case():
    """Four pixels: clearly keyed, clearly kept, exactly on the threshold, clearly kept."""
    spec = REG.kernels["chroma_key"]
    fg = np.array([[[0.0, 0.1, 0.0], [0.9, 0.9, 0.9]], [[0.5, 0.0, 0.0], [0.2, 0.7, 0.3]]])
    bg = np.array([[[0.3, 0.3, 0.3], [0.4, 0.4, 0.4]], [[0.6, 0.6, 0.6], [0.7, 0.7, 0.7]]])
    exact = {"fg": fg, "bg": bg, "key": np.zeros(3), "threshold": 0.5}
    ref = spec.reference(exact, "float64")
    ctx = BoundContext(size=2, dtype="float32", u=unit_roundoff("float32"), inputs=exact, reference=ref)
    return spec, fg, bg, ref, ctx


def test_chroma_key_metric_hand_made():
    spec, fg, bg, ref, ctx = _chroma_case()
    assert np.array_equal(ref[0, 0], bg[0, 0]) and np.array_equal(ref[1, 0], fg[1, 0])  # tie: not < t
    model = spec.error_model

    def run(out):
        return measure(out, ref, "float32", "float32", model, ctx)

    # only the tie pixel is ambiguous: the bound is one pixel in four
    assert model.bound(ctx) == pytest.approx(0.25)
    good = run(ref.copy())
    assert good["rel_error"] == 0 and good["mask_mismatch_rate"] == 0 and good["accuracy_ok"]

    tie_flipped = ref.copy()
    tie_flipped[1, 0] = bg[1, 0]
    r = run(tie_flipped)
    assert r["mask_mismatch_rate"] == 0.25 and r["composite_error"] == 0 and r["accuracy_ok"]

    clear_flipped = ref.copy()
    clear_flipped[0, 1] = bg[0, 1]
    clear_flipped[1, 0] = bg[1, 0]
    r = run(clear_flipped)
    assert r["mask_mismatch_rate"] == 0.5 and not r["accuracy_ok"]

    corrupted = ref.copy()
    corrupted[1, 1, 2] += 0.01  # matches neither source: composite error, not a mask flip
    r = run(corrupted)
    assert r["mask_mismatch_rate"] == 0 and r["composite_error"] > 0
    assert r["rel_error"] == r["composite_error"]


def test_cumsum_profile_structure():
    from harness.runner import RunContext, execute_case, plan
    from harness.timing import TimingOptions

    ctx = RunContext(REG, seed=0, timing=TimingOptions(budget_s=0.002, min_samples=1, max_samples=2))
    (case,) = [c for c in plan(REG, ["cumsum"], ["numpy"], ["float32"], [5000]) if c.impl == "array_api"]
    rec = execute_case(case, ctx)
    assert rec["status"] == "ok" and rec["accuracy_ok"]
    prof = rec["profile"]
    assert prof["x_label"] == "position"
    x, err, bnd = prof["x"], prof["error"], prof["bound"]
    assert 15 <= len(x) <= 21 and len(err) == len(x) == len(bnd)
    assert x[0] == 1 and x[-1] == 5000 and all(a < b for a, b in zip(x, x[1:]))
    assert err[0] == 0.0  # the first prefix sum is x₁ itself
    assert err[-1] == rec["rel_error"]
    assert all(e <= b for e, b in zip(err, bnd))
    assert all(a <= b for a, b in zip(bnd, bnd[1:]))  # U(0,1) data: the bound grows with position


def _opencl_device():
    b = REG.backend("opencl")
    ok, reason = b.probe()
    if not ok:
        pytest.skip(f"opencl unavailable: {reason}")
    return b.devices()[0]


def test_opencl_scan_three_levels():
    """More tiles than one tile holds: the block sums are scanned recursively twice."""
    dev = _opencl_device()
    impl = REG.impls[("cumsum", "opencl", "opencl")]
    n = 1_100_000
    x = np.random.default_rng(0).uniform(0, 1, n).astype(np.float64)
    out = dev.to_host(impl.fn(dev, x=dev.to_device(x, "float64")))
    from harness.kernels._reductions import exact_cumsum

    ref = exact_cumsum(x)
    rel = np.abs(out - ref) / ref
    assert rel.max() < 1e-12


def test_opencl_l2norm_scaled_does_not_overflow():
    dev = _opencl_device()
    impl = REG.impls[("l2norm", "opencl", "opencl")]
    x = (np.random.default_rng(0).standard_normal(5000) * 1e30).astype(np.float32)
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.sum(x * x))  # the unscaled sum of squares overflows float32
    got = float(dev.to_host(impl.fn(dev, x=dev.to_device(x, "float32"))))
    want = float(np.linalg.norm(x.astype(np.float64)))
    assert abs(got - want) <= 1e-4 * want
