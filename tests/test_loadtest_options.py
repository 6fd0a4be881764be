"""The load test's own options and function selection (pure parts; Locust is not imported)."""

import argparse
import sys
from pathlib import Path

import pytest

from heartbench.collectors.growth import GrowthTable
from heartbench.config import load_functions
from heartbench.errors import HeartbenchError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "loadtests"))
import hb_options  # noqa: E402
import hb_webui  # noqa: E402

CATALOG = Path(__file__).resolve().parent.parent / "handlers" / "functions.toml"


@pytest.fixture(scope="module")
def catalog():
    return load_functions(CATALOG)


def names(selected):
    return [f["function"] for f in selected]


def test_default_is_every_leaky_and_fixed_function_in_catalog_order(catalog):
    selected = hb_options.select_functions(catalog, "")
    assert names(selected) == [n for n, f in catalog.items() if f.variant in ("leaky", "fixed")]
    assert {f["variant"] for f in selected} == {"leaky", "fixed"}
    first = selected[0]
    assert set(first) == {"function", "pair", "variant", "timeout_s", "service_id",
                          "heartbeat_table"}


def test_pairs_functions_and_variants(catalog):
    assert names(hb_options.select_functions(catalog, "ticker")) == ["ticker-leaky", "ticker-fixed"]
    assert names(hb_options.select_functions(catalog, " deadline-fixed , ticker ")) == \
        ["ticker-leaky", "ticker-fixed", "deadline-fixed"]
    leaky = hb_options.select_functions(catalog, "leaky")
    assert leaky and {f["variant"] for f in leaky} == {"leaky"}


def test_unknown_name_suggests_the_closest(catalog):
    with pytest.raises(HeartbenchError) as e:
        hb_options.select_functions(catalog, "tikcer")
    assert str(e.value) == ("--hb-functions: 'tikcer' is not a function, pair or variant of the "
                            "config; did you mean 'ticker'?")


@pytest.mark.parametrize("value, expected", [
    ("emulator", "emulator"), ("aws", "aws"), ("http://127.0.0.1:9001/", "http://127.0.0.1:9001"),
])
def test_target_values(value, expected):
    assert hb_options.target(value) == expected


def test_bad_values_are_named():
    with pytest.raises(argparse.ArgumentTypeError, match="'lambda' is not emulator, aws or an "
                                                         r"http\(s\):// URL"):
        hb_options.target("lambda")
    with pytest.raises(argparse.ArgumentTypeError, match="'0' must be above 0 seconds"):
        hb_options.positive_seconds("0")
    with pytest.raises(argparse.ArgumentTypeError, match="'fast' is not a number of seconds"):
        hb_options.positive_seconds("fast")


def test_web_ui_rows_from_the_growth_table():
    growth = GrowthTable([{"function": "ticker-leaky", "pair": "ticker", "variant": "leaky"}])
    growth.add({"function": "ticker-leaky", "status": "ok", "threads": 2, "tasks": 0,
                "rss_bytes": 50 * 2**20, "fds": 6, "env_id": "e"})
    growth.add({"function": "ticker-leaky", "status": "ok", "threads": 5, "tasks": 1,
                "rss_bytes": 51 * 2**20, "fds": 8, "env_id": "e"})
    [row] = hb_webui.live_rows(growth)
    assert row["threads_now"] == 5 and row["threads_peak"] == 5 and row["rss_mib_now"] == 51.0
    assert set(row) == {key for key, _ in hb_webui.COLUMNS}
