"""The Python runtime's bootstrap: read the handler from `_HANDLER`, as Lambda's own Python runtime
does, and run AWS's runtime interface client (awslambdaric) in this process.

Because the handler comes from the environment, an exec wrapper (AWS_LAMBDA_EXEC_WRAPPER) can change
`_HANDLER` before it execs this bootstrap, exactly as on Lambda.
"""

import os
import sys


def main() -> None:
    handler = os.environ.get("_HANDLER")
    if not handler:
        print("heartbench pybootstrap: _HANDLER is not set", file=sys.stderr)
        sys.exit(2)
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    if task_root and task_root not in sys.path:
        sys.path.insert(0, task_root)
    from awslambdaric.__main__ import main as runtime_main

    runtime_main([sys.argv[0], handler])


if __name__ == "__main__":
    main()
