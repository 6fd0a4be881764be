"""Mixed concurrent load: every invocation is answered exactly once, whatever happens to it."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from heartbench.emulator.process import EmulatorProcess

from conftest import FUNCTIONS_TOML, gone, lambda_client, settled

CALLS = 240
WORKERS = 12
MIX = [("noop", {}), ("echo", {"x": 1}), ("fail", {"n": 1}), ("sleepy", {"sleep_s": 0.05}),
       ("sleepy", {"sleep_s": 2}), ("crash", {"status": 4}), ("custom", {})]


def test_every_invocation_answered_exactly_once_under_mixed_load(tmp_path):
    rng = random.Random(7)
    plan = [rng.choice(MIX) for _ in range(CALLS)]
    with EmulatorProcess(FUNCTIONS_TOML, log_dir=tmp_path) as emu:
        client = lambda_client(emu.url)

        def call(item):
            name, event = item
            try:
                response = client.invoke(FunctionName=name, Payload=json.dumps(event))
                body = response["Payload"].read()
                return ("answered", response["ResponseMetadata"]["RequestId"],
                        response.get("FunctionError"), json.loads(body) if body else None)
            except ClientError as e:
                return ("refused", e.response["Error"]["Code"], None, None)

        with ThreadPoolExecutor(WORKERS) as pool:
            outcomes = list(pool.map(call, plan, timeout=120))

        assert len(outcomes) == CALLS
        answered = [o for o in outcomes if o[0] == "answered"]
        refused = [o for o in outcomes if o[0] == "refused"]
        assert {o[1] for o in refused} <= {"TooManyRequestsException"}
        request_ids = [o[1] for o in answered]
        assert len(set(request_ids)) == len(request_ids)   # no answer given twice
        assert len(answered) >= CALLS // 4 and refused, (len(answered), len(refused))
        errors = {o[3]["errorType"] for o in answered if o[2]}
        assert {"ValueError", "Runtime.ExitError", "Sandbox.Timedout"} <= errors

        envs = settled(emu)
        assert all(e["state"] == "FROZEN" for e in envs), envs
        served = sum(e["invocations"] for e in envs)
        assert served <= len(answered)
        pids = [e["pid"] for e in envs]
    assert gone(pids)
