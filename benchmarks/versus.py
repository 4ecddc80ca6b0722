"""Two checkouts of scslab side by side: a year of SCS-ref-1's simulation time in each.

    git worktree add /tmp/before <commit>
    python benchmarks/versus.py /tmp/before/src src --residents 100 10000 --rounds 6

For each size, fresh processes alternate between the two source folders (`rounds` of
each); every process first runs two days of the same size (which loads the compiled
kernels from numba's cache and takes the same code paths), then `--runs` timed years,
and reports the fastest. The result per version is the fastest and the median of its
processes' fastest runs, and their ratio. The fastest of many runs is the least
disturbed by other work on a shared machine; a change smaller than the spread between
fresh-process runs (as in `bench.py mesa`) can still show here. Writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys
from scslab import Simulation, load_scenario  # the public API: the same in every version
scenario, n, runs, engine = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sc = load_scenario(scenario)
if sys.argv[5] != "file":  # outputs.scores on or off, whatever the file says
    outputs = type(sc.outputs)(scores=sys.argv[5] == "on")
    sc = sc.model_copy(update={"outputs": outputs})
Simulation(sc, seed=1, residents=n, days=2, agents=False, engine=engine).run()
times = [
    Simulation(sc, seed=1, residents=n, days=365, agents=False, engine=engine)
    .run().manifest["timings"]["simulate_s"]
    for _ in range(runs)
]
import scslab
print(json.dumps({"fastest": min(times), "module": scslab.__file__}))
"""


def fastest_year(
    src: str, residents: int, runs: int, engine: str, scenario: str, scores: str = "file"
) -> float:
    """The fastest of `runs` years (seconds of simulation) in one fresh process that
    imports scslab from the folder `src` (checked: not an installed copy); scores: the
    scenario's outputs.scores ("on", "off", or "file": as the file has it)."""
    folder = Path(src).resolve()
    env = {**os.environ, "PYTHONPATH": str(folder)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, scenario, str(residents), str(runs), engine, scores],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"run in {src} failed:\n{proc.stderr}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(got["module"]).resolve().is_relative_to(folder):
        raise SystemExit(f"{src}: the run imported scslab from {got['module']} instead")
    return float(got["fastest"])


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="source folder of the first checkout (its src/)")
    parser.add_argument("after", help="source folder of the second checkout (its src/)")
    parser.add_argument("--residents", type=int, nargs="+", default=[10_000])
    parser.add_argument("--rounds", type=int, default=4, help="processes of each version")
    parser.add_argument("--runs", type=int, default=15, help="timed years per process")
    parser.add_argument("--engine", default="compiled", choices=["auto", "general", "compiled"])
    parser.add_argument("--scenario", default=str(HERE / "scs-ref-1.yaml"))
    parser.add_argument(
        "--scores",
        default="file",
        choices=["file", "on", "off"],
        help="the score tally (outputs.scores): as in the scenario file, or on or off "
        "(on or off needs a version that has outputs.scores on both sides)",
    )
    args = parser.parse_args()
    for src in (args.before, args.after):
        if not (Path(src) / "scslab" / "__init__.py").is_file():
            raise SystemExit(f"{src}: no scslab package in it (give a checkout's src/ folder)")
    if args.rounds < 1 or args.runs < 1:
        raise SystemExit("--rounds and --runs: at least 1")
    for n in args.residents:
        best: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.rounds):
            for name, src in (("before", args.before), ("after", args.after)):
                best[name].append(
                    fastest_year(src, n, args.runs, args.engine, args.scenario, args.scores)
                )
        fast = {k: min(v) for k, v in best.items()}
        mid = {k: statistics.median(v) for k, v in best.items()}
        print(
            f"N={n:,}: before {fast['before'] * 1e3:.1f} ms (median {mid['before'] * 1e3:.1f}),"
            f" after {fast['after'] * 1e3:.1f} ms (median {mid['after'] * 1e3:.1f}):"
            f" {fast['before'] / fast['after']:.2f}x (medians"
            f" {mid['before'] / mid['after']:.2f}x)",
            flush=True,
        )


if __name__ == "__main__":
    main()
