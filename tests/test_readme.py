"""The README's examples run as written, in order, from a fresh clone.

Every ```bash block and the ```python block of README.md is run in its order in one
temporary directory that holds what a fresh clone has beside them (`benchmarks/`), with
`scslab` the command line of the package under test (`python -m scslab.cli`). Each
example makes what later ones read (runs/b18-s1, ...), so a README that reads a run it
never made fails here.

What runs differs from the README in one place, TEST_LINES below: the lines whose runs
are too large for a test (the same commands at a smaller scale) and the one that exits
1 by design; each must still be in the README. Lines that cannot run in a test are left
out (SKIPPED): installing the package (it is installed), the test command itself, and
`scslab dashboard`, which serves until stopped.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

TEST_LINES = {
    # the default run: 1% of the city for a year
    "pip install . && scslab run": "scslab run --residents 3000 --days 30",
    # 215,000 residents
    "scslab run my.yaml --scale 0.01 --days 180 --seed 7 --out runs/mine": (
        "scslab run my.yaml --scale 0.0002 --days 30 --seed 7 --out runs/mine"
    ),
    # 1% of the city for a year
    'res = scslab.Simulation("beijing-2018", seed=1, scale=0.01, days=365).run(out="runs/a")': (
        'res = scslab.Simulation("beijing-2018", seed=1, scale=0.0002, days=30).run(out="runs/a")'
    ),
    # 30 trials of three runs of 20,000 residents for a year
    "scslab calibrate examples/courts-2024.yaml --out runs/courts-2024": (
        "scslab calibrate examples/courts-2024.yaml --out runs/courts-2024 --trials 2"
    ),
    # --strict exits 1 where the rules hold a prohibited practice, as beijing-2018's do
    "scslab audit beijing-2018 --strict": "scslab audit beijing-2018 --strict || test $? -eq 1",
}
"""README line (without its comment) -> the line the test runs instead."""

SKIPPED = re.compile(r"pip install|pytest|^scslab dashboard")
"""Lines the test leaves out: installing, testing, serving until stopped."""

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def examples(text: str) -> list[tuple[str, int, str]]:
    """The README's ```bash and ```python blocks: (language, first line number, code)."""
    return [
        (m.group(1), text[: m.start()].count("\n") + 2, m.group(2))
        for m in FENCE.finditer(text)
        if m.group(1) in ("bash", "python")
    ]


def code_of(line: str) -> str:
    """A line without its trailing comment (two spaces and a #) or surrounding blanks."""
    return re.split(r"\s{2,}#", line, maxsplit=1)[0].strip()


def as_tested(code: str) -> str:
    """A block with TEST_LINES substituted and SKIPPED lines left out."""
    out = []
    for line in code.splitlines():
        bare = code_of(line)
        if bare in TEST_LINES:
            out.append(TEST_LINES[bare])
        elif SKIPPED.search(bare):
            out.append(f": skipped in the test: {bare!r}")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def test_readme_lists_the_lines_the_test_changes() -> None:
    """Every substituted line is in the README as written (or the test would skip it)."""
    lines = {
        code_of(line) for _, _, code in examples(README.read_text()) for line in code.split("\n")
    }
    assert set(TEST_LINES) <= lines, set(TEST_LINES) - lines
    langs = [lang for lang, _, _ in examples(README.read_text())]
    assert langs.count("python") == 1 and langs.count("bash") >= 4


@pytest.mark.slow
def test_readme_examples_run_in_order(tmp_path: Path) -> None:
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("COLUMNS", None)
    prelude = f'set -euo pipefail\nscslab() {{ "{sys.executable}" -m scslab.cli "$@"; }}\n'
    for k, (lang, first, code) in enumerate(examples(README.read_text())):
        if lang == "python":
            script = tmp_path / f"readme_{k}.py"
            script.write_text(as_tested(code))
            cmd = [sys.executable, str(script)]
        else:
            cmd = ["bash", "-c", prelude + as_tested(code)]
        proc = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, (
            f"README.md line {first} ({lang}) exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        assert "Traceback" not in proc.stderr, proc.stderr
    for made in ("my.yaml", "compare.html", "seeds.html", "runs/base/report.html"):
        assert (tmp_path / made).is_file(), made
    assert (tmp_path / "runs/b18/s1/audit.json").is_file()
    assert (tmp_path / "runs/morris/indices.png").is_file()
    assert (tmp_path / "runs/courts-2024/best.yaml").is_file()
    assert (tmp_path / "runs/fitted/manifest.json").is_file()
