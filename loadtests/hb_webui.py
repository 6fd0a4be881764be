"""A "Heartbeat leaks" tab in Locust's web UI: live threads, tasks, memory and fds per function.

Two views of the same numbers (the in-band telemetry of every invocation, `GrowthTable`):
- a tab inside Locust's own UI (`extended_tabs` / `extended_tables`; the rows ride along on
  `/stats/requests`, which the UI polls);
- a standalone page at `/heartbench` that polls `/heartbench/live.json` every 2 s.
"""

from __future__ import annotations

import json

from flask import Response, request

TAB_KEY = "heartbench"
COLUMNS = (
    ("function", "Function"), ("variant", "Variant"), ("invocations", "Invocations"),
    ("environments", "Envs"), ("threads_now", "Threads now"), ("threads_peak", "Threads peak"),
    ("tasks_now", "Tasks now"), ("tasks_peak", "Tasks peak"), ("rss_mib_now", "RSS MiB now"),
    ("rss_mib_peak", "RSS MiB peak"), ("fds_now", "FDs now"), ("errors", "Errors"),
    ("throttled", "Throttled"),
)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>heartbench: live leaks</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th:nth-child(-n+2), td:nth-child(-n+2) { text-align: left; }
tr.leaky td:nth-child(2) { color: #b00020; font-weight: bold; }
tr.fixed td:nth-child(2) { color: #1b7f3b; font-weight: bold; }
</style></head>
<body>
<h1>Heartbeat leaks, live</h1>
<p>In-band telemetry of the latest invocation of each function (now) and the highest value seen
(peak). Leaky variants climb; fixed ones stay flat. <span id="updated"></span></p>
<table><thead><tr id="head"></tr></thead><tbody id="rows"></tbody></table>
<script>
const columns = __COLUMNS__;
document.getElementById("head").innerHTML = columns.map(c => `<th>${c[1]}</th>`).join("");
async function refresh() {
  try {
    const data = await (await fetch("heartbench/live.json")).json();
    document.getElementById("rows").innerHTML = data.rows.map(r =>
      `<tr class="${r.variant}">` + columns.map(c => `<td>${r[c[0]] ?? "-"}</td>`).join("") +
      "</tr>").join("");
    document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("updated").textContent = "Not reachable: " + e;
  }
}
refresh();
setInterval(refresh, 2000);
</script></body></html>
"""


def live_rows(growth) -> list[dict]:
    """Flat rows (COLUMNS) from a GrowthTable."""
    rows = []
    for r in growth.rows():
        rss = r["rss_bytes"]
        rows.append({
            "function": r["function"], "variant": r["variant"], "invocations": r["invocations"],
            "environments": r["environments"], "errors": r["errors"], "throttled": r["throttled"],
            "threads_now": r["threads"]["last"], "threads_peak": r["threads"]["peak"],
            "tasks_now": r["tasks"]["last"], "tasks_peak": r["tasks"]["peak"],
            "rss_mib_now": _mib(rss["last"]), "rss_mib_peak": _mib(rss["peak"]),
            "fds_now": r["fds"]["last"],
        })
    return rows


def _mib(value) -> float | None:
    return None if value is None else round(value / 2**20, 1)


def register(web_ui, growth) -> None:
    """Add the tab and the standalone page to Locust's web UI (call from the `init` event)."""
    web_ui.template_args["extended_tabs"] = [{"title": "Heartbeat leaks", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": k, "title": t} for k, t in COLUMNS]}]
    app = web_ui.app

    @app.after_request
    def add_heartbench_rows(response):
        if request.path != "/stats/requests" or response.status_code != 200:
            return response
        data = response.get_json(silent=True)
        if isinstance(data, dict):
            extended = [e for e in data.get("extended_stats") or [] if e.get("key") != TAB_KEY]
            extended.append({"key": TAB_KEY, "data": live_rows(growth)})
            response.set_data(json.dumps({**data, "extended_stats": extended}))
        return response

    @app.route("/heartbench")
    @web_ui.auth_required_if_enabled
    def heartbench_page():
        return Response(PAGE.replace("__COLUMNS__", json.dumps(COLUMNS)), mimetype="text/html")

    @app.route("/heartbench/live.json")
    @web_ui.auth_required_if_enabled
    def heartbench_live():
        return Response(json.dumps({"rows": live_rows(growth)}), mimetype="application/json")
