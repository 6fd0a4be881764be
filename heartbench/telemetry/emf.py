"""The CloudWatch Embedded Metric Format record heartbench emits once per invocation.

Shape (docs/design.md): `_aws` metadata with namespace "Heartbench", dimensions [function, variant]
and six metrics, whose values are root keys next to the dimension values and the context keys
pair, env_id, cold_start, invocation and request_id (plus os_threads, not a metric).
"""

from __future__ import annotations

import json

NAMESPACE = "Heartbench"
DIMENSIONS = ("function", "variant")
METRICS = (("Threads", "Count"), ("Tasks", "Count"), ("RSS", "Bytes"), ("FDs", "Count"),
           ("GCObjects", "Count"), ("Heartbeats", "Count"))
CONTEXT_KEYS = ("pair", "env_id", "cold_start", "invocation", "request_id")

# shared by every record, never mutated
_DIRECTIVE = {"Namespace": NAMESPACE, "Dimensions": [list(DIMENSIONS)],
              "Metrics": [{"Name": name, "Unit": unit} for name, unit in METRICS]}


def record(timestamp_ms: int, dimensions: dict, metrics: dict, context: dict) -> dict:
    """One EMF object: dimension values, metric values and context keys as root keys."""
    missing = [k for k in DIMENSIONS if k not in dimensions] + \
        [name for name, _ in METRICS if name not in metrics]
    if missing:
        raise ValueError(f"EMF record lacks {', '.join(missing)}")
    return {"_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [_DIRECTIVE]},
            **dimensions, **metrics, **context}


def line(obj: dict) -> str:
    """Compact JSON on one line (no newline)."""
    return json.dumps(obj, separators=(",", ":"))


def is_heartbench_record(obj: object) -> bool:
    """True for a parsed JSON object that is one of our EMF records."""
    if not isinstance(obj, dict):
        return False
    directives = obj.get("_aws", {}).get("CloudWatchMetrics") if isinstance(obj.get("_aws"),
                                                                            dict) else None
    return bool(directives) and directives[0].get("Namespace") == NAMESPACE


def find_records(log_text: str) -> list[dict]:
    """Every heartbench EMF record in a block of log text, in order."""
    found = []
    for raw in log_text.splitlines():
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if is_heartbench_record(obj):
            found.append(obj)
    return found
