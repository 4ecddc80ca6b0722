"""The dashboard: a Solara web app to change the rules, run a small city and look at it.

Start it with `scslab dashboard` (http://127.0.0.1:8765, this machine only). It lets a
user pick a built-in scenario or a YAML file named on the command line, change the main
rules (department coverage and error rates, list durations and thresholds, which
measures and rewards are on, behaviour and due-process settings present in the schema),
run a small synthetic city in a background thread with plots that update as the days go,
browse past runs in the results folder and open their reports, and look up a synthetic
resident's history.

Scenarios are changed as data: the resolved scenario is dumped to a dict, edited and
validated again (`Scenario.with_changes`, source "dashboard"); nothing typed in the app is
ever evaluated as code.
Large runs are read from their run directories (metrics and single rows of the agent
tables), never simulated or held whole in the app.

This module is the app: its state and its components, down to `Page`. What it reads and
writes apart from Solara, and which files it may open, is in
`scslab.presentation.dashdata`; the server, which answers only this machine's pages, in
`scslab.presentation.dashserver`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel

from scslab.presentation import plots
from scslab.presentation.dashdata import (
    PICKS,
    PathRefused,
    figure_png,
    list_runs,
    live_figure,
    live_frame,
    named_scenarios,
    new_run_dir,
    pick_resident,
    report_path,
    resident_history,
    run_path,
    runs_dir,
    scenario_path,
)
from scslab.presentation.variants import variants
from scslab.rundir.results import Results
from scslab.rundir.run import Simulation
from scslab.scenario.loader import builtin_names, load_scenario, parse_scenario
from scslab.scenario.safeyaml import ScenarioError
from scslab.scenario.schema import Scenario

PATH_LABEL = "…or a scenario file named with --scenario (path, Enter)"
"""The label of the field where a scenario file's path is typed."""
MAX_RESIDENTS = 200_000
"""Largest city the app simulates itself; bigger runs belong to `scslab run`."""
LIVE_EVERY_S = 1.0
"""Seconds between redraws of the live plot while a run goes."""
CORE_FIELDS = {
    "name",
    "description",
    "days",
    "population",
    "departments",
    "scoring",
    "corporate_scoring",
    "lists",
    "measures",
    "rewards",
    "activities",
    "behaviour",
}
"""Top-level scenario keys with their own controls; any other sub-model (such as due
process safeguards) gets generic controls."""


# ------------------------------------------------------------------- pure helpers


@lru_cache(maxsize=16)
def _builtin(name: str) -> Scenario:
    """A built-in scenario, parsed once (scenarios are immutable)."""
    return load_scenario(name)


# -------------------------------------------------------------------------- the app
try:
    import solara
    import solara.lab
except ImportError:  # the plotting helpers above work without the dashboard extra
    solara = None  # type: ignore[assignment]

if solara is not None:
    base_name = solara.reactive("beijing-2018")
    loaded: solara.Reactive[Scenario | None] = solara.reactive(None)  # from a file
    load_message = solara.reactive("")
    edits: solara.Reactive[dict[str, Any]] = solara.reactive({})
    removed: solara.Reactive[frozenset[str]] = solara.reactive(frozenset())
    residents = solara.reactive(5_000)
    days = solara.reactive(90)
    seed = solara.reactive(1)
    live = solara.reactive(None)  # DataFrame of the running simulation
    finished_run = solara.reactive("")  # run directory of the last finished run
    chosen_run = solara.reactive("")
    report_html = solara.reactive("")
    resident_id = solara.reactive(0)
    pick_message = solara.reactive("")  # why a pick button found nobody

    refresh = solara.reactive(0)  # bumped to re-read the results folder

    def base_scenario() -> Scenario:
        """The scenario being edited: the loaded file, or the chosen built-in."""
        return loaded.value if loaded.value is not None else _builtin(base_name.value)

    @solara.component
    def Plot(draw: Callable[[], Figure], dependencies: list[Any], classes: list[str]) -> None:
        """A figure as a PNG, drawn again only when its dependencies change."""
        png = solara.use_memo(lambda: figure_png(draw()), dependencies)
        with solara.Div(classes=classes):
            solara.Image(png)

    def _runs_table() -> pd.DataFrame:
        folder = runs_dir()
        return list_runs(folder) if folder.is_dir() else list_runs(Path(os.devnull))

    def set_edit(key: str, value: Any) -> None:
        """Record one changed setting."""
        edits.set({**edits.value, key: value})

    def set_from_slider(key: str, base: float, step: float, value: float) -> None:
        """Record a slider's new value, but not the slider snapping a value to its grid."""
        if key in edits.value or abs(value - base) > step / 2 + 1e-9:
            set_edit(key, value)

    def toggle(key: str, on: bool) -> None:
        """Switch a measure or reward on (keep) or off (remove)."""
        removed.set(removed.value - {key} if on else removed.value | {key})

    @solara.lab.task
    def run_simulation(scenario: Scenario, n: int, d: int, s: int, out: str) -> str:
        """Simulate in a background thread; publish live metrics every few days."""
        import numba

        numba.set_num_threads(1)  # this thread only: a small city; the app keeps a core
        sim = Simulation(scenario, seed=s, residents=n, days=d)
        last = [0.0]

        def progress(day: int, total: int) -> None:
            if not run_simulation.is_current():
                raise solara.util.CancelledError()
            now = time.monotonic()
            if now - last[0] >= LIVE_EVERY_S or day == total:  # redrawing costs time
                last[0] = now
                run_simulation.progress = 100.0 * day / total
                live.set(live_frame(sim))

        sim.run(out=out, progress=progress)
        finished_run.set(out)
        return out

    @solara.lab.task
    def make_report(run: str) -> str:
        """Write (if missing) and read a run's report.html, in a background thread."""
        from scslab.presentation.report import load_for_report, write_report

        page = report_path(run_path(runs_dir(), Path(run).name))
        if not page.is_file():
            write_report(load_for_report(run), page)
        report_html.set(page.read_text("utf-8"))
        return str(page)

    @solara.component
    def ScenarioPicker() -> None:
        """Choose a built-in scenario or load a YAML file."""

        def choose(name: str) -> None:
            base_name.set(name)
            loaded.set(None)
            edits.set({})
            removed.set(frozenset())

        def load_text(text: str, source: str) -> None:
            try:
                sc = parse_scenario(text, source)
            except ScenarioError as err:
                load_message.set(f"error: {err}")
                return
            loaded.set(sc)
            edits.set({})
            removed.set(frozenset())
            load_message.set(f"loaded {source}: scenario '{sc.name}'")

        def load_path(path: str | None) -> None:
            if not path:
                return
            try:
                p = scenario_path(path)
                text = p.read_text("utf-8")
            except PathRefused as err:
                load_message.set(f"error: {err}")
                return
            except (OSError, UnicodeDecodeError) as err:
                load_message.set(f"error: {path}: cannot be read ({err})")
                return
            load_text(text, str(p))

        solara.Select("Built-in scenario", builtin_names(), base_name.value, on_value=choose)
        files = [str(p) for p in named_scenarios()]
        if files:
            solara.Select("…or a scenario file named with --scenario", files, on_value=load_path)
        solara.InputText(PATH_LABEL, on_value=load_path)
        solara.FileDrop(
            "…or drop a YAML file here",
            on_file=lambda f: load_text(f["data"].decode("utf-8"), f["name"]),
            lazy=False,
        )
        if load_message.value:
            if load_message.value.startswith("error"):
                solara.Error(load_message.value, dense=True)
            else:
                solara.Success(load_message.value, dense=True)

    def _value(key: str, current: Any) -> Any:
        return edits.value.get(key, current)

    def _is_probability(model: type[BaseModel], field: str) -> bool:
        info = model.model_fields[field]
        return any(getattr(m, "le", None) == 1 for m in info.metadata)

    @solara.component
    def ModelControls(prefix: str, model: BaseModel) -> None:
        """Generic controls for the scalar settings of a part of the scenario."""
        cls = type(model)
        for field in cls.model_fields:
            value = getattr(model, field)
            key = f"{prefix}.{field}"
            label = field.replace("_", " ")
            if isinstance(value, bool):
                solara.Switch(
                    label=label,
                    value=_value(key, value),
                    on_value=partial(set_edit, key),
                )
            elif isinstance(value, float) and _is_probability(cls, field):
                current = _value(key, value)
                solara.SliderFloat(
                    f"{label} {current:.2f}",
                    value=current,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    on_value=partial(set_from_slider, key, value, 0.01),
                )
            elif isinstance(value, int):
                solara.InputInt(label, value=_value(key, value), on_value=partial(set_edit, key))
            elif isinstance(value, float):
                solara.InputFloat(label, value=_value(key, value), on_value=partial(set_edit, key))

    @solara.component
    def RuleControls() -> None:
        """Sliders and switches for the main rules of the scenario being edited."""
        sc = base_scenario()
        with solara.Details("Departments: coverage and error rates", expand=True):
            for name, dep in sc.departments.items():
                if not dep.records:
                    continue
                with solara.Div(classes=[f"scslab-department-{name}"]):
                    solara.Text(name.replace("_", " "), style={"font-weight": "600"})
                    for field in ("coverage", "error_rate"):
                        key = f"departments.{name}.{field}"
                        base = getattr(dep, field)
                        current = _value(key, base)
                        solara.SliderFloat(
                            f"{field.replace('_', ' ')} {current:.3g}",
                            value=current,
                            min=0.0,
                            max=1.0 if field == "coverage" else max(0.3, base),
                            step=0.01,
                            on_value=partial(set_from_slider, key, base, 0.01),
                        )
        with solara.Details("Lists: durations and thresholds"):
            grades = [g.name for g in sc.scoring.grades] if sc.scoring else []
            for name, rule in sc.lists.items():
                solara.Text(f"{name.replace('_', ' ')} ({rule.kind})", style={"font-weight": "600"})
                if rule.duration_days is not None:
                    key = f"lists.{name}.duration_days"
                    current = _value(key, rule.duration_days)
                    solara.SliderInt(
                        f"days on the list: {current}",
                        value=current,
                        min=1,
                        max=max(3650, rule.duration_days),
                        step=1,
                        on_value=partial(set_from_slider, key, rule.duration_days, 1),
                    )
                trig = rule.trigger
                for field in ("grade_at_most", "grade_at_least"):
                    current = getattr(trig, field)
                    if current is not None and grades and rule.subject == "resident":
                        key = f"lists.{name}.trigger.{field}"
                        solara.Select(
                            field.replace("_", " "),
                            grades,
                            _value(key, current),
                            on_value=partial(set_edit, key),
                        )
                for field in ("score_below", "score_at_least"):
                    current = getattr(trig, field)
                    if current is not None:
                        key = f"lists.{name}.trigger.{field}"
                        solara.InputFloat(
                            field.replace("_", " ") + " (points)",
                            value=_value(key, current),
                            on_value=partial(set_edit, key),
                        )
        with solara.Details("Measures and rewards: which are on"):
            for group, items in (("measures", sc.measures), ("rewards", sc.rewards)):
                for name in items:
                    key = f"{group}.{name}"
                    solara.Switch(
                        label=name.replace("_", " "),
                        value=key not in removed.value,
                        on_value=partial(toggle, key),
                    )
        with solara.Details("Behaviour"):
            ModelControls("behaviour", sc.behaviour)
        for field in type(sc).model_fields:
            if field in CORE_FIELDS:
                continue
            part = getattr(sc, field)
            with solara.Details(field.replace("_", " ").capitalize()):
                if isinstance(part, BaseModel):
                    ModelControls(field, part)
                else:
                    solara.Text(f"{field}: {part!r} (edit it in the YAML file)")

    @solara.component
    def RunPanel() -> None:
        """Size of the city, the Run button, progress and the live plot."""

        def edited() -> tuple[Scenario | None, str]:
            try:
                return (
                    base_scenario().with_changes(edits.value, removed.value, source="dashboard"),
                    "",
                )
            except ScenarioError as err:
                return None, str(err)

        scenario, problem = solara.use_memo(
            edited, [base_name.value, id(loaded.value), edits.value, removed.value]
        )

        def start() -> None:
            if scenario is None:
                return
            out = new_run_dir(runs_dir(), scenario.name)
            live.set(None)
            finished_run.set("")
            run_simulation(scenario, residents.value, days.value, seed.value, str(out))

        with solara.Row():
            solara.InputInt("residents", value=residents, continuous_update=False)
            solara.InputInt("days", value=days, continuous_update=False)
            solara.InputInt("seed", value=seed, continuous_update=False)
        changes = [f"{k} = {v}" for k, v in edits.value.items()]
        changes += [f"{k} off" for k in sorted(removed.value)]
        solara.Text(
            f"{scenario.name if scenario else '?'}: {len(changes)} setting(s) changed from the "
            f"{'file' if loaded.value is not None else 'built-in'}"
            + (": " + "; ".join(changes) if changes else "."),
            classes=["scslab-changes"],
        )
        bad_size = not 100 <= residents.value <= MAX_RESIDENTS or not 1 <= days.value <= 3650
        if bad_size:
            solara.Warning(
                f"residents must be 100..{MAX_RESIDENTS:,} and days 1..3650 here; "
                "run bigger cities with `scslab run` and browse them under Past runs.",
                dense=True,
            )
        if problem:
            solara.Error(problem, dense=True)
        with solara.Row():
            solara.Button(
                "Run",
                on_click=start,
                color="primary",
                disabled=scenario is None or bad_size or run_simulation.pending,
            )
            if run_simulation.pending:
                solara.Button("Stop", on_click=run_simulation.cancel, outlined=True)
        if run_simulation.pending:
            pct = run_simulation.progress or 0.0
            solara.ProgressLinear(pct)
            done = round(pct * days.value / 100)
            solara.Text(f"running: day {done} of {days.value}", classes=["scslab-status"])
        elif run_simulation.error:
            solara.Error(f"the run failed: {run_simulation.exception}")
        elif finished_run.value:
            n_done = len(live.value) if live.value is not None else 0
            solara.Success(
                f"finished: day {n_done} of {n_done}; results in {finished_run.value}",
                classes=["scslab-status"],
            )
        frame = live.value
        Plot(
            lambda: live_figure(frame, days.value),
            [id(frame), days.value],
            ["scslab-live-plot"],
        )
        run = finished_run.value
        if run and not run_simulation.pending:
            Plot(lambda: plots.overview(_load_light(run)), [run], ["scslab-overview-plot"])

    def _load_light(run: str) -> Results:
        from scslab.presentation.report import load_for_report

        return load_for_report(run)

    @solara.component
    def PastRuns() -> None:
        """Browse the runs in the results folder; show a run's figures and its report."""
        folder = runs_dir()
        table = solara.use_memo(_runs_table, [finished_run.value, refresh.value])
        with solara.Row():
            solara.Text(f"{len(table)} run(s) in {folder}", classes=["scslab-runs-count"])
            solara.Button("Refresh", on_click=lambda: refresh.set(refresh.value + 1), text=True)
        if table.empty:
            return
        solara.DataFrame(table, items_per_page=10)

        def choose(name: str) -> None:
            chosen_run.set(name)
            report_html.set("")

        solara.Select("Open run", list(table["run"]), chosen_run.value or None, on_value=choose)
        if chosen_run.value:
            try:
                run = run_path(folder, chosen_run.value)
            except PathRefused as err:
                solara.Error(str(err), dense=True)
                return
            RunDetails(str(run))

    @solara.component
    def RunDetails(run: str) -> None:
        """One past run: key figures, the overview plot and its report."""
        from scslab.presentation.reportsections import key_figures

        results = solara.use_memo(lambda: _load_light(run), [run])
        solara.DataFrame(key_figures(variants(results)), items_per_page=20)
        Plot(lambda: plots.overview(results), [run], ["scslab-past-plot"])
        solara.Button(
            "Show its report" if (Path(run) / "report.html").is_file() else "Make its report",
            on_click=lambda: make_report(run),
            disabled=make_report.pending,
        )
        if make_report.pending:
            solara.ProgressLinear(True)
        elif make_report.error:
            solara.Error(f"no report: {make_report.exception}", dense=True)
        if report_html.value:
            solara.Text(f"report: {Path(run) / 'report.html'}")
            solara.HTML(
                tag="iframe",
                attributes={"srcdoc": report_html.value, "title": "report"},
                style="width:100%;height:80vh;border:1px solid #ccc",
            )

    @solara.component
    def ResidentLookup() -> None:
        """Look up one synthetic resident's attributes, lists and records."""
        folder = runs_dir()
        table = solara.use_memo(_runs_table, [finished_run.value, refresh.value])
        with_agents = list(table.loc[table["agents"].astype(bool), "run"])
        if not with_agents:
            solara.Info("No run with per-agent tables yet: press Run (or `scslab run`).")
            return
        name = chosen_run.value if chosen_run.value in with_agents else with_agents[0]
        solara.Select("Run", with_agents, name, on_value=chosen_run.set)
        try:
            run = run_path(folder, name)
        except PathRefused as err:
            solara.Error(str(err), dense=True)
            return
        with solara.Row():
            solara.InputInt("synthetic resident id", value=resident_id)
            for how, (label, nobody) in PICKS.items():

                def pick(how: str = how, nobody: str = nobody) -> None:
                    rid = pick_resident(run, how)
                    pick_message.set("" if rid is not None else f"{nobody} in {run.name}.")
                    if rid is not None:
                        resident_id.set(rid)

                solara.Button(label, on_click=pick, text=True)
        if pick_message.value:
            solara.Info(pick_message.value, dense=True, classes=["scslab-pick-message"])
        try:
            attrs, records = resident_history(run, resident_id.value)
        except KeyError as err:
            solara.Warning(str(err.args[0]))
            return
        lists = [k[3:] for k, v in attrs.items() if k.startswith("on_") and v]
        wrong = [k[9:] for k, v in attrs.items() if k.startswith("wrongful_") and v]
        summary = (
            f"Synthetic resident {resident_id.value}: {attrs.get('age_band')}, "
            f"{attrs.get('hukou')} hukou, {attrs.get('district')}, income decile "
            f"{attrs.get('income_decile')}. Score {attrs.get('score', '–')} "
            f"(grade {attrs.get('grade', '–')}). On lists: {', '.join(lists) or 'none'}"
            f"{' (wrongly: ' + ', '.join(wrong) + ')' if wrong else ''}. "
            f"{attrs.get('records', 0)} record(s) ({attrs.get('erroneous_records', 0)} "
            f"erroneous); blocked {attrs.get('blocked_attempts', 0)} times "
            f"({attrs.get('wrongful_blocked_attempts', 0)} wrongly); "
            f"{attrs.get('days_blacklisted', 0)} days on a blacklist."
        )
        solara.Text(summary)
        if records.empty:
            solara.Text("No records about this resident.")
        else:
            solara.DataFrame(records, items_per_page=15)
        with solara.Details("All attributes"):
            solara.DataFrame(
                pd.DataFrame({"attribute": list(attrs), "value": [str(v) for v in attrs.values()]}),
                items_per_page=40,
            )

    @solara.component
    def Page() -> None:
        """The whole app: rules on the left, run / past runs / resident on the right."""
        solara.Title("scslab dashboard")
        with solara.Sidebar():
            solara.HTML(
                tag="p",
                unsafe_innerHTML="<b>scslab</b>: social credit rules on a synthetic city. "
                "Synthetic agents only; no real person is scored. Change the rules below, "
                "then press Run.",
            )
            ScenarioPicker()
            RuleControls()
        with solara.lab.Tabs():
            with solara.lab.Tab("Run"):
                RunPanel()
            with solara.lab.Tab("Past runs"):
                PastRuns()
            with solara.lab.Tab("Resident"):
                ResidentLookup()
