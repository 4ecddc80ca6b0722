"""scslab benchmarks: scaling, per-phase times, peak memory, and the ratio to Mesa.

    python benchmarks/bench.py scaling --scales 0.01 0.1 1 --days 365
    python benchmarks/bench.py mesa --residents 10000 100000
    python benchmarks/bench.py oracle --residents 10000 --days 365 --seeds 20
    python benchmarks/bench.py compile
    python benchmarks/bench.py sweep --runs 12 --residents 20000 --days 180

Each measured run happens in a fresh subprocess, so that its peak RSS is its own. Results
go to benchmarks/results/ (CSV and PNG); docs/benchmarks.md quotes them. Ratios are
measured side by side in one invocation (these machines are noisy).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"  # replaced by --results
SCS_REF = HERE / "scs-ref-1.yaml"


def machine() -> str:
    """The processor this runs on, as the benchmark tables record it (ratios to Mesa
    differ from one machine to another by several times): its model name, the CPU
    type LLVM compiles numba's kernels for, and the cores Python may use."""
    import platform

    import llvmlite.binding as llvm

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model} ({llvm.get_host_cpu_name()}, {cores} cores)"


CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from scslab import Simulation
from scslab.scenario.loader import load_scenario
from scslab.scenario.sections import Outputs
args = json.loads(sys.argv[1])
sc = load_scenario(args["scenario"])
if args["scores"] is not None:  # the score tally on or off, whatever the file says
    sc = sc.model_copy(update={"outputs": Outputs(scores=args["scores"])})
if args["warm"]:  # load the compiled kernels from numba's cache before the timed run:
    # two days of a city of the same size, which takes the same code paths (compiled
    # days tally a small city's scores inside the loop, a larger one's in a worker thread)
    Simulation(sc, seed=args["seed"], scale=args["scale"],
               residents=args["residents"], days=2, agents=args["agents"],
               engine=args["engine"]).run()
sim = Simulation(sc, seed=args["seed"], scale=args["scale"],
                 residents=args["residents"], days=args["days"], agents=args["agents"],
                 engine=args["engine"])
res = sim.run(out=args["out"])
t = res.manifest["timings"]
print(json.dumps({
    "residents": res.manifest["residents"], "enterprises": res.manifest["enterprises"],
    "days": res.manifest["days"], "engine": res.manifest["engine"],
    "wall_s": time.perf_counter() - t0,
    "build_population_s": t["build_population_s"], "simulate_s": t["simulate_s"],
    "setup_s": t["setup_s"], "write_s": t["write_s"], "phases_s": t["phases_s"],
    "worker_s": t["worker_s"],
    "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
}))
"""


def run_child(
    scenario: str,
    *,
    scale: float | None = None,
    residents: int | None = None,
    days: int | None,
    seed: int = 1,
    engine: str = "auto",
    agents: bool | None = False,
    warm: bool = False,
    scores: bool | None = None,
    env: dict | None = None,
) -> dict:
    """One scslab run in a fresh Python process; returns its timings, the engine that
    ran it and its peak RSS (GiB). warm: a two-day run of the same scenario and size
    first, so that loading the compiled kernels from numba's cache is not in the run's
    timings. scores: the scenario's outputs.scores set to this (None: as it is). days
    None: the scenario's; agents None: per-agent tables as a run's default."""
    with tempfile.TemporaryDirectory() as tmp:
        args = {
            "scenario": scenario,
            "scale": scale,
            "residents": residents,
            "days": days,
            "seed": seed,
            "engine": engine,
            "agents": agents,
            "warm": warm,
            "scores": scores,
            "out": str(Path(tmp) / "run"),
        }
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(args)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scaling(scales: list[float], days: int, scenario: str, engine: str = "compiled") -> list[dict]:
    """Time and memory against residents; writes scaling.csv and scaling.png (named
    scaling-<scenario>-<engine> for other scenarios or engines). Compiled days by
    default: what auto runs once they are compiled."""
    rows = []
    here = machine()
    for scale in scales:
        r = run_child(scenario, scale=scale, days=days, engine=engine)
        r["scale"] = scale
        r["machine"] = here
        r["agent_days_per_s"] = r["residents"] * r["days"] / r["simulate_s"]
        rows.append(r)
        print(
            f"scale {scale:g}: {r['residents']:,} residents x {r['days']} days: wall "
            f"{r['wall_s']:.1f} s (build {r['build_population_s']:.1f} s, simulate "
            f"{r['simulate_s']:.1f} s), {r['agent_days_per_s'] / 1e6:.1f} M agent-days/s, "
            f"peak {r['peak_rss_gib']:.2f} GiB, engine {r['engine']}",
            flush=True,
        )
    RESULTS.mkdir(exist_ok=True)
    phases = list(rows[0]["phases_s"])
    workers = list(rows[0]["worker_s"])
    name = (
        "scaling"
        if (scenario, engine) == ("beijing-2018", "compiled")
        else (f"scaling-{Path(scenario).stem}-{engine}")
    )
    with open(RESULTS / f"{name}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "scale",
                "residents",
                "days",
                "engine",
                "wall_s",
                "build_population_s",
                "simulate_s",
                "agent_days_per_s",
                "peak_rss_gib",
                *[f"phase_{p}_s" for p in phases],
                *[f"worker_{k}_s" for k in workers],
                "machine",
            ]
        )
        for r in rows:
            w.writerow(
                [
                    r["scale"],
                    r["residents"],
                    r["days"],
                    r["engine"],
                    round(r["wall_s"], 2),
                    r["build_population_s"],
                    r["simulate_s"],
                    round(r["agent_days_per_s"]),
                    round(r["peak_rss_gib"], 3),
                    *[r["phases_s"][p] for p in phases],
                    *[r["worker_s"][k] for k in workers],
                    r["machine"],
                ]
            )
    plot_scaling(rows, name)
    return rows


def plot_scaling(rows: list[dict], name: str = "scaling") -> None:
    """Wall time and peak memory against residents, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["residents"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.loglog(n, [r["simulate_s"] for r in rows], "o-", label="simulate")
    a.loglog(n, [r["build_population_s"] for r in rows], "s-", label="build population")
    a.loglog(n, [n_ / n[0] * rows[0]["simulate_s"] for n_ in n], "k:", label="linear")
    a.set_xlabel("residents")
    a.set_ylabel("seconds")
    a.legend()
    b.loglog(n, [r["peak_rss_gib"] for r in rows], "o-")
    b.set_xlabel("residents")
    b.set_ylabel("peak RSS (GiB)")
    fig.suptitle(f"scslab scaling, {rows[0]['days']} days")
    fig.tight_layout()
    fig.savefig(RESULTS / f"{name}.png", dpi=120)


SERIES = {"compiled": ("compiled", None), "general": ("general", None)}
SERIES["compiled_scores"] = ("compiled", True)
"""mesa_ratio's scslab series: (engine, outputs.scores). SCS-ref-1 collects what its model
names, the daily listed and green-channel counts, as the Mesa model does; compiled_scores
runs it with scslab's score tally on as well (score sums and grades by group, the score
histogram: work the Mesa model does not do)."""


def mesa_ratio(sizes: list[int], days: int, mesa_days: list[int], repeats: int = 3) -> list[dict]:
    """SCS-ref-1 in scslab (compiled days, the general loop, and compiled days with the
    score tally on: SERIES) and in Mesa, side by side: agent-days per second of each, and
    scslab's over Mesa's.

    All rates count simulated days only. Mesa's time is that of its steps (the building
    of its model, its agents and its data collector timed apart). scslab's is given two
    ways: the whole simulation (`simulate_s`, as up to session 9: columns
    `*_agent_days_per_s` and `*_ratio`), and the days alone (`days_s`: simulate_s less
    setup_s, the compiling of the scenario's rules and the allocating of the engine's
    state in Simulation._setup, the counterpart of Mesa's model build; the buffers that
    the day loops allocate for themselves count as days: columns `*_days_only`). Both
    leave out the population build and the loading of the compiled kernels (a two-day
    warm-up run of the same size in the same process: see the compile benchmark for
    those costs). Each scslab time is the median of `repeats` runs, each in a fresh
    process, the series taking turns (a small run takes under a second, and one run
    can be twice as slow as the next on a shared machine); Mesa's runs for mesa_days
    days, one number for every size or one per size (its day costs the same every day)."""
    sys.path.insert(0, str(HERE))
    from mesa_scs_ref1 import time_steps

    if len(mesa_days) not in (1, len(sizes)):
        raise SystemExit("--mesa-days: one number, or one per --residents size")
    rows = []
    here = machine()
    per_size = mesa_days * len(sizes) if len(mesa_days) == 1 else mesa_days
    for n, m_days in zip(sizes, per_size, strict=True):
        runs: dict[str, list[dict]] = {series: [] for series in SERIES}
        for _ in range(repeats):
            for series, got in runs.items():
                engine, scores = SERIES[series]
                run = run_child(
                    str(SCS_REF), residents=n, days=days, engine=engine, warm=True, scores=scores
                )
                got.append(run)
        mesa_build_s, mesa_s = time_steps(n, m_days, 1)
        mesa_rate = n * m_days / mesa_s
        row: dict = {"residents": n, "scslab_days": days, "mesa_days": m_days}
        row["machine"] = here
        row.update(mesa_build_s=round(mesa_build_s, 2), mesa_s=round(mesa_s, 2))
        row["mesa_agent_days_per_s"] = round(mesa_rate)
        for engine, got in runs.items():
            simulate = [r["simulate_s"] for r in got]
            days_only = [r["simulate_s"] - r["setup_s"] for r in got]
            row[f"{engine}_simulate_s"] = round(float(np.median(simulate)), 4)
            row[f"{engine}_days_s"] = round(float(np.median(days_only)), 4)
            row[f"{engine}_runs_s"] = " ".join(f"{t:.4f}" for t in simulate)
            row[f"{engine}_setup_runs_s"] = " ".join(f"{r['setup_s']:.4f}" for r in got)
            for suffix, seconds in (("", "simulate_s"), ("_days_only", "days_s")):
                rate = round(n * days / row[f"{engine}_{seconds}"])
                row[f"{engine}_agent_days_per_s{suffix}"] = rate
                row[f"{engine}_ratio{suffix}"] = float(f"{rate / mesa_rate:.3g}")
        rows.append(row)
        print(
            f"N={n:,}: scslab compiled {row['compiled_agent_days_per_s_days_only'] / 1e6:.1f} M, "
            f"general {row['general_agent_days_per_s_days_only'] / 1e6:.1f} M, Mesa "
            f"{mesa_rate / 1e3:.0f} k agent-days/s: {row['compiled_ratio_days_only']:,.0f}x and "
            f"{row['general_ratio_days_only']:,.0f}x (setup included: "
            f"{row['compiled_ratio']:,.0f}x and {row['general_ratio']:,.0f}x); with the "
            f"score tally {row['compiled_scores_ratio_days_only']:,.0f}x",
            flush=True,
        )
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "mesa.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def _scslab_counts(n: int, days: int, seed: int) -> np.ndarray:
    """SCS-ref-1 in scslab: daily listed and green-channel counts, [days, 2]."""
    from scslab import Simulation

    city = Simulation(SCS_REF, seed=seed, residents=n, days=days, agents=False).run().to_frame()
    return city[["listed:blacklist", "listed:green_channel"]].to_numpy(np.int64)


def oracle(n: int, days: int, seeds: int) -> dict:
    """SCS-ref-1 over `seeds` seeds in scslab and in Mesa: daily listed and green counts,
    their means with 95% confidence bands (t quantile over seeds), and on how many days
    the two means show no significant difference (|t| below the 97.5% quantile, Welch).
    Days are strongly correlated: that share is one observation, not one per day; the
    smallest difference the test would see (about 2.8 standard errors of the difference,
    80% power) is reported with it. Writes oracle.csv, oracle.json and oracle.png.
    Mesa's runs use both cores."""
    import multiprocessing as mp

    from scslab.analysis.stats import t_quantile

    if seeds < 2:
        raise SystemExit("--seeds: at least 2 (the bands need a spread over seeds)")
    sys.path.insert(0, str(HERE))
    from mesa_scs_ref1 import run_mesa

    with mp.get_context("spawn").Pool(2) as pool:
        mesa_runs = pool.starmap_async(run_mesa, [(n, days, s) for s in range(1, seeds + 1)])
        ours = np.stack([_scslab_counts(n, days, s) for s in range(1, seeds + 1)])
        theirs = np.stack(mesa_runs.get())  # [seeds, days, 2]
    band = t_quantile(seeds - 1)  # half-width of a 95% band, in SEs
    # Welch's degrees of freedom are at least seeds - 1: this is the stricter threshold
    out: dict = {"residents": n, "days": days, "seeds": seeds, "t_975": round(band, 3)}
    table = {"day": np.arange(days)}
    for c, name in enumerate(("listed", "green")):
        mean_a, mean_b = ours[:, :, c].mean(axis=0), theirs[:, :, c].mean(axis=0)
        se_a = ours[:, :, c].std(axis=0, ddof=1) / np.sqrt(seeds)
        se_b = theirs[:, :, c].std(axis=0, ddof=1) / np.sqrt(seeds)
        se = np.hypot(se_a, se_b)
        diff = mean_a - mean_b
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(se > 0, diff / se, np.where(diff == 0, 0.0, np.inf))
        for who, mean, sd in (("scslab", mean_a, se_a), ("mesa", mean_b, se_b)):
            table[f"{who}_{name}_mean"] = mean.round(2)
            table[f"{who}_{name}_lo"] = (mean - band * sd).round(2)
            table[f"{who}_{name}_hi"] = (mean + band * sd).round(2)
        last = days - 1
        out[name] = {
            "days_no_significant_difference": float(np.mean(np.abs(t) < band).round(3)),
            "largest_abs_t": float(np.abs(t).max().round(2)),
            "final_scslab": f"{mean_a[last]:.1f} +- {band * se_a[last]:.1f}",
            "final_mesa": f"{mean_b[last]:.1f} +- {band * se_b[last]:.1f}",
            "final_detectable_difference": round(float(2.8 * se[last]), 1),
        }
        o = out[name]
        print(
            f"{name}: no significant difference on {o['days_no_significant_difference']:.1%}"
            f" of days, largest |t| {o['largest_abs_t']}; final day scslab "
            f"{o['final_scslab']}, Mesa {o['final_mesa']} (a difference of "
            f"{o['final_detectable_difference']} would show)",
            flush=True,
        )
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "oracle.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(table))
        w.writerows(zip(*table.values(), strict=True))
    (RESULTS / "oracle.json").write_text(json.dumps(out, indent=1))
    plot_oracle(table, n, seeds)
    return out


def plot_oracle(table: dict, n: int, seeds: int) -> None:
    """Daily mean listed and green counts of scslab and Mesa with 95% bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, name in zip(axes, ("listed", "green"), strict=True):
        for who, colour in (("scslab", "C0"), ("mesa", "C1")):
            ax.plot(table["day"], table[f"{who}_{name}_mean"], color=colour, label=who)
            ax.fill_between(
                table["day"],
                table[f"{who}_{name}_lo"],
                table[f"{who}_{name}_hi"],
                color=colour,
                alpha=0.3,
            )
        ax.set_xlabel("day")
        ax.set_ylabel(f"{name} residents")
        ax.legend()
    fig.suptitle(f"SCS-ref-1, {n:,} residents: mean of {seeds} seeds, 95% bands")
    fig.tight_layout()
    fig.savefig(RESULTS / "oracle.png", dpi=120)


def compile_time(residents: int, days: int) -> dict:
    """Runs of beijing-2018, each cold (what is left to compile) then warm, each set
    from an empty numba cache of its own. A user's first run (auto: the general loop, as
    compiled days are not compiled yet), with its helper process compiling beside it
    (engine/compile_ahead.py), then compiled days (what `scslab compile` then adds), then
    SCS-ref-1 on compiled days (the cache filled by the runs before); the first run
    without the helper (SCSLAB_COMPILE_HELPER=0); compiled days alone. Small runs of
    `residents` for `days`; then the default `scslab run` (1% of the city, the
    scenario's days), with and without the helper."""
    out = {}
    small = {"residents": residents, "days": days}
    default = {"scale": 0.01, "days": None, "agents": None}
    caches = [tempfile.TemporaryDirectory() for _ in range(5)]
    first, alone, compiled, default_first, default_alone = (c.name for c in caches)
    try:
        runs = (
            ("first_", "beijing-2018", "auto", "general", first, "1", small),
            ("compiled_", "beijing-2018", "compiled", "compiled", first, "1", small),
            ("reference_", str(SCS_REF), "compiled", "compiled", first, "1", small),
            ("first_alone_", "beijing-2018", "auto", "general", alone, "0", small),
            ("compiled_alone_", "beijing-2018", "compiled", "compiled", compiled, "1", small),
            ("default_", "beijing-2018", "auto", "general", default_first, "1", default),
            ("default_alone_", "beijing-2018", "auto", "general", default_alone, "0", default),
        )
        for prefix, scenario, engine, used, cache, helper, size in runs:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache, SCSLAB_COMPILE_HELPER=helper)
            run = {**size, "engine": engine, "env": env}
            cold = run_child(scenario, **run)  # type: ignore[arg-type]
            warm = run_child(scenario, **run)  # type: ignore[arg-type]
            assert cold["engine"] == warm["engine"] == used
            out[f"{prefix}cold_wall_s"] = round(cold["wall_s"], 2)
            out[f"{prefix}warm_wall_s"] = round(warm["wall_s"], 2)
            out[f"{prefix}compile_s"] = round(cold["wall_s"] - warm["wall_s"], 2)
    finally:
        for c in caches:
            c.cleanup()
    print(
        f"compile: beijing-2018, {residents:,} residents for {days} days: the first run "
        f"(auto: the general loop) cold {out['first_cold_wall_s']} s with its helper, "
        f"{out['first_alone_cold_wall_s']} s without, warm {out['first_warm_wall_s']} s; "
        f"then compiled days cold {out['compiled_cold_wall_s']} s, warm "
        f"{out['compiled_warm_wall_s']} s; then SCS-ref-1 cold {out['reference_cold_wall_s']}"
        f" s, warm {out['reference_warm_wall_s']} s; compiled days from an empty cache "
        f"{out['compiled_alone_cold_wall_s']} s. The default run (1%): cold "
        f"{out['default_cold_wall_s']} s with the helper, {out['default_alone_cold_wall_s']} s"
        f" without, warm {out['default_warm_wall_s']} s"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compile.json").write_text(json.dumps(out, indent=1))
    return out


SWEEP_SEQUENTIAL = r"""
import json, sys, time, numba
from pathlib import Path
from scslab.experiments.experiment import load_experiment
from scslab.experiments.sweep import prepare, run_task
args = json.loads(sys.argv[1])
numba.set_num_threads(1)  # as each sweep worker runs
exp, sc = load_experiment(args["experiment"])
sweep = prepare(exp, sc, args["out"], resume=False)
run_task(sweep.tasks[0])  # warm: kernels loaded from the cache before timing
t0 = time.perf_counter()
for task in sweep.tasks[1:]:
    run_task(task)
print(json.dumps({"runs": len(sweep.tasks) - 1, "wall_s": time.perf_counter() - t0}))
"""


def sweep_overhead(runs: int, residents: int, days: int, rounds: int = 2) -> list[dict]:
    """A sweep over seeds against the same runs one after another in one warm process
    (one numba thread, as a sweep worker), and one worker against two: the sweep's
    overhead and its speed-up. The three are run in turn, `rounds` times (the machine
    drifts), and each one's median wall time is kept. Each side's first run is left out:
    the sequential process warms up on it, a sweep runs it in the calling process
    (`on_probe`: it warms the machine's kernel cache and times the estimate)."""
    import statistics
    import time

    from scslab.experiments.experiment import Experiment
    from scslab.experiments.spec import check_experiment
    from scslab.experiments.sweep import prepare, run_sweep

    exp = Experiment(
        name="bench-seeds",
        base="beijing-2018",
        seeds=list(range(1, runs + 2)),
        residents=residents,
        days=days,
        agents=False,
    )
    scenario = check_experiment(exp, exp.base, "bench")
    walls: dict[int, list[float]] = {0: [], 1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        exp_file = Path(tmp) / "seeds.yaml"
        exp_file.write_text(json.dumps(exp.model_dump(mode="json")))
        for k in range(rounds):
            args = {"experiment": str(exp_file), "out": str(Path(tmp) / f"seq{k}")}
            proc = subprocess.run(
                [sys.executable, "-c", SWEEP_SEQUENTIAL, json.dumps(args)],
                capture_output=True,
                text=True,
                check=True,
            )
            walls[0].append(json.loads(proc.stdout.strip().splitlines()[-1])["wall_s"])
            for workers in (1, 2):
                probed: list[float] = []  # the time the probe run ended

                def mark(row: dict, left: int, probed: list[float] = probed) -> None:
                    probed.append(time.perf_counter())

                sweep = prepare(exp, scenario, Path(tmp) / f"w{workers}-{k}", resume=False)
                run_sweep(sweep, workers, on_probe=mark)
                walls[workers].append(time.perf_counter() - probed[0])
    hows = {0: "one warm process", 1: "sweep, 1 workers", 2: "sweep, 2 workers"}
    rows = []
    for workers, times in walls.items():
        wall = statistics.median(times)
        rows.append(
            {
                "how": hows[workers],
                "workers": workers,
                "runs": runs,
                "rounds": rounds,
                "wall_s": round(wall, 2),
                "walls_s": " ".join(f"{t:.2f}" for t in times),
                "runs_per_hour": round(3600 * runs / wall, 1),
                "machine": machine(),
                "residents": residents,
                "days": days,
            }
        )
    rows[1]["overhead"] = round(rows[1]["wall_s"] / rows[0]["wall_s"] - 1, 3)
    rows[2]["speedup_vs_one_worker"] = round(rows[1]["wall_s"] / rows[2]["wall_s"], 2)
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "sweep.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        print(row)
    return rows


def main() -> None:
    """Command line of the benchmark harness."""
    global RESULTS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("scaling", help="time and memory against residents")
    s.add_argument("--scales", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    s.add_argument("--days", type=int, default=365)
    s.add_argument("--scenario", default="beijing-2018")
    s.add_argument("--engine", default="compiled", choices=["auto", "general", "compiled"])
    m = sub.add_parser("mesa", help="SCS-ref-1: scslab against Mesa")
    m.add_argument("--residents", type=int, nargs="+", default=[10_000, 100_000])
    m.add_argument("--days", type=int, default=365)
    m.add_argument("--mesa-days", type=int, nargs="+", default=[30], help="one, or one per size")
    m.add_argument("--repeats", type=int, default=3, help="scslab runs per size (median)")
    o = sub.add_parser("oracle", help="SCS-ref-1: scslab's daily counts against Mesa's")
    o.add_argument("--residents", type=int, default=10_000)
    o.add_argument("--days", type=int, default=365)
    o.add_argument("--seeds", type=int, default=20)
    c = sub.add_parser("compile", help="numba compile time, cold and cached")
    w = sub.add_parser("sweep", help="a sweep's overhead and its speed-up with 2 workers")
    w.add_argument("--runs", type=int, default=12)
    w.add_argument("--residents", type=int, default=20_000)
    w.add_argument("--days", type=int, default=180)
    w.add_argument("--rounds", type=int, default=2, help="the three in turn, this many times")
    for parser in (s, m, o, c, w):
        parser.add_argument("--results", type=Path, default=RESULTS, help="output folder")
    c.add_argument("--residents", type=int, default=2000)
    c.add_argument("--days", type=int, default=5)
    a = p.parse_args()
    RESULTS = a.results
    if a.what == "scaling":
        scaling(a.scales, a.days, a.scenario, a.engine)
    elif a.what == "mesa":
        mesa_ratio(a.residents, a.days, a.mesa_days, a.repeats)
    elif a.what == "oracle":
        oracle(a.residents, a.days, a.seeds)
    elif a.what == "sweep":
        sweep_overhead(a.runs, a.residents, a.days, a.rounds)
    else:
        compile_time(a.residents, a.days)


if __name__ == "__main__":
    main()
