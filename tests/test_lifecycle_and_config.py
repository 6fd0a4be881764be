"""Pure parts: the lifecycle table and the function configuration."""

from __future__ import annotations

import pytest

from heartbench.config import load_functions
from heartbench.emulator.lifecycle import Event, Lifecycle, State, TRANSITIONS, TransitionError
from heartbench.errors import HeartbenchError


def test_happy_path_with_freeze():
    life = Lifecycle()
    for event, state in [(Event.INIT_DONE, State.READY), (Event.DISPATCH, State.INVOKING),
                         (Event.RESPOND, State.RESPONDED), (Event.NEXT, State.READY),
                         (Event.FREEZE, State.FROZEN), (Event.THAW, State.READY),
                         (Event.SHUTDOWN, State.STOPPED)]:
        assert life.fire(event) is state


def test_refused_transition_names_both_states():
    life = Lifecycle(State.FROZEN)
    with pytest.raises(TransitionError) as err:
        life.fire(Event.DISPATCH)
    assert str(err.value) == ("State transition from FROZEN to INVOKING failed: "
                              "event 'dispatch' is not allowed in state FROZEN")
    assert life.state is State.FROZEN


def test_stopped_is_final_and_every_state_listed():
    assert TRANSITIONS[State.STOPPED] == {}
    assert set(TRANSITIONS) == set(State)


def write(tmp_path, text):
    path = tmp_path / "f.toml"
    path.write_text(text)
    (tmp_path / "handlers").mkdir(exist_ok=True)
    return path


def test_config_shape_from_the_issue(tmp_path):
    path = write(tmp_path, """
[functions.ticker-leaky]
handler = "ticker_leaky.handler"
code = "handlers"
runtime = "python"
memory_mb = 128
timeout_s = 3
reserved_concurrency = 10
[functions.ticker-leaky.environment]
SERVICE_ID = "auth-service"
""")
    fn = load_functions(path)["ticker-leaky"]
    assert fn.code_dir == (tmp_path / "handlers").resolve()
    assert (fn.memory_mb, fn.timeout_s, fn.reserved_concurrency) == (128, 3.0, 10)
    assert fn.environment == {"SERVICE_ID": "auth-service"}


@pytest.mark.parametrize("body, message", [
    ('[functions.a]\nhandler = "m.f"\ncode = "handlers"\nmemory_mb = 64\n',
     "memory_mb 64 must be an integer from 128 to 10240"),
    ('[functions.a]\nhandler = "m.f"\ncode = "handlers"\ntimeout_s = 0\n',
     "timeout_s 0 must be a number of seconds above 0 and at most 900"),
    ('[functions.a]\nhandler = "nodot"\ncode = "handlers"\n', "handler 'nodot' must be module.function"),
    ('[functions.a]\nhandler = "m.f"\ncode = "handlers"\nruntime = "java"\n',
     "runtime 'java' is not one of python, provided"),
    ('[functions.a]\nhandler = "m.f"\ncode = "handlers"\ntimout_s = 3\n', "unknown key 'timout_s'"),
    ('[functions.a]\nhandler = "m.f"\ncode = "handlers"\nreserved_concurrency = 0\n',
     "reserved_concurrency 0 must be an integer of at least 1"),
])
def test_config_errors_name_the_value(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(HeartbenchError) as err:
        load_functions(path)
    assert str(err.value) == f"{path}: [functions.a]: {message}"


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(HeartbenchError, match="does not exist"):
        load_functions(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[functions\n")
    with pytest.raises(HeartbenchError, match="not valid TOML"):
        load_functions(bad)


def test_cli_reports_config_error_in_one_line(tmp_path, capsys):
    from heartbench.cli import main
    assert main(["emulator", "--config", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"heartbench emulator: error: config file '{tmp_path / 'missing.toml'}' does not exist"]
