"""One load-test run, wired into Locust's events, for each Locust role.

local (single process) and master:
  init      -> resolve the functions; create the run directory; start the local stack (emulator
               target); start the out-of-band sampler; point Locust's CSV/HTML into the run
               directory; add the web UI tab.
  request   -> each invocation row into invocations.jsonl (local) / rows from workers (master).
  quitting  -> stop the sampler and the emulator, count delivered heartbeats, stop DynamoDB, write
               ended_utc, print the initial / peak / increase table; at the end of a headless run
               that was not interrupted, `heartbench report` + `heartbench gate`, whose exit code
               becomes the process's.
worker:
  test_start -> learn the endpoint and the functions from the master's options.
  request    -> rows batched to the master (hb_relay).
"""

from __future__ import annotations

import csv
import json
import logging
import sys
import time
from pathlib import Path

from locust import stats as locust_stats
from locust.runners import MasterRunner, WorkerRunner

import gevent

from heartbench.collectors.growth import GrowthTable
from heartbench.collectors.sampler import EnvironmentSampler, introspection_client
from heartbench.config import load_functions
from heartbench.errors import EXIT_USAGE, HeartbenchError
from heartbench.rundir import RunWriter

import hb_options
import hb_relay
import hb_webui
from hb_lambda import read_timeout_for
from hb_stack import LocalStack

logger = logging.getLogger("heartbench")
LOOPBACK_PREFIXES = ("http://127.0.0.1", "http://localhost", "http://[::1]")
HEARTBEAT_COUNT_TIMEOUT_S = 30.0


class Harness:
    """The state of one run in one Locust process (`environment.heartbench`)."""

    def __init__(self, environment):
        self.environment = environment
        self.options = environment.parsed_options
        runner = environment.runner
        self.role = "worker" if isinstance(runner, WorkerRunner) else \
            "master" if isinstance(runner, MasterRunner) else "local"
        self.functions: list[dict] = []
        self.meta: dict[str, dict] = {}
        self.endpoint_url: str | None = None
        self.read_timeout_s = 60.0
        self.growth = GrowthTable()
        self.writer: RunWriter | None = None
        self.stack: LocalStack | None = None
        self.sampler: EnvironmentSampler | None = None
        self.relay: hb_relay.RowRelay | None = None
        self.csv_writer = None
        self._csv_greenlet = None
        self._users_assigned = 0
        self._test_running = False
        self._closing = False
        self.interrupted = False

    # ----- init -------------------------------------------------------------------------------

    def setup(self, web_ui) -> None:
        self.environment.events.request.add_listener(self.on_request)
        self.environment.events.test_start.add_listener(self.on_test_start)
        self.environment.events.test_stop.add_listener(self.on_test_stop)
        self.environment.events.quitting.add_listener(self.on_quitting)
        if self.role == "worker":
            self.relay = hb_relay.RowRelay(self.environment.runner).start()
            return
        try:
            self._setup_run(web_ui)
        except HeartbenchError as e:
            logger.error("heartbench: error: %s", e)
            self._cleanup()
            if self.writer is not None:
                self.writer.finish(interrupted=True, error=str(e))
            sys.exit(e.exit_code)

    def _setup_run(self, web_ui) -> None:
        opts = self.options
        catalog = load_functions(opts.hb_config)
        self._use_functions(hb_options.select_functions(catalog, opts.hb_functions))
        self.growth = GrowthTable(self.functions)
        self.writer = RunWriter.create(opts.hb_report_dir, config=self._run_config(),
                                       functions=self.functions, run_id=opts.hb_run_id or None)
        logger.info("heartbench run directory: %s", self.writer.path)
        self._locust_outputs_into_run_dir()
        if opts.hb_target == "emulator":
            self.stack = LocalStack(opts.hb_config, no_freeze=opts.hb_no_freeze,
                                    dynamodb_endpoint=opts.hb_dynamodb_endpoint,
                                    log_dir=self.writer.path).start()
            self.endpoint_url = self.stack.url
        elif opts.hb_target != "aws":
            self.endpoint_url = opts.hb_target
        self.writer.update(config={**self.writer.run["config"], "endpoint_url": self.endpoint_url,
                                   "dynamodb_endpoint": self._dynamodb_endpoint()})
        self._start_sampler()
        # Workers receive these with the master's options before their test_start.
        opts.hb_run_endpoint = self.endpoint_url or ""
        opts.hb_run_functions = json.dumps(self.functions)
        if self.role == "master":
            hb_relay.register_receiver(self.environment.runner, self.on_worker_rows)
        if web_ui is not None:
            hb_webui.register(web_ui, self.growth)

    def _use_functions(self, functions: list[dict]) -> None:
        self.functions = [{k: f[k] for k in ("function", "pair", "variant")} for f in functions]
        self.meta = {f["function"]: f for f in functions}
        timeout_s = max((f.get("timeout_s") or 3.0) for f in functions)
        self.read_timeout_s = read_timeout_for(timeout_s)

    def _run_config(self) -> dict:
        opts = self.options
        return {
            "target": opts.hb_target, "functions_config": str(opts.hb_config),
            "functions_selected": opts.hb_functions or "all leaky and fixed",
            "users": opts.num_users, "spawn_rate": opts.spawn_rate, "run_time_s": opts.run_time,
            "pace_s": opts.hb_pace_s, "sample_interval_s": opts.hb_sample_interval_s,
            "no_freeze": opts.hb_no_freeze, "headless": opts.headless, "role": self.role,
            "expect_workers": opts.expect_workers if self.role == "master" else 0,
            "locust_version": _locust_version(), "endpoint_url": None, "dynamodb_endpoint": None,
        }

    def _dynamodb_endpoint(self) -> str | None:
        if self.stack is not None:
            return self.stack.dynamodb_endpoint
        return self.options.hb_dynamodb_endpoint or None

    def _locust_outputs_into_run_dir(self) -> None:
        """Locust's HTML report and CSV files go into the run directory unless given."""
        opts = self.options
        if not opts.html_file:
            opts.html_file = str(self.writer.path / "locust.html")
        if not opts.csv_prefix:
            prefix = str(self.writer.path / "locust")
            self.csv_writer = locust_stats.StatsCSVFileWriter(
                self.environment, locust_stats.PERCENTILES_TO_REPORT, prefix, False)
            self._csv_greenlet = gevent.spawn(self.csv_writer.stats_writer)

    def _start_sampler(self) -> None:
        url = self.endpoint_url
        if url is None or not url.startswith(LOOPBACK_PREFIXES):
            return  # psutil can only see processes on this machine
        self.sampler = EnvironmentSampler(introspection_client(url), self.meta, self.on_sample,
                                          interval_s=self.options.hb_sample_interval_s).start()

    # ----- during the run ---------------------------------------------------------------------

    def on_test_start(self, environment, **kwargs) -> None:
        self._test_running = True
        opts = self.options
        if self.role == "master":
            opts.hb_run_workers = max(environment.runner.worker_count, 1)
        self._users_assigned = 0
        if self.role == "worker":
            self._use_functions(json.loads(opts.hb_run_functions))
            self.endpoint_url = opts.hb_run_endpoint or None
        elif self.writer is not None:
            self.writer.update(config={**self.writer.run["config"], "users": opts.num_users,
                                       "spawn_rate": opts.spawn_rate})

    def on_test_stop(self, environment, **kwargs) -> None:
        self._test_running = False
        if self.relay is not None:
            self.relay.flush()

    def assign_function(self) -> str:
        """The function for the next user of this process: round robin over the functions,
        interleaved across workers (worker i of n takes users i, i+n, i+2n, ...)."""
        if not self.functions:
            raise HeartbenchError("no functions to invoke (the run was not set up)")
        runner = self.environment.runner
        workers = getattr(self.options, "hb_run_workers", 1) if self.role == "worker" else 1
        index = self._users_assigned * workers + getattr(runner, "worker_index", 0)
        self._users_assigned += 1
        return self.functions[index % len(self.functions)]["function"]

    def on_request(self, context=None, **kwargs) -> None:
        row = (context or {}).get("invocation")
        if row is None or self._closing:
            return
        if self.relay is not None:
            self.relay.add(row)
        else:
            self.record([row])

    def on_worker_rows(self, rows: list[dict], worker_id=None) -> None:
        if not self._closing:
            self.record(rows)

    def record(self, rows: list[dict]) -> None:
        if self.writer is not None:
            self.writer.append_invocations(rows)
        self.growth.add_all(rows)

    def on_sample(self, row: dict) -> None:
        if self.writer is not None:
            self.writer.append_sample(row)

    # ----- the end ----------------------------------------------------------------------------

    def on_quitting(self, environment, **kwargs) -> None:
        if self.relay is not None:
            self.relay.stop()
            return
        if self.writer is None:
            return
        self.interrupted = self._test_running
        self._test_running = False
        self._closing = True  # rows from here on (calls failing as the emulator stops) are dropped
        if self.interrupted and self.role == "local":
            environment.runner.stop()  # kills the users at once (LocalRunner)
        if self.sampler is not None:
            self.sampler.stop()
        if self.stack is not None:
            self.stack.stop_emulator()
        heartbeats = self._count_heartbeats()
        self._cleanup()
        self._finish_locust_csv()
        self.writer.finish(interrupted=self.interrupted, heartbeats=heartbeats,
                           invocations_recorded=self.writer.invocations_written,
                           samples_recorded=self.writer.samples_written,
                           sampler_overhead=self.sampler.overhead() if self.sampler else None)
        self._print_summary()
        if self.options.headless and not self.interrupted and not self.options.hb_no_report:
            environment.process_exit_code = report_and_gate(self.writer.path)

    def _count_heartbeats(self) -> dict | None:
        """Heartbeats delivered to DynamoDB per function (its SERVICE_ID in its HEARTBEAT_TABLE),
        next to its successful invocations. Bounded by HEARTBEAT_COUNT_TIMEOUT_S in all."""
        endpoint = self._dynamodb_endpoint()
        if endpoint is None:
            return None
        from heartbench.store import count_heartbeats
        ok = {r["function"]: r["invocations"] - r["errors"] - r["throttled"]
              for r in self.growth.rows()}
        result = {}
        with gevent.Timeout(HEARTBEAT_COUNT_TIMEOUT_S, False):
            for name, meta in self.meta.items():
                table, service = meta.get("heartbeat_table"), meta.get("service_id")
                if not table or not service:
                    continue
                try:
                    delivered = count_heartbeats(endpoint, table, service_id=service)[service]
                except Exception as e:  # an unreachable store must not lose the run
                    logger.warning("heartbench: could not count heartbeats of %s in %s: %s",
                                   service, table, e)
                    delivered = None
                result[name] = {"table": table, "service_id": service, "delivered": delivered,
                                "invocations_ok": ok.get(name, 0)}
        if len(result) < sum(1 for m in self.meta.values()
                             if m.get("heartbeat_table") and m.get("service_id")):
            logger.warning("heartbench: counting heartbeats took over %.0f s; counted %d functions",
                           HEARTBEAT_COUNT_TIMEOUT_S, len(result))
        return result

    def _finish_locust_csv(self) -> None:
        if self.csv_writer is None:
            return
        if self._csv_greenlet is not None:
            self._csv_greenlet.kill(block=True)
        self.csv_writer.close_files()
        prefix = self.csv_writer.base_filepath
        for suffix, write in (("_stats.csv", self.csv_writer.requests_csv),
                              ("_failures.csv", self.csv_writer.failures_csv),
                              ("_exceptions.csv", self.csv_writer.exceptions_csv)):
            with open(prefix + suffix, "w", newline="") as f:
                write(csv.writer(f))
        self.csv_writer = None

    def _print_summary(self) -> None:
        state = "interrupted" if self.interrupted else "complete"
        print(f"\nheartbench run {self.writer.run_id} ({state}): {self.writer.invocations_written}"
              f" invocations, {self.writer.samples_written} samples in {self.writer.path}")
        print(self.growth.format())
        if self.interrupted:
            print(f"make the report with: heartbench report {self.writer.path}")
        sys.stdout.flush()

    def _cleanup(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self.stack is not None:
            self.stack.stop()


def report_and_gate(run_dir: Path) -> int:
    """`heartbench report RUN_DIR --force` then `heartbench gate RUN_DIR`; the gate's exit code
    (or the report's, if it failed)."""
    from heartbench.cli import main as heartbench_main
    for argv in (["report", str(run_dir), "--force"], ["gate", str(run_dir)]):
        started = time.monotonic()
        try:
            code = heartbench_main(argv)
        except SystemExit as e:  # argparse: the subcommand is not available
            code = e.code if isinstance(e.code, int) else EXIT_USAGE
        logger.info("heartbench %s: exit code %s (%.1f s)", argv[0], code,
                    time.monotonic() - started)
        if argv[0] == "report" and code != 0:
            return code
    return code


def _locust_version() -> str:
    from locust import __version__
    return __version__
