"""History across commits on a kernel's page: time, rel_error and error_ratio of every
case and machine, commit by commit in git order, with the steps a stated test flags
and every failure with its reason.

Why git order and not measurement time: asv measures the newest commit of a range
first, so ordering by when a commit was measured draws its history backwards. Commits
are ordered by the repository (parents before children, `git rev-list --topo-order`)
when it knows them all, else by commit date (asv's stored date, `commit_date`).

The tests, the gates of `harness compare` (report.compare):
  time      Mann-Whitney U on the two commits' samples, p < ALPHA, and the ratio of
            medians beyond TIME_FACTOR either way; without samples a step is not tested
  accuracy  rel_error grown or shrunk beyond ERROR_FACTOR (errors below the unit
            roundoff u count as u), or the verdict crossing the bound; a smaller change
            of rel_error is listed as "rounding changed" (the inputs are identical at
            every commit, so any change is a change in rounding)
"""
from __future__ import annotations

import subprocess
from typing import Any, Sequence

from .compare import ERROR_FACTOR, accuracy_regression, compare_pair
from .data import impl_label, is_failure, num
from .html import filter_attrs, fmt, fmt_time, table, text_esc as esc

ALPHA = 0.01
TIME_FACTOR = 1.1
FIELDS = (("time_median_s", "median time per call", "seconds"),
          ("rel_error", "rel_error", "relative error"),
          ("error_ratio", "error_ratio (error / bound)", "error / bound"))


def git_order(commits: Sequence[str], cwd: str | None = None) -> dict[str, int]:
    """Topological rank (ancestors first) of the commits git knows; {} without git."""
    if not commits:
        return {}
    try:
        out = subprocess.run(["git", "rev-list", "--topo-order", "--reverse", *commits], cwd=cwd,
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if out.returncode != 0:  # a commit git does not know: rev-list refuses the whole list
        return {}
    rank = {c: i for i, c in enumerate(out.stdout.split())}
    return {c: rank[c] for c in commits if c in rank}


def commit_order(records: Sequence[dict[str, Any]], cwd: str | None = None) -> list[str]:
    """The commits of `records`, oldest first: git's parent order when git knows every
    one, else commit date (the record's commit_date, asv's stored date), else the
    earliest measurement as a last resort."""
    dates: dict[str, str] = {}
    for r in records:
        c = str(r["commit"])
        d = str(r.get("commit_date") or "")
        if d and (c not in dates or not dates[c]):
            dates[c] = d
        dates.setdefault(c, "")
    first_seen: dict[str, str] = {}
    for r in records:
        c, t = str(r["commit"]), str(r.get("timestamp") or "")
        first_seen[c] = min(first_seen.get(c, t), t)
    commits = sorted(dates)
    rank = git_order(commits, cwd)
    if len(rank) == len(commits):
        return sorted(commits, key=rank.__getitem__)
    return sorted(commits, key=lambda c: (dates[c] or first_seen[c], first_seen[c], c))


def newest_per_commit(records: Sequence[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """(case and machine, commit) -> the newest measurement of that case at that commit."""
    out: dict[tuple, dict[str, Any]] = {}
    for r in records:
        k = (series_key(r), str(r["commit"]))
        if k not in out or str(r.get("timestamp") or "") >= str(out[k].get("timestamp") or ""):
            out[k] = r
    return out


def series_key(r: dict[str, Any]) -> tuple:
    return (r["machine_id"], impl_label(r), r["device"], r["dtype"], r["size"])


def step(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What the tests flag from commit a to commit b of one case ([] when nothing)."""
    if a["status"] == "ok" and is_failure(b):
        return [f"broke: {b.get('message') or b['status']}"]
    if is_failure(a) and b["status"] == "ok":
        return ["fixed"]
    out = []
    row = compare_pair(a, b, ALPHA)
    beyond = row.ratio is not None and not 1 / TIME_FACTOR <= row.ratio <= TIME_FACTOR
    if beyond and row.significant:
        out.append(f"{'slower' if row.ratio > 1 else 'faster'} ×{row.ratio:.3g} (p={row.p_value:.2g})")
    elif beyond and row.p_value is None:
        # The report's history holds per-commit medians, not samples: the ratio alone.
        out.append(f"{'slower' if row.ratio > 1 else 'faster'} ×{row.ratio:.3g} (per-commit medians; no samples)")
    worse = accuracy_regression(row, ERROR_FACTOR)
    better = accuracy_regression(compare_pair(b, a, ALPHA), ERROR_FACTOR)
    if worse:
        out.append(f"less accurate: {worse}")
    elif better:
        out.append(f"more accurate: {better}")
    else:
        ea, eb = num(a.get("rel_error")), num(b.get("rel_error"))
        if ea is not None and eb is not None and ea != eb:
            out.append(f"rounding changed: rel_error {ea:.3g} → {eb:.3g}")
    return out


def steps(by_commit: dict[tuple, dict[str, Any]], order: list[str]) -> list[tuple[str, dict, list[str]]]:
    """(commit, record at that commit, flags) for every flagged step between consecutive
    commits at which a case was measured (skipped records are not a point)."""
    series: dict[tuple, list[dict[str, Any]]] = {}
    for (key, _), r in by_commit.items():
        if r["status"] != "skipped":
            series.setdefault(key, []).append(r)
    out = []
    for key, rows in sorted(series.items(), key=lambda kv: tuple(map(str, kv[0]))):
        rows.sort(key=lambda r: order.index(str(r["commit"])))
        for a, b in zip(rows, rows[1:]):
            flags = step(a, b)
            if flags:
                out.append((str(b["commit"]), b, flags))
    return out


def _plots(page: Any, by_commit: dict[tuple, dict[str, Any]], order: list[str], flagged: set[tuple]) -> str:
    """One figure per field: a line per series (its largest size), flagged steps circled."""
    short = {c: c[:10] for c in order}
    html = []
    for field, title, unit in FIELDS:
        data = []
        measured = [r for r in by_commit.values() if r["status"] == "ok" and num(r.get(field)) is not None]
        for rows in page.series(measured).values():
            size = max(r["size"] for r in rows)
            pts = sorted((r for r in rows if r["size"] == size), key=lambda r: order.index(str(r["commit"])))
            if len(pts) < 2:
                continue
            hover = [f"{esc(page.name(r))} n={r['size']}<br>commit {esc(str(r['commit'])[:12])}<br>"
                     f"{fmt_time(num(r.get('time_median_s')))} · rel_error {fmt(num(r.get('rel_error')))} · "
                     f"error/bound {fmt(num(r.get('error_ratio')))}" for r in pts]
            sizes = [13 if (series_key(r), str(r["commit"])) in flagged else 7 for r in pts]
            trace = page.line(pts[0], [esc(short[str(r["commit"])]) for r in pts], [float(r[field]) for r in pts],
                              hover, name=f"{page.name(pts[0])} n={size}")
            trace["marker"] = {**trace["marker"], "size": sizes}
            data.append(trace)
        if data:
            lay = page.layout(f"{title} across commits (largest size of each series; large markers: flagged steps)",
                              "commit (oldest first, git order)", unit, xlog=False,
                              ylog=field != "error_ratio" or all(v > 0 for t in data for v in t["y"]))
            lay["xaxis"].update(type="category", categoryorder="array", categoryarray=[esc(short[c]) for c in order])
            html.append(page.figs.add({"data": data, "layout": lay}, 380))
    return "".join(html)


def _rows(page: Any, items: list[tuple[str, dict, list[str]]], short: dict[str, str]) -> list[tuple[list[str], str]]:
    return [([f'<span class="mono">{esc(short[c])}</span>', esc(page.name(r)), esc(str(r["size"])),
              esc("; ".join(flags)[:400])], filter_attrs(machine=r["machine_id"], backend=r["backend"], dtype=r["dtype"]))
            for c, r, flags in items]


def section(page: Any) -> str:
    """The "History across commits" section of a KernelPage ("" with fewer than two commits)."""
    recs = [r for r in page.history_recs if r.get("commit")]
    order = commit_order(recs)
    if len(order) < 2:
        return ""
    by_commit = newest_per_commit(recs)
    flagged = steps(by_commit, order)
    short = {c: c[:10] for c in order}
    failures = [(str(r["commit"]), r, [f"{r['status']}: {r.get('message') or 'no reason recorded'}"])
                for r in by_commit.values() if is_failure(r)]
    failures.sort(key=lambda f: (order.index(f[0]), page.name(f[1])))
    cols = ["commit", "case", "size", "what the test says"]
    body = (f'<h2>History across commits</h2><p class="lead">{len(order)} commits in git order (oldest first: '
            f'parents before children, else commit date; not the time of measurement). Steps are flagged by '
            f'the gates of <code>harness compare</code>: time when a Mann-Whitney U test on the samples gives '
            f'p &lt; {ALPHA:g} and the ratio is beyond {TIME_FACTOR:g}× either way; accuracy when rel_error grows or '
            f'shrinks beyond {ERROR_FACTOR:g}× (below u counts as u) or the verdict crosses the bound; any other '
            f'change of rel_error is "rounding changed" (the inputs are the same at every commit).</p>'
            + _plots(page, by_commit, order, {(series_key(r), c) for c, r, _ in flagged}))
    body += (f"<h3>Flagged steps ({len(flagged)})</h3>" + (table(cols, _rows(page, flagged, short)) if flagged
                                                            else "<p>No step flagged.</p>"))
    if failures:
        body += f"<h3>Failures ({len(failures)})</h3>" + table(cols[:3] + ["reason"], _rows(page, failures, short))
    return body
