"""The error type a user can cause, and the exit codes of the command line."""

EXIT_OK = 0
EXIT_LEAK = 1          # `check`: a leak was found; `gate`: a gate check failed
EXIT_USAGE = 2         # bad input, or a runtime error the user can act on
EXIT_INCONCLUSIVE = 3  # `check`: the evidence decides neither way


class HeartbenchError(Exception):
    """An error caused by input or environment: printed as one line, never a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.exit_code = exit_code
