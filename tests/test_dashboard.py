"""The dashboard: its helpers, and the app itself driven in headless Chromium.

Chromium is Debian's (/usr/bin/chromium). When it is missing the session installs it
with apt-get (this needs root); under CI=true a failed install fails the tests rather
than skipping them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from scslab import Simulation, load_scenario
from scslab.dashboard import (
    apply_edits,
    list_runs,
    live_figure,
    live_frame,
    new_run_dir,
    pick_resident,
    resident_history,
)
from scslab.scenario import ScenarioError
from tests.tiny_runs import tiny_runs

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"


# ------------------------------------------------------------------ helpers, no browser
def test_apply_edits_changes_removes_and_validates():
    base = load_scenario("beijing-2018")
    sc = apply_edits(
        base,
        {"departments.courts.coverage": 0.5, "lists.railway_misconduct.duration_days": 60},
        frozenset({"measures.rail_ban", "rewards.high_grade_priority"}),
    )
    assert sc.departments["courts"].coverage == 0.5
    assert sc.lists["railway_misconduct"].duration_days == 60
    assert "rail_ban" not in sc.measures and "high_grade_priority" not in sc.rewards
    assert base.departments["courts"].coverage == 0.95  # the original is untouched
    with pytest.raises(ScenarioError, match=r"departments\.courts\.coverage"):
        apply_edits(base, {"departments.courts.coverage": 1.5})
    with pytest.raises(ScenarioError, match="unknown key"):
        apply_edits(base, {"departments.courts.__class__": "x"})


def test_list_runs_and_new_run_dir(tmp_path):
    runs = tiny_runs()
    table = list_runs(runs["seed1"].parent)
    assert set(table["run"]) == {"seed1", "seed2", "noisy"}
    assert table["agents"].all() and not table["report"].any()
    assert set(table["residents"]) == {5000}
    first = new_run_dir(tmp_path, "x")
    first.mkdir()
    assert new_run_dir(tmp_path, "x") != first


def test_resident_history_reads_one_resident():
    run = tiny_runs()["seed1"]
    rid = pick_resident(run, "records")
    assert rid is not None
    attrs, records = resident_history(run, rid)
    assert attrs["id"] == rid
    assert len(records) == attrs["records"] > 0
    assert {"day", "department", "kind", "points", "erroneous"} <= set(records.columns)
    with pytest.raises(KeyError):
        resident_history(run, 10**9)


def test_live_frame_grows_with_the_days():
    sim = Simulation("beijing-2018", seed=3, residents=2000, days=6)
    seen = []
    sim.run(progress=lambda day, days: seen.append(len(live_frame(sim))))
    assert seen == [1, 2, 3, 4, 5, 6]
    frame = live_frame(sim)
    assert "residents" in frame and any(c.startswith("listed:") for c in frame)
    fig = live_figure(frame, 6)
    assert fig.get_suptitle() == "day 6 of 6"
    assert live_figure(None, 6).axes


# ------------------------------------------------------------------------ the browser
@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get when missing."""
    if not CHROMIUM.exists():
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        ok = (
            shutil.which("apt-get") is not None
            and subprocess.call(["apt-get", "update", "-q"], env=env) == 0
            and subprocess.call(["apt-get", "install", "-y", "-q", "chromium"], env=env) == 0
        )
        if not ok or not CHROMIUM.exists():
            message = "chromium is not installed and 'apt-get install chromium' failed"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard(tmp_path):
    """The app on a free 127.0.0.1 port, its results folder holding one past run."""
    runs = tmp_path / "runs"
    shutil.copytree(tiny_runs()["seed1"], runs / "seed1")
    port = _free_port()
    log = (tmp_path / "dashboard.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scslab.cli", "dashboard", "--port", str(port), "--runs", str(runs)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the server's children end with it
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dashboard exited: {(tmp_path / 'dashboard.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        pytest.fail("dashboard did not listen within 90 s")
    yield f"http://127.0.0.1:{port}/", runs
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


def test_dashboard_change_a_rule_run_and_see_the_plot_change(chromium, dashboard):
    from playwright.sync_api import sync_playwright

    url, runs = dashboard
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(url)
        run_button = page.get_by_role("button", name="Run", exact=True)
        run_button.wait_for(timeout=60_000)
        days = page.get_by_label("days", exact=True)
        days.fill("15")
        days.press("Enter")

        def run_and_wait() -> bytes:
            status = page.locator(".scslab-status")
            before = status.inner_text() if status.count() else ""
            run_button.click()
            page.wait_for_function(
                "prev => { const e = document.querySelector('.scslab-status');"
                " return e !== null && e.innerText.includes('finished: day 15 of 15')"
                " && e.innerText !== prev }",
                arg=before,
                timeout=120_000,
            )
            plot = page.locator(".scslab-overview-plot img")
            plot.wait_for(timeout=30_000)
            return plot.screenshot()

        before = run_and_wait()
        # opening controls changes nothing by itself (sliders must not snap values)
        page.get_by_text("Lists: durations and thresholds").click()
        page.get_by_text("days on the list: 1095").first.wait_for(timeout=10_000)
        page.wait_for_timeout(500)
        assert "0 setting(s) changed" in page.locator(".scslab-changes").inner_text()
        # change a rule: traffic police see every ticket (slider to its end)
        slider = page.locator(".scslab-department-traffic_police [role=slider]").first
        slider.scroll_into_view_if_needed()
        slider.focus()
        slider.press("End")
        page.get_by_text("departments.traffic_police.coverage = 1.0").wait_for(timeout=10_000)
        page.wait_for_timeout(500)
        after = run_and_wait()
        page.get_by_role("tab", name="Run", exact=True).scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
        assert before != after

        made = sorted(runs.glob("dashboard-beijing-2018-*"))
        assert len(made) == 2
        first, second = (yaml.safe_load((r / "scenario.yaml").read_text()) for r in made)
        assert first["departments"]["traffic_police"]["coverage"] == 0.4
        assert second["departments"]["traffic_police"]["coverage"] == 1.0
        manifest = json.loads((made[1] / "manifest.json").read_text())
        assert manifest["days"] == 15 and manifest["residents"] == 5000

        # past runs are listed and open with their report
        page.get_by_role("tab", name="Past runs").click()
        page.get_by_text("3 run(s) in").wait_for(timeout=10_000)
        page.get_by_label("Open run").click(force=True)
        page.get_by_role("option", name="seed1").click()
        page.locator(".scslab-past-plot img").wait_for(timeout=30_000)
        page.get_by_role("button", name="Make its report").click()
        report = page.frame_locator("iframe[title=report]")
        report.locator("section#disparate-impact svg").first.wait_for(timeout=60_000)
        assert (runs / "seed1" / "report.html").is_file()

        # a synthetic resident's history
        page.get_by_role("tab", name="Resident").click()
        page.get_by_role("button", name="one with records").click()
        page.get_by_text(re.compile(r"Synthetic resident [1-9]")).wait_for(timeout=10_000)
        page.get_by_text("department", exact=True).first.wait_for(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "dashboard-resident.png"))
        browser.close()
    assert failed == [], f"requests that failed (the app must work offline): {failed}"
