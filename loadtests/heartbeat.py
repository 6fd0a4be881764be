"""heartbench's main job: drive every leaky and fixed heartbeat function and record the run.

    locust -f loadtests/heartbeat.py                                  # web UI on :8089
    locust -f loadtests/heartbeat.py --headless -u 20 -r 10 -t 90s    # scripts and CI
    locust -f loadtests/heartbeat.py --headless -u 100 -r 20 -t 2m    # the concurrency stress test
    locust -f loadtests/heartbeat.py --headless -u 20 -t 90s --processes 2

With nothing but Locust's flags this starts (in the init event, not at import) an embedded DynamoDB
server and the emulator on handlers/functions.toml, invokes each function from its own users at a
1 s pace, samples every execution environment, and writes reports/<run-id>/ (docs/loadtest.md).
At the end of a headless run it writes the report and runs the gate; the exit code is the gate's.

Each user stands for one heartbeat schedule: it is given one function (round robin over the
selected functions, so -u 10 puts one user on each of the 10 catalog functions and -u 100 ten),
and invokes it every --hb-pace-s seconds. Options (--hb-*, each with a HEARTBENCH_* environment
variable): hb_options.py and docs/loadtest.md.
"""

from locust import events, task  # first: Locust patches gevent before boto3 is imported

import os
import signal
import time

import gevent

import hb_options
from hb_harness import Harness
from hb_lambda import LambdaClient, LambdaUser, scheduled_event


@events.init_command_line_parser.add_listener
def add_heartbench_options(parser, **kwargs):
    hb_options.add_options(parser)
    # Servers bind to loopback unless asked otherwise: the web UI too (--web-host 0.0.0.0 opens it).
    parser.set_defaults(web_host="127.0.0.1")


def _ctrl_c_as_sigterm():
    """Ctrl-C takes Locust's SIGTERM path. Under gevent, a KeyboardInterrupt that lands in the hub
    can be swallowed ("Exception ignored in gevent_handle_error") and the run goes on; a signal
    handler run by the hub as a greenlet cannot be lost that way."""
    os.kill(os.getpid(), signal.SIGTERM)


@events.init.add_listener
def start_heartbench(environment, web_ui=None, **kwargs):
    gevent.signal_handler(signal.SIGINT, _ctrl_c_as_sigterm)
    environment.heartbench = Harness(environment)
    environment.heartbench.setup(web_ui)


class HeartbeatUser(LambdaUser):
    """One heartbeat schedule: invokes its function every --hb-pace-s seconds (constant pacing)."""

    def __init__(self, environment):
        self.harness = environment.heartbench
        super().__init__(environment)
        self.function = self.harness.assign_function()
        self.sequence = 0
        self._last_start = None

    def build_client(self) -> LambdaClient:
        return LambdaClient(self.environment.events.request, endpoint_url=self.harness.endpoint_url,
                            functions=self.harness.meta,
                            read_timeout_s=self.harness.read_timeout_s)

    def wait_time(self) -> float:
        pace_s = self.harness.options.hb_pace_s
        if self._last_start is None:
            return 0.0
        return max(0.0, pace_s - (time.monotonic() - self._last_start))

    @task
    def beat(self) -> None:
        self._last_start = time.monotonic()
        self.sequence += 1
        self.client.invoke(self.function, scheduled_event(self.sequence))

