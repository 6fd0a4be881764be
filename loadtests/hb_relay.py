"""Invocation rows from Locust workers to the master, in batches, through Locust's own messages.

Workers collect each invocation's row (the in-band collector runs where the call was made) and send
them to the master as one `heartbench_rows` message every `BATCH_INTERVAL_S` or `BATCH_MAX_ROWS`
rows, whichever comes first; the master owns the run directory and appends them. A worker flushes
what it holds when its test stops and when it quits.
"""

from __future__ import annotations

import logging

import gevent

MESSAGE_TYPE = "heartbench_rows"
BATCH_MAX_ROWS = 200
BATCH_INTERVAL_S = 0.5

logger = logging.getLogger(__name__)


class RowRelay:
    """Worker side: buffer rows and send them to the master in batches."""

    def __init__(self, runner, interval_s: float = BATCH_INTERVAL_S,
                 max_rows: int = BATCH_MAX_ROWS):
        self.runner = runner
        self.interval_s = interval_s
        self.max_rows = max_rows
        self.rows: list[dict] = []
        self.sent_rows = 0
        self.sent_batches = 0
        self._greenlet = None

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.max_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        batch, self.rows = self.rows, []
        try:
            self.runner.send_message(MESSAGE_TYPE, batch)
        except Exception as e:  # the master is gone: nothing else to do with the rows
            logger.warning("could not send %d invocation rows to the master: %s", len(batch), e)
            return
        self.sent_rows += len(batch)
        self.sent_batches += 1

    def _loop(self) -> None:
        while True:
            gevent.sleep(self.interval_s)
            self.flush()

    def start(self) -> "RowRelay":
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
        self.flush()


def register_receiver(runner, on_rows) -> None:
    """Master side: call `on_rows(rows, worker_id)` for every batch a worker sends."""

    def receive(environment, msg, **kwargs):
        on_rows(msg.data, getattr(msg, "node_id", None))

    runner.register_message(MESSAGE_TYPE, receive)
