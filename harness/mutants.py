"""Mutation score: the power of the accuracy check, measured.

A verdict that is green for a wrong answer is worse than none. This module ships
deliberately wrong implementations (mutants) of every kernel, each a small wrapper
around the kernel's correct NumPy implementation: it changes the inputs before the
call (a dropped element, inputs rounded to fp16 or TF32, one step fewer) or the output
after it (an element with its sign flipped, an off-by-one shift, an exclusive scan, a
stale checkpoint, a uniform output). Each is tagged `realistic` when a real backend
bug could produce it (a race, a wrong index, a reduced-precision path), or not (a
uniform output is a sanity check of the metric itself).

`run_mutants` takes every mutant through the runner's own measure path
(runner.execute_case, "test" sizes, float32 and float64) and reads the record's own
verdict: a mutant is caught when any of its cases is not `status == "ok"` with
`accuracy_ok` true (a case whose bound cannot fail, verdict "unbounded", counts neither way); the correct implementation must pass every case (no false
alarm). Because the verdict is the runner's, a stronger verdict raises the score with
no change here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .dtypes import round_to

Transform = Callable[..., Any]


@dataclass(frozen=True)
class Mutant:
    kernel: str
    name: str
    description: str
    realistic: bool
    #: where the change is made: "input" transforms the inputs, "output" the result.
    stage: str
    transform: Transform

    @property
    def impl_name(self) -> str:
        return f"mutant:{self.name}"

    def wrap(self, correct: Callable[..., Any]) -> Callable[..., Any]:
        """fn(dev, **inputs) calling the correct implementation around the change."""
        def mutant(dev, **inputs):
            if self.stage == "input":
                return correct(dev, **self.transform(dict(inputs)))
            out = correct(dev, **inputs)
            return self.transform(out, inputs)

        mutant.__name__ = f"{self.kernel}_{self.name}".replace("-", "_")
        mutant.__doc__ = self.description
        return mutant


# --- output changes: each keeps the shape and dtype, so only the accuracy check can tell ---

def _like(out: np.ndarray, new: Any) -> np.ndarray:
    return np.asarray(new).astype(np.asarray(out).dtype).reshape(np.shape(out))


def _each(fn: Callable[[np.ndarray], Any]) -> Transform:
    """Apply an array change to every output of a (possibly multi-output) kernel."""
    def t(out, inputs):
        if isinstance(out, tuple):
            return tuple(_like(o, fn(np.array(o))) for o in out)
        return _like(out, fn(np.array(out)))
    return t


def _last(fn: Callable[[np.ndarray], Any]) -> Transform:
    """Apply an array change to the last output only (mlp_xor: the parameters)."""
    def t(out, inputs):
        if isinstance(out, tuple):
            return out[:-1] + (_like(out[-1], fn(np.array(out[-1]))),)
        return _like(out, fn(np.array(out)))
    return t


def flip_sign_one(o):
    """The largest element with its sign flipped: one lane of a vector unit gone wrong."""
    f = o.reshape(-1).copy()
    if f.size:
        i = int(np.argmax(np.abs(f.astype(np.float64))))
        f[i] = -f[i]
    return f


def shift_one(o):
    """Every element one position late (off-by-one index)."""
    return np.roll(o.reshape(-1), 1)


def uniform(o):
    return np.full(o.shape, np.mean(o.astype(np.float64)))


def stale(position: int) -> Callable[[np.ndarray], Any]:
    """Checkpoint `position` (axis 0) holds the previous checkpoint's state."""
    def fn(o):
        o = o.copy()
        if o.shape and o.shape[0] > 1:
            o[position] = o[position - 1]
        return o
    return fn


def exclusive_scan(o):
    return np.concatenate([np.zeros(1, o.dtype), o.reshape(-1)[:-1]]) if o.size else o


# --- input changes ----------------------------------------------------------------------

def _floats(inputs: dict) -> list[str]:
    return [k for k, v in inputs.items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]


def rounded_to(fmt: str) -> Transform:
    """Every float input rounded to `fmt` first: a reduced-precision path (fp16
    accumulation, TF32 tensor cores) taken where the dtype promised more."""
    def t(inputs):
        for k in _floats(inputs):
            v = inputs[k]
            with np.errstate(over="ignore"):
                inputs[k] = _round(v.astype(np.float64), fmt).astype(v.dtype)
        return inputs
    return t


def _round(x: np.ndarray, fmt: str) -> np.ndarray:
    if fmt == "tf32":  # 10 explicit significand bits, round to nearest on the float32 bits
        b = x.astype(np.float32).view(np.uint32).astype(np.uint64)
        b = ((b + 0x1000) & ~np.uint64(0x1FFF)).astype(np.uint32)
        return b.view(np.float32).astype(np.float64)
    return np.asarray(round_to(x, fmt), dtype=np.float64)


def set_input(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> Transform:
    def t(inputs):
        inputs[name] = fn(np.array(inputs[name]))
        return inputs
    return t


def drop_last(name: str) -> Transform:
    """The last element (along axis 0) of input `name` left out: a loop bound one short."""
    def fn(v):
        if v.shape and v.shape[0]:
            v[-1] = 0
        return v
    return set_input(name, fn)


def fewer_steps(inputs):
    """One iteration fewer: an off-by-one loop bound in an iterative kernel."""
    inputs["k"] = max(int(inputs["k"]) - 1, 0)
    return inputs


def swap(a: str, b: str) -> Transform:
    def t(inputs):
        inputs[a], inputs[b] = inputs[b], inputs[a]
        return inputs
    return t


# --- the mutants ------------------------------------------------------------------------

def _m(kernel, name, realistic, stage, transform, description) -> Mutant:
    return Mutant(kernel, name, description, realistic, stage, transform)


def _common(kernel: str, main: str, shift: bool = True) -> list[Mutant]:
    """The families every floating-point kernel gets."""
    out = [_m(kernel, "sign-flip-one", True, "output", _last(flip_sign_one),
              "the largest output element with its sign flipped"),
           _m(kernel, "fp16-inputs", True, "input", rounded_to("float16"),
              "inputs rounded to fp16 (a half-precision path)"),
           _m(kernel, "tf32-inputs", True, "input", rounded_to("tf32"),
              "inputs rounded to TF32 (10-bit significand, as tensor cores do)"),
           _m(kernel, f"drop-last-{main}", True, "input", drop_last(main),
              f"the last element of {main} left out (loop bound one short)"),
           _m(kernel, "uniform", False, "output", _each(uniform), "every output element set to the mean")]
    if shift:
        out.append(_m(kernel, "shift-one", True, "output", _last(shift_one),
                      "every output element one position late (off-by-one index)"))
    return out


def _iterative(kernel: str, main: str) -> list[Mutant]:
    return _common(kernel, main) + [
        _m(kernel, "stale-last-checkpoint", True, "output", _each(stale(-1)),
           "the last checkpoint holds the previous one's state (a missed copy-back)"),
        _m(kernel, "stale-middle-checkpoint", True, "output", _each(stale(4)),
           "a middle checkpoint holds the previous one's state"),
        _m(kernel, "one-step-fewer", True, "input", fewer_steps, "one iteration fewer (off-by-one)")]


def _scalar(kernel: str, main: str) -> list[Mutant]:
    """Reductions to one number: shifting means nothing; sign and dropped terms do."""
    keep = [m for m in _common(kernel, main, shift=False) if m.name != "uniform"]  # the mean of one number is itself
    return keep + [
        _m(kernel, "drop-first-block", True, "input", set_input(main, _zero_head),
           "the first 128 elements left out (a work-group that never ran)")]


def _zero_head(v):
    v[:128] = 0
    return v


def _specific() -> list[Mutant]:
    M = _m
    return [
        M("cumsum", "exclusive-scan", True, "output", _each(exclusive_scan), "exclusive instead of inclusive scan"),
        M("cumsum", "total-everywhere", False, "output", _each(lambda o: np.full(o.shape, o.reshape(-1)[-1])
                                                            if o.size else o), "the total at every position"),
        M("dot", "x-dot-x", True, "input", set_input("y", lambda v: v * 0 + 1), "y read as ones (wrong operand)"),
        M("l2norm", "no-sqrt", True, "output", _each(lambda o: o * o), "the squared norm (sqrt left out)"),
        M("matmul", "transposed-b", True, "input", set_input("B", lambda v: v.T.copy()), "B read transposed"),
        M("matmul", "transposed-out", True, "output", _each(lambda o: o.T), "C written transposed"),
        M("conv2d", "flipped-filter", True, "input", set_input("W", lambda v: v[..., ::-1, ::-1].copy()),
          "convolution instead of correlation (filter flipped)"),
        M("conv2d", "transposed-filter", True, "input", set_input("W", lambda v: np.swapaxes(v, -1, -2).copy()),
          "filter rows and columns swapped"),
        M("softmax", "wrong-axis", True, "output", _each(lambda o: o.T), "normalised along columns, not rows"),
        M("colorblind", "transposed-matrix", True, "input", set_input("M", lambda v: v.T.copy()),
          "the colour matrix read transposed"),
        M("colorblind", "bgr", True, "input", set_input("img", lambda v: v[..., ::-1].copy()),
          "channels read as BGR"),
        M("black_scholes", "call-put-swapped", True, "output", _each(lambda o: o[::-1]), "call and put swapped"),
        M("chroma_key", "fg-bg-swapped", True, "input", swap("fg", "bg"), "foreground and background swapped"),
        M("chroma_key", "threshold-x2", True, "input", lambda i: {**i, "threshold": 2 * i["threshold"]},
          "the threshold doubled (a squared/unsquared mix-up)"),
        M("mandelbrot", "max-iter-minus-one", True, "input", lambda i: {**i, "max_iter": i["max_iter"] - 1},
          "one iteration fewer (off-by-one)"),
        M("mandelbrot", "transposed", True, "input", swap("cx", "cy"), "x and y swapped"),
        M("mandelbrot", "fp16-coordinates", True, "input", rounded_to("float16"), "c rounded to fp16"),
        M("mandelbrot", "counts-plus-one", False, "output", _each(lambda o: o + 1), "every count one too high"),
        M("mandelbrot", "shift-row", True, "output", _each(lambda o: np.roll(o, 1, axis=0)),
          "rows one position late"),
        M("relu", "leaky", True, "output", lambda o, i: _like(o, np.where(i["x"] > 0, i["x"], 0.01 * i["x"])),
          "leaky ReLU (negative inputs scaled by 0.01, not zeroed)"),
        M("relu", "identity", False, "output", lambda o, i: _like(o, i["x"]), "the input returned unchanged"),
        M("saxpy", "minus-y", True, "input", set_input("y", lambda v: -v), "a·x − y"),
        M("vadd", "x-minus-y", True, "input", set_input("y", lambda v: -v), "x − y"),
        M("vadd", "x-plus-x", True, "input", lambda i: {**i, "y": i["x"]}, "x + x (wrong operand)"),
    ]


#: kernel -> the input the generic "drop last element" mutant edits.
MAIN_INPUT = {"sum": "x", "dot": "x", "l2norm": "x", "cumsum": "x", "relu": "x", "saxpy": "x", "vadd": "x",
              "softmax": "x", "matmul": "A", "conv2d": "X", "colorblind": "img", "black_scholes": "S",
              "chroma_key": "fg", "adam": "c", "jacobi2d": "x0", "nbody": "pos", "quadratic_fit": "y",
              "mlp_xor": "X"}
SCALAR = ("sum", "dot", "l2norm")
ITERATIVE = ("adam", "jacobi2d", "nbody", "quadratic_fit", "mlp_xor")


def all_mutants() -> list[Mutant]:
    """Every shipped mutant, kernel by kernel."""
    out: list[Mutant] = []
    for kernel, main in MAIN_INPUT.items():
        if kernel in SCALAR:
            out += _scalar(kernel, main)
        elif kernel in ITERATIVE:
            out += _iterative(kernel, main)
        else:
            out += _common(kernel, main)
    return out + _specific()


# --- running them through the runner's own verdict ----------------------------------------

@dataclass
class Outcome:
    kernel: str
    impl: str
    realistic: bool | None  # None: the correct implementation
    #: (dtype, size) -> True passed, False rejected, None not judged (verdict "unbounded")
    passed: dict[tuple[str, int], bool | None]
    description: str = ""

    @property
    def caught(self) -> bool:
        return any(ok is False for ok in self.passed.values())

    def caught_in(self, dtype: str) -> bool:
        return any(ok is False for (dt, _), ok in self.passed.items() if dt == dtype)


def numpy_impl(registry, kernel: str) -> str:
    """The name of the correct NumPy implementation the mutants of `kernel` alter: the
    hand-written one where there is one, else the Array API one run on NumPy."""
    names = {i.name for i in registry.implementations(kernel, "numpy")}
    return "numpy" if "numpy" in names else "array_api"


def mutant_registry(registry, mutants: Sequence[Mutant]):
    """A copy of `registry` with the mutants added as NumPy implementations (the global
    registry never sees them, so no sweep runs them by accident)."""
    from .declarations import Implementation

    impls = dict(registry.impls)
    for m in mutants:
        correct = registry.impls[(m.kernel, "numpy", numpy_impl(registry, m.kernel))].fn
        impl = Implementation(m.kernel, "numpy", m.impl_name, m.wrap(correct), notes=m.description,
                              origin="harness.mutants")
        impls[impl.key] = impl
    return dataclasses.replace(registry, impls=impls)


def passed(rec: dict) -> bool | None:
    """The runner's verdict, read from its record: True ok and within bound, None when the
    bound cannot fail there (verdict "unbounded": neither a catch nor a false alarm),
    False otherwise."""
    if rec.get("status") == "ok" and rec.get("verdict") == "unbounded":
        return None
    return rec.get("status") == "ok" and rec.get("accuracy_ok") is True


def run_mutants(kernels: Iterable[str] | None = None, dtypes: Sequence[str] = ("float32", "float64"),
                registry=None, mutants: Sequence[Mutant] | None = None) -> list[Outcome]:
    """Correct implementation and mutants of each kernel, at the "test" sizes, through
    runner.execute_case; cases sharing inputs run together so each reference is computed once."""
    from .registry import get_registry
    from .runner import Case, RunContext, execute_case
    from .timing import TimingOptions

    base = registry or get_registry()
    chosen = set(kernels) if kernels else set(base.kernels)
    ms = [m for m in (mutants if mutants is not None else all_mutants()) if m.kernel in chosen]
    reg = mutant_registry(base, ms)
    # Only the verdict matters here: one sample, no steady-state warm-up.
    ctx = RunContext(reg, seed=0, timing=TimingOptions(budget_s=0.0, min_samples=1, max_samples=1,
                                                       min_sample_s=0.0, warmup_min_s=0.0,
                                                       warmup_fraction=0.0, warmup_max_s=0.0),
                     machine_id="mutants", run_id="mutants")
    outcomes: list[Outcome] = []
    for kernel in [k for k in base.kernels if k in chosen]:
        spec = base.kernels[kernel]
        mine = [Outcome(kernel, numpy_impl(base, kernel), None, {})] + [
            Outcome(kernel, m.impl_name, m.realistic, {}, m.description) for m in ms if m.kernel == kernel]
        for dtype in [d for d in dtypes if d in spec.dtypes]:
            for size in spec.preset_sizes("test"):
                for o in mine:
                    rec = execute_case(Case(kernel, o.impl, "numpy", "cpu", dtype, size), ctx)
                    o.passed[(dtype, size)] = passed(rec)
        outcomes += mine
    return outcomes


# --- the score ------------------------------------------------------------------------------

def score(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Share caught per kernel and overall, realistic mutants apart, and false alarms."""
    per: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        row = per.setdefault(o.kernel, {"mutants": 0, "caught": 0, "realistic": 0, "realistic_caught": 0,
                                        "false_alarms": [], "survivors": []})
        if o.realistic is None:
            if o.caught:
                row["false_alarms"] += [f"{dt} n={n}" for (dt, n), ok in o.passed.items() if ok is False]
            continue
        row["mutants"] += 1
        row["caught"] += o.caught
        row["realistic"] += bool(o.realistic)
        row["realistic_caught"] += bool(o.realistic) and o.caught
        if not o.caught:
            row["survivors"].append(o.impl.removeprefix("mutant:") + ("" if o.realistic else " (not realistic)"))
    for row in per.values():
        row["share"] = row["caught"] / row["mutants"] if row["mutants"] else None
    tot = {k: sum(r[k] for r in per.values()) for k in ("mutants", "caught", "realistic", "realistic_caught")}
    mutants = [o for o in outcomes if o.realistic is not None]
    dtypes = sorted({dt for o in mutants for dt, _ in o.passed})
    by_dtype = {dt: sum(o.caught_in(dt) for o in mutants) / len(mutants) for dt in dtypes} if mutants else {}
    return {"kernels": per, **tot, "by_dtype": by_dtype,
            "share": tot["caught"] / tot["mutants"] if tot["mutants"] else None,
            "realistic_share": tot["realistic_caught"] / tot["realistic"] if tot["realistic"] else None,
            "false_alarms": sum(len(r["false_alarms"]) for r in per.values())}


def format_score(s: dict[str, Any]) -> str:
    """A plain-text table (for the CLI and CI logs)."""
    lines = [f"{'kernel':<15}{'caught':>10}{'share':>8}{'realistic':>12}  false alarms / survivors"]
    for k, r in s["kernels"].items():
        extra = ("FALSE ALARM " + ", ".join(r["false_alarms"]) + "; " if r["false_alarms"] else "") + \
            ", ".join(r["survivors"])
        lines.append(f"{k:<15}{r['caught']:>5}/{r['mutants']:<4}{r['share']:>8.0%}"
                     f"{r['realistic_caught']:>7}/{r['realistic']:<4}  {extra}")
    lines.append(f"{'overall':<15}{s['caught']:>5}/{s['mutants']:<4}{s['share']:>8.1%}"
                 f"{s['realistic_caught']:>7}/{s['realistic']:<4}  false alarms: {s['false_alarms']}")
    lines.append(f"realistic mutants caught: {s['realistic_share']:.1%}")
    if s.get("by_dtype"):
        lines.append("caught by one dtype's cases alone: " +
                     ", ".join(f"{dt} {share:.1%}" for dt, share in s["by_dtype"].items()))
    return "\n".join(lines)
