"""Settings of one emulator run, shared by the pools and environments."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

SYNC_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024          # 6291456: request and response
ASYNC_PAYLOAD_LIMIT_BYTES = 1024 * 1024             # 1048576: Event invocations
CLIENT_CONTEXT_LIMIT_BYTES = 3583


PLACEHOLDER_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "heartbench", "AWS_SECRET_ACCESS_KEY": "heartbench"}


def caller_credentials() -> dict[str, str]:
    """The emulator's own AWS credentials, for functions that must reach real AWS services
    (`--pass-credentials`); placeholders for whatever is not set."""
    creds = {key: os.environ.get(key, value) for key, value in PLACEHOLDER_CREDENTIALS.items()}
    if os.environ.get("AWS_SESSION_TOKEN"):
        creds["AWS_SESSION_TOKEN"] = os.environ["AWS_SESSION_TOKEN"]
    return creds


@dataclasses.dataclass
class EmulatorOptions:
    log_dir: Path
    host: str = "127.0.0.1"
    freeze: bool = True
    idle_timeout_s: float | None = 600.0
    init_timeout_s: float = 10.0
    account_concurrency: int = 1000
    async_retry_delays_s: tuple[float, ...] = (60.0, 120.0)
    max_event_age_s: float = 6 * 3600.0
    memory_poll_interval_s: float = 0.02
    handoff_grace_s: float = 0.05
    region: str = "us-east-1"
    account_id: str = "123456789012"
    max_response_bytes: int = SYNC_PAYLOAD_LIMIT_BYTES
    env_overrides: dict[str, str] = dataclasses.field(default_factory=dict)
    # What the function sees as its role's credentials. Placeholders by default, so that code run
    # here cannot act on a real AWS account by accident.
    credentials: dict[str, str] = dataclasses.field(default_factory=lambda: dict(PLACEHOLDER_CREDENTIALS))

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
