"""`heartbench report RUN_DIR`: the leaky-vs-fixed comparison report of a run directory."""

from __future__ import annotations

import argparse
import os

from heartbench import __version__
from heartbench.errors import EXIT_OK, HeartbenchError

NAME = "report"
HELP = ("Write report.html, summary.md, results.json, junit.xml and figures/ for a run "
        "directory.")


def prepare_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. reports/<run-id>")
    p.add_argument("--out", metavar="DIR", default=os.environ.get("HEARTBENCH_REPORT_OUT"),
                   help="write the report here instead of into RUN_DIR (env HEARTBENCH_REPORT_OUT)")
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing report (by default an existing one is kept and "
                        "the command fails)")


def run(args: argparse.Namespace) -> int:
    # analysis (numpy, scipy, matplotlib) is imported only when the command runs
    from analysis.report import write_report

    try:
        files = write_report(args.run_dir, out_dir=args.out, force=args.force,
                             tool_version=__version__)
    except ValueError as e:   # RunDirError, ReportError: one line naming the file
        raise HeartbenchError(str(e)) from None
    print(f"heartbench report: wrote {files.html}")
    print(f"heartbench report: wrote {files.summary}, {files.results.name}, {files.junit.name} "
          f"and {len(files.figures)} figures")
    if files.failed_checks:
        print(f"heartbench report: {files.failed_checks} gate checks fail; "
              f"see `heartbench gate {args.run_dir}`")
    return EXIT_OK
