"""Stored-baseline regression: a small run must reproduce the stored figures exactly.

When a change alters results on purpose, regenerate the baseline and say why in the
commit message:  python -m tests.test_regression
"""

from __future__ import annotations

import json
from pathlib import Path

from scslab import Simulation

BASELINE = Path(__file__).parent / "baseline" / "beijing-2018-small.json"


def figures() -> dict[str, float]:
    """City totals of every metric over the run, and the last day's list sizes."""
    res = Simulation("beijing-2018", seed=1, residents=3000, days=60, agents=False).run()
    city = res.to_frame()
    out = {f"total:{k}": round(float(v), 3) for k, v in city.sum().items()}
    out.update({f"last:{k}": float(v) for k, v in city.iloc[-1].items() if ":" in k})
    return out


def test_matches_stored_baseline() -> None:
    stored = json.loads(BASELINE.read_text())
    now = figures()
    changed = {
        k: (stored.get(k), now.get(k))
        for k in stored.keys() | now.keys()
        if stored.get(k) != now.get(k)
    }
    assert not changed, f"results changed from the baseline: {dict(list(changed.items())[:10])}"
    assert stored["total:records_true:traffic_police"] > 0


if __name__ == "__main__":
    BASELINE.write_text(json.dumps(figures(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {BASELINE}")
