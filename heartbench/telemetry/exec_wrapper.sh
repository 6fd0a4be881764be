#!/bin/sh
# AWS_LAMBDA_EXEC_WRAPPER script: measure any Python handler with heartbench's EMF telemetry without
# touching its code. The runtime command arrives as arguments; the runtime reads the handler from
# _HANDLER, so we keep the original in HEARTBENCH_ORIGINAL_HANDLER and point _HANDLER at the wrapper.
# The heartbench package must be importable by the runtime (deployment package or layer on Lambda).
set -e
if [ -z "${_HANDLER}" ]; then
    echo "heartbench exec wrapper: _HANDLER is not set" >&2
    exit 1
fi
if [ "${_HANDLER}" != "heartbench.telemetry.wrapper.handler" ]; then
    export HEARTBENCH_ORIGINAL_HANDLER="${_HANDLER}"
    export _HANDLER="heartbench.telemetry.wrapper.handler"
fi
exec "$@"
