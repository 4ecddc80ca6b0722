"""The dashboard: its helpers, its parts rendered without a browser, its server over plain
HTTP, and the app itself driven in headless Chromium.

Chromium is Debian's (/usr/bin/chromium), installed by `scripts/install-test-browser`
(the README's test command runs it); these tests install nothing. Where Chromium cannot
run the browser test skips and says why; under CI=true it fails instead.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from scslab import Simulation, load_scenario
from scslab.cli import app as cli_app
from scslab.presentation import dashboard, dashdata, dashserver
from scslab.presentation.dashdata import (
    PathRefused,
    list_runs,
    live_figure,
    live_frame,
    new_run_dir,
    pick_resident,
    report_path,
    resident_history,
    run_path,
    scenario_path,
)
from scslab.scenario.safeyaml import ScenarioError
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
def test_edits_change_remove_and_validate():
    """The app's edits and removals, as its run panel applies them to the scenario."""
    base = load_scenario("beijing-2018")
    sc = base.with_changes(
        {"departments.courts.coverage": 0.5, "lists.railway_misconduct.duration_days": 60},
        frozenset({"measures.rail_ban", "rewards.high_grade_priority"}),
        source="dashboard",
    )
    assert sc.departments["courts"].coverage == 0.5
    assert sc.lists["railway_misconduct"].duration_days == 60
    assert "rail_ban" not in sc.measures and "high_grade_priority" not in sc.rewards
    assert base.departments["courts"].coverage == 0.95  # the original is untouched
    with pytest.raises(ScenarioError, match=r"^dashboard: departments\.courts\.coverage"):
        base.with_changes({"departments.courts.coverage": 1.5}, source="dashboard")
    with pytest.raises(ScenarioError, match="unknown key"):
        base.with_changes({"departments.courts.__class__": "x"}, source="dashboard")


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


# ------------------------------------------------------------------ paths it may open
def _fake_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    return folder


def test_run_path_opens_only_runs_in_the_results_folder(tmp_path):
    runs = tmp_path / "runs"
    good = _fake_run(runs / "good")
    outside = _fake_run(tmp_path / "outside")
    (runs / "link").symlink_to(outside)
    assert run_path(runs, "good") == good.resolve()
    for name in ("../outside", str(outside), "link", "good/..", "missing", "good/../../outside"):
        with pytest.raises(PathRefused, match=r"not a run directory in .*--runs"):
            run_path(runs, name)
    (outside / "report.html").write_text("theirs")
    (good / "report.html").symlink_to(outside / "report.html")
    with pytest.raises(PathRefused, match="leads out of the run directory"):
        report_path(good)


def test_scenario_path_opens_only_files_named_on_the_command_line(tmp_path, monkeypatch):
    named = tmp_path / "mine.yaml"
    named.write_text(load_scenario("beijing-2018").model_dump_json())
    other = tmp_path / "other.yaml"
    other.write_text("x: 1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "alias.yaml").symlink_to(other)
    monkeypatch.setenv(dashdata.SCENARIOS_ENV, str(named.resolve()))
    assert scenario_path(str(tmp_path / "sub" / ".." / "mine.yaml")) == named.resolve()
    for path in (str(other), str(tmp_path / "sub" / "alias.yaml"), "/etc/passwd", "mine.yaml"):
        with pytest.raises(PathRefused, match="not a scenario file named on the command line"):
            scenario_path(path)


# ------------------------------------------------- the app's parts, rendered without a browser
@pytest.fixture
def app_state(tmp_path, monkeypatch):
    """The app's shared state reset, its results folder a fresh tmp_path/runs."""
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv(dashdata.RUNS_ENV, str(runs))
    monkeypatch.setenv(dashdata.SCENARIOS_ENV, "")
    for var, value in (
        (dashboard.loaded, None),
        (dashboard.load_message, ""),
        (dashboard.chosen_run, ""),
        (dashboard.report_html, ""),
        (dashboard.resident_id, 0),
        (dashboard.pick_message, ""),
    ):
        var.set(value)
    return runs


def _texts(rc) -> str:
    import ipyvuetify as v

    return " ".join(str(w.children) for w in rc.find(v.Alert).widgets)


def test_the_app_refuses_a_yaml_path_not_named_on_the_command_line(app_state, tmp_path):
    import ipyvuetify as v
    import solara

    secret = tmp_path / "secret.yaml"
    secret.write_text("name: secret\n")
    _, rc = solara.render(dashboard.ScenarioPicker(), handle_error=False)
    field = rc.find(v.TextField, label=dashboard.PATH_LABEL).widget
    field.v_model = str(secret)
    field.fire_event("keyup.enter", None)
    assert "not a scenario file named on the command line" in dashboard.load_message.value
    assert "not a scenario file named on the command line" in _texts(rc)
    assert dashboard.loaded.value is None


def test_the_app_opens_a_scenario_named_on_the_command_line(app_state, tmp_path, monkeypatch):
    import ipyvuetify as v
    import solara

    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({**load_scenario("rongcheng").model_dump(mode="json")}))
    monkeypatch.setenv(dashdata.SCENARIOS_ENV, str(mine.resolve()))
    _, rc = solara.render(dashboard.ScenarioPicker(), handle_error=False)
    field = rc.find(v.TextField, label=dashboard.PATH_LABEL).widget
    field.v_model = str(mine)
    field.fire_event("keyup.enter", None)
    assert dashboard.loaded.value is not None and dashboard.loaded.value.name == "rongcheng"


def test_the_app_opens_no_run_outside_its_results_folder(app_state, tmp_path):
    import ipyvuetify as v
    import solara

    shutil.copytree(tiny_runs()["seed1"], app_state / "seed1")
    outside = tmp_path / "outside"
    shutil.copytree(tiny_runs()["seed2"], outside)
    dashboard.chosen_run.set("../outside")  # what a client can send for the Select's value
    _, rc = solara.render(dashboard.PastRuns(), handle_error=False)
    assert "not a run directory in" in _texts(rc)
    assert not rc.find(v.Btn, children=["Make its report"]).widgets
    assert not (outside / "report.html").exists()


def test_the_app_neither_reads_nor_writes_a_report_out_of_its_run(app_state, tmp_path):
    import ipyvuetify as v
    import solara

    run = app_state / "seed1"
    shutil.copytree(tiny_runs()["seed1"], run)
    theirs = tmp_path / "theirs.html"
    theirs.write_text("<p>a file of the user's</p>")
    (run / "report.html").symlink_to(theirs)
    dashboard.chosen_run.set("seed1")
    _, rc = solara.render(dashboard.PastRuns(), handle_error=False)
    rc.find(v.Btn, children=["Show its report"]).widget.click()
    deadline = time.monotonic() + 30
    while "leads out of the run directory" not in _texts(rc):
        assert time.monotonic() < deadline, _texts(rc)
        time.sleep(0.1)
    assert dashboard.report_html.value == ""
    assert theirs.read_text() == "<p>a file of the user's</p>"


def test_a_pick_that_finds_nobody_says_so(app_state):
    import ipyvuetify as v
    import solara

    run = app_state / "seed1"
    shutil.copytree(tiny_runs()["seed1"], run)
    table = pq.read_table(run / "residents.parquet")
    for i, name in enumerate(table.column_names):
        if name.startswith("wrongful_"):
            column = table.column(i)
            zeros = pa.array([0] * len(column)).cast(column.type)  # nobody wronged
            table = table.set_column(i, name, zeros)
    pq.write_table(table, run / "residents.parquet")
    _, rc = solara.render(dashboard.ResidentLookup(), handle_error=False)
    rc.find(v.Btn, children=["a wrongly listed one"]).widget.click()
    assert "no resident was wrongly listed" in _texts(rc) and "seed1" in _texts(rc)
    rc.find(v.Btn, children=["one with records"]).widget.click()
    assert "no resident" not in _texts(rc)
    assert dashboard.resident_id.value == pick_resident(run, "records")


# ----------------------------------------------------------- the server, over plain HTTP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], port: int, log_path: Path) -> subprocess.Popen:
    """Start a dashboard server and wait until it listens on 127.0.0.1:port."""
    log = log_path.open("w")
    proc = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the server's children end with it
    )
    log.close()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dashboard exited: {log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.3)
    _stop(proc)
    pytest.fail("dashboard did not listen within 90 s")


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _cli_dashboard(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, int, Path]:
    port = _free_port()
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "scslab.cli", "dashboard", "--port", str(port)]
    proc = _start([*cmd, "--runs", str(runs), *extra], port, tmp_path / "dashboard.log")
    return proc, port, runs


def _get(port: int, host: str, path: str = "/", **headers: str) -> tuple[int, str]:
    """A plain GET to 127.0.0.1:port with the given Host header: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host, **headers})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _websocket(port: int, origin: str, kernel: str | None = None) -> int:
    """The status of a websocket upgrade for a session (kernel) sent with this Origin."""
    path = f"/jupyter/api/kernels/{kernel or uuid.uuid4()}/channels?session_id={uuid.uuid4()}"
    headers = {
        "Host": f"127.0.0.1:{port}",
        "Origin": origin,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    return _get(port, headers.pop("Host"), path, **headers)[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`scslab dashboard` on a free port: (port, its log file)."""
    tmp_path = tmp_path_factory.mktemp("server")
    proc, port, _ = _cli_dashboard(tmp_path)
    yield port, tmp_path / "dashboard.log"
    _stop(proc)


def test_the_server_answers_only_its_own_address(server):
    port, _ = server
    assert _get(port, f"127.0.0.1:{port}")[0] == 200
    assert _get(port, f"localhost:{port}")[0] == 200
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", ""):
        status, body = _get(port, host)  # DNS rebinding: another name for this address
        assert status == 403 and "refused: Host" in body, host
    status, _ = _get(port, f"127.0.0.1:{port}", "/static/assets/style.css")
    assert status in (200, 404)


def test_the_server_refuses_other_sites_pages_and_websockets(server):
    port, _ = server
    evil = "http://evil.example"
    status, body = _get(port, f"127.0.0.1:{port}", Origin=evil)
    assert status == 403 and "may not use this dashboard" in body
    assert _websocket(port, evil) == 403  # a cross-site websocket
    assert _websocket(port, f"http://localhost:{port + 1}") == 403
    assert _websocket(port, f"http://127.0.0.1:{port}") == 101


def test_a_page_load_prints_no_samesite_warning(server):
    port, log = server
    assert _get(port, f"127.0.0.1:{port}")[0] == 200
    time.sleep(0.5)
    assert "samesite" not in log.read_text().lower()


def test_disconnected_sessions_are_culled_and_sessions_capped(tmp_path):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    port = _free_port()
    code = (
        "from scslab.presentation.dashserver import serve; "
        f"serve({port}, {str(tmp_path / 'runs')!r}, cull_after_s=1, max_sessions=2)"
    )
    proc = _start([sys.executable, "-c", code], port, tmp_path / "dashboard.log")
    origin = f"http://127.0.0.1:{port}"

    def session() -> Any:
        url = f"ws://127.0.0.1:{port}/jupyter/api/kernels/{uuid.uuid4()}/channels"
        return connect(f"{url}?session_id={uuid.uuid4()}", origin=origin, open_timeout=30)

    def try_session() -> Any:
        try:
            return session()
        except InvalidStatus:
            return None

    try:
        with ThreadPoolExecutor(6) as pool:  # six pages at once: two get a session
            opened = list(pool.map(lambda _: try_session(), range(6)))
        kept = [ws for ws in opened if ws is not None]
        assert len(kept) == 2
        with kept[0], kept[1]:
            status, body = _get(port, f"127.0.0.1:{port}")
            assert status == 503 and "2 sessions open" in body
            with pytest.raises(InvalidStatus), session():
                pass
        deadline = time.monotonic() + 20  # both disconnected: culled 1 s later
        while _get(port, f"127.0.0.1:{port}")[0] != 200:
            assert time.monotonic() < deadline, "disconnected sessions were not culled"
            time.sleep(0.2)
        with session():
            pass
    finally:
        _stop(proc)


@pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")
def test_scslab_dashboard_serves_with_culling_and_a_cap(tmp_path, monkeypatch):
    """What `scslab dashboard` sets up before serving (the server itself not started)."""
    import solara.util
    import uvicorn
    from solara.server import settings

    for name in (dashdata.RUNS_ENV, dashdata.SCENARIOS_ENV, "SOLARA_APP"):
        monkeypatch.setenv(name, "")
    monkeypatch.setattr(settings.kernel, "cull_timeout", settings.kernel.cull_timeout)
    monkeypatch.setattr(settings.main, "mode", settings.main.mode)
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump(load_scenario("rongcheng").model_dump(mode="json")))
    result = CliRunner().invoke(
        cli_app, ["dashboard", "--port", "8790", "--runs", str(tmp_path), "--scenario", str(mine)]
    )
    assert result.exit_code == 0, result.output
    assert served["host"] == "127.0.0.1" and served["port"] == 8790
    app = served["app"]
    assert isinstance(app, dashserver.LocalOnly) and app.max_sessions == dashserver.MAX_SESSIONS
    assert app.hosts == {"127.0.0.1:8790", "localhost:8790"}
    assert solara.util.parse_timedelta(settings.kernel.cull_timeout) == dashserver.CULL_AFTER_S
    assert dashserver.CULL_AFTER_S <= 600 and settings.main.mode == "production"
    assert dashdata.named_scenarios() == [mine.resolve()]


def test_scslab_dashboard_on_a_taken_port_says_so_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli_app, ["dashboard", "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_scslab_dashboard_checks_its_scenario_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("days: -1\n")
    for path, said in ((tmp_path / "missing.yaml", "no such file"), (bad, "bad.yaml")):
        result = CliRunner().invoke(cli_app, ["dashboard", "--scenario", str(path)])
        assert result.exit_code == 2 and said in result.output, result.output


# ------------------------------------------------------------------------ the browser
@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, as `scripts/install-test-browser` installs it.

    Where it is missing or does not start the browser test skips and says why; under
    CI=true it fails instead.
    """
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing: run `bash scripts/install-test-browser`"
    elif subprocess.run([CHROMIUM, "--version"], capture_output=True, timeout=60).returncode:
        problem = f"{CHROMIUM} --version fails: Chromium cannot run here"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is missing: python3 -m pip install -e '.[test]'"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    return CHROMIUM


@pytest.fixture
def dashboard_page(tmp_path):
    """The app on a free 127.0.0.1 port, its results folder holding one past run."""
    runs = tmp_path / "runs"
    shutil.copytree(tiny_runs()["seed1"], runs / "seed1")
    proc, port, _ = _cli_dashboard(tmp_path)
    yield f"http://127.0.0.1:{port}/", runs
    _stop(proc)


def test_dashboard_change_a_rule_run_and_see_the_plot_change(chromium, dashboard_page):
    from playwright.sync_api import sync_playwright

    url, runs = dashboard_page
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


def test_the_test_command_installs_in_plain_sight_and_the_tests_install_nothing():
    root = Path(__file__).parent.parent
    command = (
        'python3 -m pip install -q -e ".[test]" && bash scripts/install-test-browser '
        "&& python3 -m pytest -q"
    )
    assert command in (root / "README.md").read_text("utf-8")
    assert command in (root / ".ci" / "run").read_text("utf-8").splitlines()
    assert (root / "scripts" / "install-test-browser").is_file()
    installer = "apt" + "-get"
    assert [p.name for p in root.joinpath("tests").glob("*.py") if installer in p.read_text()] == []
