"""Hardened inputs: every scenario `validate` accepts runs, the YAML file itself is limited,
error lines print the user's text literally, and the command line's numbers are checked.

The fuzz tests at the end mutate the built-in beijing-2018 scenario and the command lines of
`run` and `validate`, and hold every answer to the house rule: exit status 2, exactly one
line on stderr beginning `error:`, nothing written to the working directory, no hang; and a
mutation `validate` accepts runs (500 residents, 5 days) without a traceback.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scslab.cli import main
from scslab.cli.scenario import check_run_options
from scslab.scenario.bounds import MAX_DAYS, MAX_SEED, MAX_SPAN_DAYS, RunSizeError
from scslab.scenario.loader import builtin_text, load_scenario, parse_scenario
from scslab.scenario.safeyaml import MAX_DEPTH, MAX_FILE_BYTES, ScenarioError
from scslab.scenario.schema import Scenario

BASE_TEXT = builtin_text("beijing-2018")


def base() -> dict:
    """The built-in beijing-2018 scenario as plain data."""
    return yaml.safe_load(BASE_TEXT)


def error_of(text: str) -> ScenarioError:
    """The ScenarioError that parsing `text` raises (fails the test when it parses)."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.yaml")
    return info.value


def edited(edit) -> str:
    """beijing-2018 with `edit` applied to its data, as YAML text."""
    data = base()
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


# ------------------------------------------------------------------ bounds from the engine
@pytest.mark.parametrize(
    ("edit", "key", "says"),
    [
        (
            lambda d: d["departments"]["courts"].update(delay_days=40000),
            "departments.courts.delay_days",
            "at most 3650 days: days are stored as int16",
        ),
        (
            lambda d: d["lists"]["railway_misconduct"].update(duration_days=40000),
            "lists.railway_misconduct.duration_days",
            "int16",
        ),
        (
            lambda d: d["activities"]["post_online"].update(rate_per_year=1e308),
            "activities.post_online.rate_per_year",
            "at most 3650 a year",
        ),
        (
            lambda d: d["departments"]["courts"]["records"]["judgment_default"].update(
                rate_per_year=3000, poorest_to_richest=1000
            ),
            "departments.courts.records.judgment_default.rate_per_year",
            "reach 87.4 a day; at most 10: a day's events are drawn and held in memory",
        ),
        (
            lambda d: d["activities"]["post_online"].update(rate_per_year=1e-300),
            "activities.post_online.rate_per_year",
            "0 or at least 1e-06 a year: the engine steps from one event to the next in int64",
        ),
        (
            lambda d: d["departments"]["cyberspace"]["records"]["harmful_post"].update(
                probability_per_post=1e-300
            ),
            "departments.cyberspace.records.harmful_post.probability_per_post",
            "0 or at least 1e-06",
        ),
        (
            lambda d: d["population"].update(enterprises_per_resident=1e4),
            "population.enterprises_per_resident",
            "at most 1 per resident",
        ),
        (
            lambda d: d["scoring"].update(base=1e300, max_score=1e301),
            "scoring.base",
            "scores are float32",
        ),
        (
            lambda d: d["behaviour"].update(chilling_half_life_days=1e-300),
            "behaviour.chilling_half_life_days",
            "at least 0.01 days",
        ),
        (
            lambda d: d.update(name="a" * 300),
            "name",
            "at most 100 characters",
        ),
        (
            lambda d: d["population"].update(residents_at_scale_1=2**40),
            "population.residents_at_scale_1",
            "ids are int32",
        ),
    ],
)
def test_values_the_engine_cannot_hold_are_refused(edit, key: str, says: str) -> None:
    err = error_of(edited(edit))
    assert err.key == key, str(err)
    assert says in err.message, str(err)


def test_too_many_record_kinds_are_refused() -> None:
    def edit(d: dict) -> None:
        kinds = d["departments"]["courts"]["records"]
        kinds.update({f"k{i}": {"points": -1, "rate_per_year": 0.001} for i in range(260)})

    err = error_of(edited(edit))
    assert err.key == "departments" and "uint8" in err.message


def test_too_many_departments_are_refused() -> None:
    """(A file this large is refused for its size first; data from Python meets this.)"""
    data = base()
    data["departments"].update({f"d{i}": {"context": "tax"} for i in range(2**15)})
    with pytest.raises(ValueError, match=r"departments: at most 32767 .* int16"):
        Scenario.model_validate(data)


def test_spans_at_their_bounds_run_the_longest_run() -> None:
    """Every span at MAX_SPAN_DAYS over MAX_DAYS days stays within the int16 days."""
    from scslab import Simulation

    def edit(d: dict) -> None:
        d["days"] = MAX_DAYS
        for dep in d["departments"].values():
            dep["delay_days"] = MAX_SPAN_DAYS
        for rule in d["lists"].values():
            if "duration_days" in rule:
                rule["duration_days"] = rule["extension_days"] = MAX_SPAN_DAYS
        dp = d["due_process"]["defaults"]
        dp["notice"]["delay_days"] = dp["appeal"]["window_days"] = MAX_SPAN_DAYS
        dp["review"]["days_to_decide"] = MAX_SPAN_DAYS

    sc = parse_scenario(edited(edit), "spans.yaml")
    assert 32767 >= MAX_DAYS + 6 * MAX_SPAN_DAYS
    res = Simulation(sc, seed=1, residents=100, days=MAX_DAYS, engine="general").run()
    assert res.manifest["days"] == MAX_DAYS


def test_records_a_run_would_write_count_in_its_memory_check(tmp_path: Path) -> None:
    """A scenario whose records over the run would not fit in memory is refused before the
    city is built (the check counts records at their peak rates, 64 bytes each)."""
    busy = tmp_path.parent / f"{tmp_path.name}-busy.yaml"
    busy.write_text(
        edited(
            lambda d: d["departments"]["courts"]["records"]["judgment_default"].update(
                rate_per_year=1000, poorest_to_richest=1.0
            )
        )
    )
    code, _, err = cli("run", str(busy), "--scale", "0.1", "--days", "7300", cwd=tmp_path)
    assert "GiB of memory" in assert_one_error_line(code, err, tmp_path)


# ------------------------------------------------------------------ the file itself
def test_duplicate_key_is_an_error() -> None:
    err = error_of(BASE_TEXT + "\ndays: 30\n")
    assert "duplicate key 'days'" in err.message and err.key.startswith("line ")


def test_alias_expansion_is_limited() -> None:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    t0 = time.monotonic()
    err = error_of("\n".join(lines) + "\n")
    assert time.monotonic() - t0 < 2.0
    assert "aliases are expanded" in err.message


def test_deep_nesting_is_an_error_not_a_recursion_error() -> None:
    err = error_of("days: " + "[" * 1000 + "]" * 1000 + "\n")
    assert f"nested more than {MAX_DEPTH} deep" in err.message


def test_huge_integer_is_an_error() -> None:
    err = error_of(BASE_TEXT.replace("days: 915", "days: " + "9" * 5000))
    assert "a number of 5,000 characters" in err.message


def test_true_is_not_a_number() -> None:
    err = error_of(BASE_TEXT.replace("days: 915", "days: true"))
    assert err.key == "days"
    data = base()
    data["departments"]["courts"]["coverage"] = True
    err = error_of(yaml.safe_dump(data))
    assert err.key == "departments.courts.coverage" and "valid number" in err.message


def test_exponent_numbers_are_numbers() -> None:
    """1e-3 is a number (as in YAML 1.2), so strict numbers do not refuse it."""
    text = BASE_TEXT.replace("rate_per_year: 52", "rate_per_year: 5.2e1", 1)
    assert parse_scenario(text.replace("5.2e1", "52e0")) == load_scenario("beijing-2018")


def test_file_limits(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(BASE_TEXT + "#" * MAX_FILE_BYTES)
    with pytest.raises(ScenarioError, match="larger than"):
        load_scenario(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(BASE_TEXT.encode() + b"\ndescription: caf\xe9\n")
    with pytest.raises(ScenarioError, match=r"latin.yaml: line \d+: not UTF-8 text \(byte 0xe9\)"):
        load_scenario(latin)


# ------------------------------------------------------------------ the command line
def cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run `scslab ARGS` in this process from `cwd`: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            pytest.raises(SystemExit) as info,
            _alarm(60),
        ):
            import sys

            argv, sys.argv = sys.argv, ["scslab", *args]
            try:
                main()
            finally:
                sys.argv = argv
    finally:
        os.chdir(old)
    code = info.value.code
    return (code if isinstance(code, int) else 1), out.getvalue(), err.getvalue()


@contextlib.contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    """Fail with TimeoutError when the block runs longer than `seconds` (a hang)."""

    def hang(*_: object) -> None:
        raise TimeoutError(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def assert_one_error_line(code: int, err: str, cwd: Path) -> str:
    """Exit 2, one stderr line beginning 'error:', nothing written into cwd; the line."""
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert not list(cwd.iterdir()), list(cwd.iterdir())
    return lines[0]


def test_markup_in_user_text_is_printed_literally(tmp_path: Path) -> None:
    bad = tmp_path.parent / f"{tmp_path.name}-markup.yaml"
    bad.write_text(BASE_TEXT.replace("days: 915", 'days: "[/bold]"'))
    line = assert_one_error_line(*cli("validate", str(bad), cwd=tmp_path)[::2], tmp_path)
    assert "days: Input should be a valid integer (got '[/bold]')" in line
    bad.write_text(BASE_TEXT.replace("name: beijing-2018", "name: Beijing"))
    line = assert_one_error_line(*cli("validate", str(bad), cwd=tmp_path)[::2], tmp_path)
    assert r"pattern '^[a-z0-9][a-z0-9_.\-]*$' (got 'Beijing')" in line


def test_validate_prints_the_path_literally(tmp_path: Path) -> None:
    good = tmp_path.parent / f"{tmp_path.name}-[bold]ok.yaml"
    good.write_text(BASE_TEXT)
    code, out, err = cli("validate", str(good), cwd=tmp_path)
    assert code == 0 and not err
    assert out.strip() == f"{good}: valid scenario 'beijing-2018'"


def test_run_prints_its_directory_literally(tmp_path: Path) -> None:
    out = tmp_path.parent / f"{tmp_path.name}-[bold]run"
    code, printed, err = cli(
        "run", "--residents", "500", "--days", "2", "-q", "--out", str(out), cwd=tmp_path
    )
    assert code == 0, err
    assert printed.strip() == str(out) and (out / "manifest.json").is_file()


def test_line_breaks_in_user_text_stay_on_one_line(tmp_path: Path) -> None:
    bad = tmp_path.parent / f"{tmp_path.name}-nl.yaml"
    bad.write_text(BASE_TEXT + '\n"colour\\nred": 1\n')
    line = assert_one_error_line(*cli("validate", str(bad), cwd=tmp_path)[::2], tmp_path)
    assert "colour\\nred: unknown key" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--scale", "nan"], "--scale: must be > 0, finite"),
        (["--scale", "inf"], "--scale: must be > 0, finite"),
        (["--scale", "-inf"], "--scale: must be > 0, finite"),
        (["--seed", "-1"], f"--seed: must be 0 to {MAX_SEED}"),
        (["--seed", str(2**64)], f"--seed: must be 0 to {MAX_SEED}"),
        (["--days", str(MAX_DAYS + 1)], f"--days: must be 1 to {MAX_DAYS}"),
        (["--days", "10000000"], f"--days: must be 1 to {MAX_DAYS}"),
        (["--residents", str(2**70)], "--residents: "),
        (["--days", "abc"], "Invalid value for '--days'"),
        (["--colour", "red"], "No such option: --colour"),
    ],
)
def test_bad_numeric_options_one_line(tmp_path: Path, args: list[str], says: str) -> None:
    code, _, err = cli("run", *args, cwd=tmp_path)
    assert says in assert_one_error_line(code, err, tmp_path)


def test_days_bound_is_the_schemas() -> None:
    """The CLI's --days bound is the schema's: MAX_DAYS passes both, MAX_DAYS + 1 neither."""
    check_run_options(None, 500, MAX_DAYS, 0)
    check_run_options(None, 500, 5, MAX_SEED)
    data = base()
    data["days"] = MAX_DAYS
    Scenario.model_validate(data)
    data["days"] = MAX_DAYS + 1
    with pytest.raises(ValueError, match="at most 7300 days"):
        Scenario.model_validate(data)


# ------------------------------------------------------------------ fuzz
def _leaves(node: object, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))
    else:
        yield path


def _mappings(node: object, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        yield path
        for k, v in node.items():
            yield from _mappings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _mappings(v, (*path, i))


BASE = base()
LEAVES = list(_leaves(BASE))
MAPPINGS = list(_mappings(BASE))
MARKUP = ["[/bold]", "[bold red]x[/]", "[link=http://x]y", "[/]", "\\[x]", ":smile:", "a\nb"]
BAD_VALUES = st.one_of(
    st.sampled_from(
        [
            *[True, False, None, "", "a year", [], {}, [1, 2], {"a": 1}, *MARKUP],
            *[-1, -1e308, 1e308, 40000, 10**30, 2**31, 2**63, 1e-320, 0.5, 7, 3651, 7301],
            *[float("nan"), float("inf"), float("-inf")],
        ]
    ),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)


def _set(data: dict, path: tuple, value: object) -> None:
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


@st.composite
def scenario_texts(draw: st.DrawFn) -> bytes:
    """The bytes of a mutated beijing-2018 scenario file."""
    data = base()
    how = draw(
        st.sampled_from(
            [
                *["leaf", "leaf", "leaf", "unknown", "drop", "deep", "aliases", "duplicate"],
                *["utf8", "digits", "markup_key", "nesting_type"],
            ]
        )
    )
    if how == "leaf":
        _set(data, draw(st.sampled_from(LEAVES)), draw(BAD_VALUES))
    elif how == "unknown":
        node = data
        for p in draw(st.sampled_from(MAPPINGS)):
            node = node[p]
        node[draw(st.sampled_from(["colour", "coverag", "1", "Days", *MARKUP]))] = 1
    elif how == "drop":
        path = draw(st.sampled_from([p for p in LEAVES if len(p) > 0]))
        node = data
        for p in path[:-1]:
            node = node[p]
        if isinstance(node, dict):
            del node[path[-1]]
        else:
            node.clear()
    elif how == "nesting_type":
        _set(data, draw(st.sampled_from(MAPPINGS[1:])), draw(BAD_VALUES))
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if how == "deep":
        n = draw(st.integers(MAX_DEPTH, 3000))
        text += "deep: " + "[" * n + "]" * n + "\n"
    elif how == "aliases":
        width, depth = draw(st.integers(2, 12)), draw(st.integers(4, 12))
        lines = [f"b0: &b0 [{', '.join(['x'] * width)}]"]
        lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * width)}]" for i in range(1, depth)]
        text += "\n".join(lines) + "\n"
    elif how == "duplicate":
        top = draw(st.sampled_from(list(data)))
        text += yaml.safe_dump({top: data[top]}, sort_keys=False)
    elif how == "digits":
        text = text.replace("days: 915", "days: " + "7" * draw(st.integers(41, 6000)))
    elif how == "markup_key":
        text = text.replace("name: beijing-2018", f"name: {draw(st.sampled_from(MARKUP))!r}")
    raw = text.encode()
    if how == "utf8":
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xe9t\xe9", b"\x80\x80"]))
            + raw[at:]
        )
    return raw


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="scslab-fuzz-") as d:
        yield Path(d)


PROBES = {"scenarios_refused": 0, "scenarios_run": 0, "command_lines": 0}


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(raw=scenario_texts())
def test_fuzz_scenarios(raw: bytes) -> None:
    """A mutated scenario is refused with one line, or accepted and runs."""
    with _workdir() as home, _workdir() as cwd:
        path = home / "mutant.yaml"
        path.write_bytes(raw)
        t0 = time.monotonic()
        code, _, err = cli("validate", str(path), cwd=cwd)
        assert time.monotonic() - t0 < 20, "validate took too long"
        if code != 0:
            assert_one_error_line(code, err, cwd)
            PROBES["scenarios_refused"] += 1
            return
        assert not err, err
        code, _, err = cli(
            "run", str(path), "--residents", "500", "--days", "5", "-q",
            "--out", str(home / "run"),
            cwd=cwd,
        )  # fmt: skip
        assert code == 0 or assert_one_error_line(code, err, cwd), err
        PROBES["scenarios_run"] += 1


BAD_OPTIONS = {
    "--scale": ["nan", "inf", "-inf", "0", "-1", "1e400", "abc", "", "3e9"],
    "--residents": ["0", "-5", str(2**31), str(2**70), "1.5", "x", ""],
    "--days": ["0", "-1", str(MAX_DAYS + 1), "10000000", "2.5", "x", ""],
    "--seed": ["-1", str(2**63), str(2**64), "1e3", "x", ""],
    "--engine": ["turbo", "", "[/bold]"],
}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A `run` or `validate` command line with at least one malformed part."""
    command = draw(st.sampled_from(["run", "validate"]))
    if command == "validate":
        return draw(
            st.sampled_from(
                [
                    ["validate"],
                    ["validate", "atlantis"],
                    ["validate", "missing.yaml"],
                    ["validate", "beijing-2018", "extra"],
                    ["validate", "--scale", "1"],
                    ["validate", "[/bold].yaml"],
                    ["validate", "x" * 300 + ".yaml"],
                    ["validate", "x" * 300],
                    ["validate", "/"],
                ]
            )
        )
    args = ["run", draw(st.sampled_from(["beijing-2018", "rongcheng", "atlantis", "no.yaml"]))]
    bad = draw(st.sampled_from(sorted(BAD_OPTIONS)))
    args += [bad, draw(st.sampled_from(BAD_OPTIONS[bad]))]
    if bad != "--residents" and draw(st.booleans()):
        args += ["--residents", "500"]
    if bad != "--days":
        args += ["--days", "5"]
    if draw(st.booleans()):
        args += [draw(st.sampled_from(["--bogus", "-z", "--days", "--seed=1=2"]))]
    return args


@settings(max_examples=100, deadline=None, database=None)
@given(args=command_lines())
def test_fuzz_command_lines(args: list[str]) -> None:
    """A malformed command line gets one error line, exit 2, and writes nothing."""
    with _workdir() as cwd:
        code, _, err = cli(*args, cwd=cwd)
        assert_one_error_line(code, err, cwd)
        PROBES["command_lines"] += 1


@pytest.fixture(scope="module", autouse=True)
def _report_probes(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the module, print how many probes the fuzz tests tried (all of them passed,
    or a test failed)."""
    yield
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None and any(PROBES.values()):
        with capture.global_and_fixture_disabled():
            print(f"\nfuzz probes: {PROBES}")


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"days": 10**7}, "days: must be 1 to"),
        ({"seed": -1}, "seed: must be 0 to"),
        ({"scale": float("nan")}, "scale: must be > 0, finite"),
        ({"scale": 0.1, "residents": 10}, "scale and residents: give one"),
    ],
)
def test_the_python_api_checks_a_runs_size_as_the_command_line_does(kwargs, says) -> None:
    from scslab import Simulation

    with pytest.raises(RunSizeError, match=says):
        Simulation("beijing-2018", **{"residents": 100, **kwargs})


def test_the_installed_command_reads_bad_command_lines_in_one_line() -> None:
    """`scslab` (the installed entry point) is main(), which turns click's usage errors
    into one line; app() itself would print a boxed usage message."""
    import tomllib

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert scripts == {"scslab": "scslab.cli:main"}
