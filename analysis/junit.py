"""JUnit XML for gate outcomes: one testcase per check per variant, for CI test-result viewers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path


def render_junit(outcomes, suite_name: str, properties: dict[str, str] | None = None) -> str:
    """outcomes: objects with `name`, `function` and `message` (None when the check passed)."""
    failures = sum(o.message is not None for o in outcomes)
    suite = ET.Element("testsuite", name=suite_name, tests=str(len(outcomes)),
                       failures=str(failures), errors="0", skipped="0")
    if properties:
        props = ET.SubElement(suite, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=key, value=str(value))
    for outcome in outcomes:
        case = ET.SubElement(suite, "testcase", classname=outcome.function, name=outcome.name)
        if outcome.message is not None:
            failure = ET.SubElement(case, "failure", message=outcome.message, type="GateFailure")
            failure.text = outcome.message
    suites = ET.Element("testsuites", name="heartbench", tests=str(len(outcomes)),
                        failures=str(failures))
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(path: Path, outcomes, suite_name: str, properties: dict[str, str] | None = None) -> None:
    Path(path).write_text(render_junit(outcomes, suite_name, properties))
