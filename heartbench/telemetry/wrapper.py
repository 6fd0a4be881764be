"""Measure an unmodified handler: `heartbench.telemetry.wrapper.handler` wraps the handler named in
HEARTBENCH_ORIGINAL_HANDLER (module.function, as in `_HANDLER`).

exec_wrapper.sh sets that variable and points `_HANDLER` here, so the runtime imports this module at
init, which imports the original module (its import errors surface at init, as they would without
the wrapper) and instruments the original function. A handler already decorated with `instrument`
is not wrapped twice.
"""

from __future__ import annotations

import importlib
import os

from heartbench.telemetry import loops, shim

ORIGINAL_HANDLER_ENV = "HEARTBENCH_ORIGINAL_HANDLER"


def load_handler(spec: str):
    """Import `module.function` (module may be written path/to/module) and return the function."""
    module_name, _, function_name = spec.rpartition(".")
    if not module_name or not function_name:
        raise ValueError(f"Bad handler {spec!r}: expected module.function")
    module = importlib.import_module(module_name.replace("/", "."))
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise AttributeError(f"Handler {function_name!r} missing on module {module_name!r}") from None


def _wrapped_original():
    spec = os.environ.get(ORIGINAL_HANDLER_ENV)
    if not spec:
        raise RuntimeError(f"{ORIGINAL_HANDLER_ENV} is not set: run the function through "
                           f"heartbench/telemetry/exec_wrapper.sh")
    loops.install()  # before the original module runs, so its event loops are tracked from birth
    return shim.instrument(load_handler(spec))


handler = _wrapped_original()
