"""How long `gan train steps=1` takes from the shell, beside what importing torch alone takes.

    python benchmarks/startup.py [--runs 7] [--tree PATH ...]

Each command runs --runs times, the commands taking turns, so a busy machine slows them alike; it prints each
one's median wall time and median CPU time (user + system of the process). --tree runs the gan-cli source tree at
PATH (its gan_cli/ first on PYTHONPATH) in place of the installed one, once per tree: before and after, side by
side. `python -X importtime -m gan_cli train steps=1` shows where the imports' share goes.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of `command`; a failure stops the benchmark with the command's own words."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def commands(trees: list[str], out: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    env = {**os.environ}
    found: dict[str, tuple[list[str], dict[str, str]]] = {}
    for label, tree in [(f"gan train steps=1 ({t})", t) for t in trees] or [("gan train steps=1", None)]:
        tree_env = env | {"PYTHONPATH": os.pathsep.join(filter(None, [tree, env.get("PYTHONPATH")]))} if tree else env
        found[label] = ([sys.executable, "-m", "gan_cli", "train", "steps=1", f"hydra.run.dir={out}/{len(found)}"], tree_env)
    found["import torch"] = ([sys.executable, "-c", "import torch"], env)
    # Every torch optimiser imports torch._dynamo the first time it is made and at every step (torch 2.14).
    found["import torch, torch._dynamo"] = ([sys.executable, "-c", "import torch, torch._dynamo"], env)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tree", action="append", default=[], help="a gan-cli source tree to run instead of the installed one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        todo = commands(args.tree, Path(out))
        times: dict[str, list[tuple[float, float]]] = {label: [] for label in todo}
        for i in range(args.runs):
            for label, (command, env) in todo.items():
                command = [c.replace(f"{out}/", f"{out}/{i}_") for c in command]  # a fresh run folder every time
                times[label].append(timed(command, env))
    for label, pairs in times.items():
        walls = " ".join(f"{w:.2f}" for w, _ in pairs)
        print(f"{label}: median {statistics.median(w for w, _ in pairs):.2f} s wall [{walls}], {statistics.median(c for _, c in pairs):.2f} s CPU")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
