"""Same inputs, two places: pairs of ok records whose inputs are bitwise equal
(`inputs_sha256`), on two machines (same implementation) or on one machine (two
implementations or devices), with the speed ratio, bitwise output equality, the change
in error and the measured difference on the sampled output entries (`output_sample`).

Pure pandas, DataFrame in and DataFrame out, so the report and tests share one
computation. Old records without `inputs_sha256` pair with nothing; those without
`output_sample` get NaN for the sampled difference (shown as "n/a").
"""
from __future__ import annotations

import pandas as pd

from ..output_sample import sample_max_rel_diff

CASE = ["kernel", "dtype", "size", "inputs_sha256"]
SIDE = ["machine_id", "label", "device", "time_median_s", "rel_error", "output_sha256", "output_sample", "order"]
PAIR_COLUMNS = ["kind", "kernel", "dtype", "size", "machine_a", "machine_b", "impl_a", "impl_b", "device_a",
                "device_b", "time_a_s", "time_b_s", "time_ratio", "bitwise_equal", "d_rel_error",
                "sample_max_rel_diff"]
SUMMARY_COLUMNS = ["kind", "kernel", "machine_a", "machine_b", "n_pairs", "n_bitwise_equal", "n_unknown",
                   "bitwise_reproducible", "max_sample_rel_diff", "max_abs_d_rel_error", "median_time_ratio"]


FIELDS = ("kernel", "impl", "backend", "device", "dtype", "size", "status", "machine_id", "inputs_sha256",
          "output_sha256", "output_sample", "time_median_s", "rel_error")


def records_frame(records: list[dict]) -> pd.DataFrame:
    """Report records (dicts) as the DataFrame `pair_cases` takes: only the fields it
    reads, so the nested machine fingerprints and samples of times stay out."""
    return pd.DataFrame([{k: r.get(k) for k in FIELDS} for r in records], columns=list(FIELDS))


def _sides(records: pd.DataFrame) -> pd.DataFrame:
    """The ok records with inputs hashes, one column per field a pair needs (missing
    fields of old records become None). `order` puts NumPy first on one machine, so
    the baseline is side a and ratios read "other / NumPy"."""
    df = records.copy()
    for col in ("inputs_sha256", "output_sha256", "output_sample", "rel_error", "time_median_s", "impl", "device"):
        if col not in df.columns:
            df[col] = None
    df = df[(df["status"] == "ok") & df["inputs_sha256"].notna()].copy()
    same_impl = df["impl"].isna() | (df["impl"] == "") | (df["impl"] == df["backend"])
    df["label"] = df["backend"].where(same_impl, df["backend"] + ":" + df["impl"].astype(str))
    df["device"] = df["device"].fillna("").astype(str)
    df["order"] = (df["backend"] != "numpy").map({False: "0", True: "1"}) + df["label"] + "\x00" + df["device"]
    return df[CASE + SIDE]


def _keep(pairs: pd.DataFrame) -> pd.DataFrame:
    """Each unordered pair once: across machines the same implementation, on one
    machine two different (implementation, device)."""
    machines = (pairs["machine_id_a"] < pairs["machine_id_b"]) & (pairs["label_a"] == pairs["label_b"])
    backends = (pairs["machine_id_a"] == pairs["machine_id_b"]) & (pairs["order_a"] < pairs["order_b"])
    out = pairs[machines | backends].copy()
    out["kind"] = "backends"
    out.loc[machines[machines | backends], "kind"] = "machines"
    return out


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def _bitwise(a: pd.Series, b: pd.Series) -> pd.Series:
    """True/False where both hashes exist, <NA> where either is missing."""
    eq = pd.Series(a.to_numpy() == b.to_numpy(), index=a.index, dtype="boolean")
    return eq.mask(a.isna() | b.isna())


def pair_cases(records: pd.DataFrame) -> pd.DataFrame:
    """One row per pair of ok records of the same kernel, dtype, size and inputs hash
    (see PAIR_COLUMNS). `records` should hold one record per case and machine (the
    newest, `data.latest`). time_ratio = time_b / time_a (> 1: b is slower)."""
    sides = _sides(records)
    if sides.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    pairs = _keep(sides.merge(sides, on=CASE, suffixes=("_a", "_b")))
    if pairs.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    ta, tb = _num(pairs["time_median_s_a"]), _num(pairs["time_median_s_b"])
    out = pd.DataFrame({
        "kind": pairs["kind"], "kernel": pairs["kernel"], "dtype": pairs["dtype"], "size": pairs["size"],
        "machine_a": pairs["machine_id_a"], "machine_b": pairs["machine_id_b"],
        "impl_a": pairs["label_a"], "impl_b": pairs["label_b"],
        "device_a": pairs["device_a"], "device_b": pairs["device_b"], "time_a_s": ta, "time_b_s": tb,
        "time_ratio": (tb / ta).where(ta > 0),
        "bitwise_equal": _bitwise(pairs["output_sha256_a"], pairs["output_sha256_b"]),
        "d_rel_error": _num(pairs["rel_error_b"]) - _num(pairs["rel_error_a"]),
        "sample_max_rel_diff": [sample_max_rel_diff(a, b) for a, b in
                                zip(pairs["output_sample_a"], pairs["output_sample_b"])],
    })
    return out.sort_values(["kind", "kernel", "dtype", "size", "machine_a", "machine_b", "impl_a", "impl_b"],
                           kind="stable").reset_index(drop=True)


def kernel_summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per kind, kernel and machine pair: how many pairs are bitwise equal, and whether
    all known ones are (bitwise_reproducible; <NA> when no pair had both hashes)."""
    if pairs.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    g = pairs.assign(_eq=pairs["bitwise_equal"].astype("boolean"),
                     _abs_d=pairs["d_rel_error"].abs()).groupby(["kind", "kernel", "machine_a", "machine_b"], sort=True)
    out = g.agg(n_pairs=("kernel", "size"), n_bitwise_equal=("_eq", "sum"),
                n_known=("_eq", "count"), max_sample_rel_diff=("sample_max_rel_diff", "max"),
                max_abs_d_rel_error=("_abs_d", "max"), median_time_ratio=("time_ratio", "median")).reset_index()
    out["n_bitwise_equal"] = out["n_bitwise_equal"].astype(int)
    out["n_unknown"] = out["n_pairs"] - out["n_known"]
    known = out["n_known"] > 0
    out["bitwise_reproducible"] = pd.Series(out["n_bitwise_equal"] == out["n_known"], dtype="boolean").where(known)
    return out[SUMMARY_COLUMNS]
