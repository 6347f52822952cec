"""How often a 1-D setting succeeds, over many seeds: one population, then its success rate and how often G's samples
pass the Kolmogorov-Smirnov test against the target, each with a 95% Wilson interval.

    python benchmarks/one_d_success.py OUT --seeds 1000:1200 [OVERRIDE ...]    # trains population=200 into OUT
    python benchmarks/one_d_success.py OUT                                       # only reads OUT/seed=*/metrics.json

Success is the data set's own criterion (|mean - 4| < 0.1 and |std - 1.25| < 0.1). The KS test passes when the
statistic of eval.n samples is below the 5% critical value, 1.358 / sqrt(n) (0.0136 at n = 10,000).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from gan_cli.report import wilson


def train(out: Path, seeds: str, overrides: list[str]) -> None:
    first, last = (int(s) for s in seeds.split(":"))
    command = [str(Path(sys.executable).with_name("gan")), "train", f"population={last - first}", f"seed={first}", f"hydra.run.dir={out}", *overrides]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)


def rate(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {k / n:.1%} [{low:.1%}, {high:.1%}]"


def summarise(out: Path) -> dict[str, object]:
    runs = [json.loads(p.read_text()) for p in sorted(out.glob("seed=*/metrics.json"))]
    if not runs:
        sys.exit(f"no seed=*/metrics.json under {out}")
    evals = [r["eval"] for r in runs]
    succeeded = sum(e.get("success") is True for e in evals)
    passed = sum(e.get("ks", math.inf) < 1.358 / math.sqrt(e.get("n", 1)) for e in evals)
    misses = sorted((r["seed"], round(r["eval"].get("mean", math.nan), 3), round(r["eval"].get("std", math.nan), 3)) for r in runs if r["eval"].get("success") is not True)
    ks = sorted(e["ks"] for e in evals if "ks" in e)
    summary = {
        "runs": len(runs),
        "diverged": sum(r["status"] == "diverged" for r in runs),
        "success": rate(succeeded, len(runs)),
        "ks_pass": rate(passed, len(runs)),
        "ks_median": ks[len(ks) // 2] if ks else None,
        "misses (seed, mean, std)": misses,
        "seconds": runs[0].get("elapsed_s"),
    }
    print(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", help="FIRST:END (END excluded): train these seeds as one population first")
    parser.add_argument("overrides", nargs="*", help="gan train overrides, e.g. latent.dist=normal")
    args = parser.parse_intermixed_args()  # overrides may come after --seeds
    if args.seeds:
        train(args.out, args.seeds, args.overrides)
    summarise(args.out)


if __name__ == "__main__":
    main()
