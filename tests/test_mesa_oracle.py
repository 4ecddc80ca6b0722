"""SCS-ref-1 in scslab against the idiomatic Mesa model (the correctness oracle)."""

from __future__ import annotations

import importlib.util

import numpy as np

from scslab import Simulation

from .conftest import BENCHMARKS

spec = importlib.util.spec_from_file_location("mesa_scs_ref1", BENCHMARKS / "mesa_scs_ref1.py")
assert spec is not None and spec.loader is not None
mesa_model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mesa_model)

N, DAYS, SEEDS = 2000, 200, range(6)


def test_daily_counts_agree_with_mesa() -> None:
    ours, theirs = [], []
    for seed in SEEDS:
        res = Simulation(BENCHMARKS / "scs-ref-1.yaml", seed=seed, residents=N, days=DAYS).run()
        city = res.to_frame()
        ours.append(city[["listed:blacklist", "listed:green_channel"]].to_numpy())
        theirs.append(mesa_model.run_mesa(N, DAYS, seed))
    a, b = np.stack(ours), np.stack(theirs)  # [seeds, days, 2]
    window = slice(DAYS // 2, DAYS)  # past the start-up transient
    for col in (0, 1):
        ma = a[:, window, col].mean(axis=1)
        mb = b[:, window, col].mean(axis=1)
        se = np.sqrt(ma.var(ddof=1) / len(ma) + mb.var(ddof=1) / len(mb))
        assert abs(ma.mean() - mb.mean()) < 4 * se + 1.0, (col, ma, mb)
        assert ma.mean() > 2  # the comparison means something
