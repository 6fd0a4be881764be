"""Collectors: what the load test learns about each invocation and each execution environment.

- `logtail`: in-band, from the invocation's own log tail (REPORT line + heartbench EMF line);
  works against any Lambda, deployed or emulated.
- `sampler`: out-of-band, psutil samples of every environment process of a local emulator.
- `growth`: initial / peak / increase of the in-band values per function.
No module here imports Locust or boto3.
"""

from heartbench.collectors.growth import GrowthTable
from heartbench.collectors.logtail import (
    decode_log_result, error_type_of, find_report, find_telemetry, invocation_row,
    parse_report_line,
)
from heartbench.collectors.sampler import EnvironmentSampler, introspection_client, sample_process

__all__ = [
    "EnvironmentSampler", "GrowthTable", "decode_log_result", "error_type_of", "find_report",
    "find_telemetry", "introspection_client", "invocation_row", "parse_report_line",
    "sample_process",
]
