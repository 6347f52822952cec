"""`gan report PATH`: every run under PATH, grouped by its settings, with mean ± std over seeds.

A sweep's unit of truth is the setting, not the run: a GAN that works for one seed may
collapse or diverge for the next, so the report counts those outcomes beside the means,
and gives each setting's success rate with a 95% interval (a handful of seeds says little).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from gan_cli.errors import UserError, user_errors
from gan_cli.log import console, metric_numbers
from gan_cli.sweep import show_best

# Not settings: what differs between the seeds of one setting, or between machines.
# resume=auto: a sweep's jobs continued after a stop, and those that started afresh, are the same setting.
IGNORED_KEYS = ("seed", "data.root", "hydra.", "device", "threads", "resume")
SUCCESS_HEADER = "success (95% CI)"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials (z=1.96: 95%).

    Wilson (1927), recommended by Agresti & Coull (1998). Not the normal approximation
    p ± z·sqrt(p(1-p)/n): with a sweep's few seeds that one leaves [0, 1] and collapses to
    a zero-width interval at 0/n and n/n, as if a handful of seeds proved a rate of 0 or 1.
    Wilson's stays inside [0, 1] and is honest there (0/10 gives [0, 0.28], not [0, 0]).
    """
    if n <= 0:
        raise ValueError(f"wilson needs at least one trial, got n={n}")
    p, zz = k / n, z * z
    center = (p + zz / (2 * n)) / (1 + zz / n)
    half = z / (1 + zz / n) * math.sqrt(p * (1 - p) / n + zz / (4 * n * n))
    # At k=0 (k=n) the bound is exactly 0 (1); in floats it lands a few ulps to either side (0/1: -5.6e-17).
    return (0.0 if k == 0 else center - half), (1.0 if k == n else center + half)


def load_runs(root: Path, eval_dir: str | None = None) -> list[dict[str, Any]]:
    """Every run under root; with eval_dir, each run's metrics are those `gan eval` wrote into RUN/eval_dir."""
    if not root.exists():
        raise UserError(f"{str(root)!r} does not exist. Give a sweep folder (outputs/multirun/<date>/<time>) or outputs/.")
    runs = []
    for path in sorted(root.rglob("metrics.json")):
        try:
            run = json.loads(path.read_text())
        except (OSError, ValueError):
            console.print(f"[yellow]skipped[/] {escape(str(path))}: not readable JSON")
            continue
        runs.append(run | {"path": str(path.parent)})
    if not runs:
        raise UserError(f"no runs under {str(root)!r}: no metrics.json was found. Point gan report at a folder that gan train wrote.")
    if not eval_dir:
        return runs
    kept = [r for r in (with_eval(run, eval_dir) for run in runs) if r]
    if not any(r.get("eval") for r in kept):
        raise UserError(f"no run under {str(root)!r} has {eval_dir}/eval.json: run gan eval on each (see above), or leave out --eval to use each run's own final evaluation.")
    return kept


def with_eval(run: dict[str, Any], eval_dir: str) -> dict[str, Any] | None:
    """The run with its metrics from RUN/eval_dir/eval.json (several noise draws pooled by `gan eval draws=K`).

    A diverged run keeps its place (it has no G to evaluate, and it still counts as diverged); any other
    run without the file is left out, with the command that writes it, rather than mixed in with its own
    single-draw evaluation.
    """
    path = Path(run["path"]) / eval_dir / "eval.json"
    try:
        return run | {"eval": json.loads(path.read_text())["eval"]}
    except (OSError, ValueError, KeyError):
        if run.get("status") == "diverged":
            return run
        console.print("[yellow]skipped[/] " + escape(f"{run['path']}: no readable {path.name} in {eval_dir}/; write it with gan eval ckpt='{run['path']}' out='{path.parent}'"))
        return None


def setting(run: dict[str, Any]) -> str:
    """The run's group: its data/model/loss and its other overrides, less the seed."""
    items = {k: v for k, v in run.get("choices", {}).items() if k in ("data", "model", "loss")}
    for override in run.get("overrides", []):
        key, _, value = override.lstrip("+~").partition("=")
        if not any(key == k or (k.endswith(".") and key.startswith(k)) for k in IGNORED_KEYS):
            items[key] = value
    return ",".join(f"{k}={v}" for k, v in sorted(items.items())) or "(defaults)"


def success_tally(members: list[dict[str, Any]]) -> tuple[int, int] | None:
    """(succeeded, judged) over a setting's runs, or None when its data set has no success criterion.

    A diverged run is a failure: it is a run of the setting that did not succeed (it has no
    final G, so no verdict of its own). An evaluated run without a `success` key shows that
    the data set has no criterion, so the setting gets no rate. A run that was stopped
    before its end has no outcome yet and is left out of both counts.
    """
    evals = [run.get("eval") or {} for run in members]
    if any(e and "success" not in e for e in evals):
        return None
    judged = sum(run.get("status") == "diverged" or "success" in e for run, e in zip(members, evals))
    return (sum(e.get("success") is True for e in evals), judged) if judged else None


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[setting(run)].append(run)
    rows = []
    for name, members in sorted(groups.items()):
        evals = [run.get("eval", {}) for run in members]
        row: dict[str, Any] = {
            "setting": name,
            "runs": len(members),
            "succeeded": sum(e.get("success") is True for e in evals),
            "diverged": sum(run.get("status") == "diverged" for run in members),
            "collapsed": sum(e.get("collapsed") is True for e in evals),
        }
        if tally := success_tally(members):
            k, n = tally
            low, high = wilson(k, n)
            row |= {"success_judged": n, "success_rate": k / n, "success_ci_low": low, "success_ci_high": high}
        values: dict[str, list[float]] = defaultdict(list)
        for e in evals:
            for key, value in metric_numbers(e, flags=False).items():  # flags are counted above
                if math.isfinite(value):
                    values[key].append(value)
        for key, series in values.items():
            row[f"{key}_mean"] = statistics.fmean(series)
            row[f"{key}_std"] = statistics.stdev(series) if len(series) > 1 else 0.0
        rows.append(row)
    return rows


def metric_names(rows: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names += [k.removesuffix("_mean") for k in row if k.endswith("_mean") and k.removesuffix("_mean") not in names]
    return names


def cell(row: dict[str, Any], metric: str) -> str:
    if f"{metric}_mean" not in row:
        return "-"
    return f"{row[f'{metric}_mean']:.4g} ± {row[f'{metric}_std']:.2g}"


def success_cell(row: dict[str, Any]) -> str:
    """E.g. `16/20 = 80% [58%, 92%]`: succeeded out of judged runs, rate, Wilson 95% interval; `-` without a criterion."""
    if "success_rate" not in row:
        return "-"
    return f"{row['succeeded']}/{row['success_judged']} = {row['success_rate']:.0%} [{row['success_ci_low']:.0%}, {row['success_ci_high']:.0%}]"


def write(rows: list[dict[str, Any]], folder: Path, eval_dir: str | None = None) -> tuple[Path, Path]:
    metrics = metric_names(rows)
    head = ["setting", "runs", "succeeded", "diverged", "collapsed", SUCCESS_HEADER, *metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([str(r[h]) for h in head[:5]] + [success_cell(r)] + [cell(r, m) for m in metrics]) + " |" for r in rows]
    # Reports of different evaluations sit side by side: report.md (the runs' own), report_<eval_dir>.md.
    stem = f"report_{eval_dir.strip('/').replace('/', '_')}" if eval_dir else "report"
    source = f"each run's {eval_dir}/eval.json (gan eval)" if eval_dir else "each run's own final evaluation (metrics.json)"
    md, csv_path = folder / f"{stem}.md", folder / f"{stem}.csv"
    note = (
        f"Mean ± std over the runs of each setting, from {source}. {SUCCESS_HEADER}: the runs that met the data set's "
        "success criterion out of those judged (a diverged run counts as a failure), with the Wilson score interval; "
        "- where the data set has no criterion."
    )
    md.write_text(f"# gan report: {folder}\n\n{note}\n\n" + "\n".join(lines) + "\n")
    # Fractions in [0, 1], empty where the setting has no rate.
    success = ["success_rate", "success_ci_low", "success_ci_high"]
    fields = head[:5] + success + [f"{m}_{s}" for m in metrics for s in ("mean", "std")]
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return md, csv_path


def terminal_table(rows: list[dict[str, Any]], root: Path) -> Table:
    """The report as a rich table, with the same columns as report.md."""
    metrics = metric_names(rows)
    table = Table(title=f"gan report: {root}", title_justify="left")
    for column in ("setting", "runs", "ok", "diverged", "collapsed", SUCCESS_HEADER, *metrics):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r["setting"], str(r["runs"]), str(r["succeeded"]), str(r["diverged"]), str(r["collapsed"]), success_cell(r), *(cell(r, m) for m in metrics))
    return table


def report(root: Path, eval_dir: str | None = None) -> list[dict[str, Any]]:
    rows = summarize(load_runs(root, eval_dir))
    table = terminal_table(rows, root)
    folder = root if root.is_dir() else root.parent
    md, csv_path = write(rows, folder, eval_dir)
    # Off a terminal (CI logs, files) a wide table would be folded into narrow columns; Markdown stays readable.
    console.print(table) if console.is_terminal else print(md.read_text())
    console.print(f"wrote {md}\nwrote {csv_path}")
    show_best(folder)  # an Optuna study's folder: its best trial, and the command that reruns it
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gan report", description="Group the runs under PATH by setting: mean ± std over seeds, counts of succeeded, diverged and collapsed runs, and the success rate with its 95% (Wilson) interval. Writes report.md and report.csv into PATH (report_DIR.md and .csv with --eval DIR).")
    parser.add_argument("path", type=Path, help="a sweep folder (outputs/multirun/<date>/<time>) or all of outputs/")
    parser.add_argument("--eval", dest="eval_dir", metavar="DIR", help="use each run's DIR/eval.json, which `gan eval ckpt=RUN out=RUN/DIR` wrote (e.g. over several noise draws), instead of its own final evaluation")
    args = parser.parse_args(argv)
    with user_errors():
        report(args.path, args.eval_dir)
