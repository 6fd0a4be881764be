"""The local system under test: an embedded DynamoDB server, the heartbeat tables, the emulator.

Started by the Locust master (or the single local process) in the `init` event, never at import
time, and stopped in the `quitting` event; `atexit` stops whatever is still running if the process
leaves another way. Both servers run in their own process groups, so a Ctrl-C in the terminal
reaches only Locust, which then stops them in order.
"""

from __future__ import annotations

import atexit
import logging
import os
from pathlib import Path

from heartbench.emulator.process import EmulatorProcess
from heartbench.store import DynamoServer, ensure_tables

logger = logging.getLogger(__name__)


class LocalStack:
    """DynamoDB (embedded unless `dynamodb_endpoint` is given) + tables + emulator on `config`."""

    def __init__(self, config: str | os.PathLike, *, no_freeze: bool = False,
                 dynamodb_endpoint: str | None = None, log_dir: str | os.PathLike | None = None,
                 emulator_args: list[str] | None = None):
        self.config = Path(config)
        self.no_freeze = no_freeze
        self.dynamodb_endpoint = dynamodb_endpoint or None
        self.log_dir = Path(log_dir) if log_dir else None
        self.emulator_args = list(emulator_args or [])
        self.dynamo: DynamoServer | None = None
        self.emulator: EmulatorProcess | None = None
        self.tables: list[dict] = []

    @property
    def url(self) -> str | None:
        return self.emulator.url if self.emulator else None

    def start(self) -> "LocalStack":
        atexit.register(self.stop)
        try:
            if self.dynamodb_endpoint is None:
                log_path = self.log_dir / "dynamodb.log" if self.log_dir else None
                self.dynamo = DynamoServer(log_path=log_path).start()
                self.dynamodb_endpoint = self.dynamo.endpoint_url
                logger.info("embedded DynamoDB server at %s", self.dynamodb_endpoint)
            self.tables = ensure_tables(self.dynamodb_endpoint)
            args = ["--env", f"AWS_ENDPOINT_URL_DYNAMODB={self.dynamodb_endpoint}",
                    *(["--no-freeze"] if self.no_freeze else []), *self.emulator_args]
            self.emulator = EmulatorProcess(self.config, extra_args=args,
                                            log_dir=self.log_dir / "logs" if self.log_dir else None)
            self.emulator.start()
            logger.info("emulator at %s (functions from %s)", self.emulator.url, self.config)
        except BaseException:
            self.stop()
            raise
        return self

    def stop_emulator(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    def stop(self) -> None:
        """Stop the emulator, then DynamoDB. Safe to call more than once."""
        atexit.unregister(self.stop)
        self.stop_emulator()
        if self.dynamo is not None:
            self.dynamo.stop()
            self.dynamo = None
