"""Does a population reach what ordinary runs of the same seeds reach? Trains both, then compares them seed by seed
and as groups: success rates (Fisher's exact test) and each metric's mean (Welch's t), against seed-to-seed noise.

    python benchmarks/agreement.py OUT --seeds 0:20 [OVERRIDE ...]   # gan train population=20 seed=0 into OUT/population,
                                                                     # gan train -m seed=0,...,19 into OUT/runs, then compares
    python benchmarks/agreement.py OUT                               # only compares what OUT holds

A member is its seed's ordinary run up to float rounding (tests/test_population.py checks that after a few rounds);
over thousands of rounds GAN training magnifies rounding, so some seeds end elsewhere. What must hold is that the
two groups are alike: no difference larger than seed-to-seed noise explains (p above 0.05).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import scipy.stats

from gan_cli.report import wilson

METRICS = ("w1", "ks", "mean", "std", "modes_covered", "high_quality")  # those the data set's evaluation has


def train(out: Path, seeds: str, overrides: list[str]) -> None:
    first, end = (int(s) for s in seeds.split(":"))
    gan = str(Path(sys.executable).with_name("gan"))
    population = [gan, "train", f"population={end - first}", f"seed={first}", f"hydra.run.dir={out / 'population'}", *overrides]
    runs = [gan, "train", "-m", "seed=" + ",".join(str(s) for s in range(first, end)), f"hydra.sweep.dir={out / 'runs'}", *overrides]
    for command in (population, runs):
        print(" ".join(command), flush=True)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def by_seed(folder: Path) -> dict[int, dict[str, object]]:
    runs = [json.loads(p.read_text()) for p in folder.glob("*/metrics.json")]
    return {int(r["seed"]): r["eval"] for r in runs}


def compare(out: Path) -> dict[str, object]:
    members, runs = by_seed(out / "population"), by_seed(out / "runs")
    seeds = sorted(set(members) & set(runs))
    if not seeds:
        sys.exit(f"no seed has both {out}/population/seed=S/metrics.json and {out}/runs/*/metrics.json")
    a, b = [members[s] for s in seeds], [runs[s] for s in seeds]
    summary: dict[str, object] = {"seeds": f"{seeds[0]}..{seeds[-1]} ({len(seeds)})"}
    if "success" in a[0]:
        ka, kb = (sum(e.get("success") is True for e in group) for group in (a, b))
        p = scipy.stats.fisher_exact([[ka, len(a) - ka], [kb, len(b) - kb]]).pvalue
        summary["success"] = {"population": _rate(ka, len(a)), "ordinary runs": _rate(kb, len(b)), "fisher_p": round(p, 3)}
    for name in METRICS:
        if name not in a[0]:
            continue
        xa, xb = [float(e[name]) for e in a], [float(e[name]) for e in b]
        same = sum(math.isclose(x, y, rel_tol=1e-4, abs_tol=1e-6) for x, y in zip(xa, xb))
        p = scipy.stats.ttest_ind(xa, xb, equal_var=False).pvalue if statistics.pstdev(xa + xb) > 0 else 1.0
        summary[name] = {
            "population": f"{statistics.mean(xa):.4g} ± {statistics.stdev(xa):.2g}",
            "ordinary runs": f"{statistics.mean(xb):.4g} ± {statistics.stdev(xb):.2g}",
            "welch_p": round(float(p), 3),
            "seeds_equal_to_1e-4": f"{same}/{len(seeds)}",
        }
    print(json.dumps(summary, indent=1))
    return summary


def _rate(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} [{low:.0%}, {high:.0%}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", help="FIRST:END (END excluded): train these seeds both ways first")
    parser.add_argument("overrides", nargs="*", help="gan train overrides for both, e.g. data=ring2d steps=5000")
    args = parser.parse_intermixed_args()
    if args.seeds:
        train(args.out, args.seeds, args.overrides)
    compare(args.out)


if __name__ == "__main__":
    main()
