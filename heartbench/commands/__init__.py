"""One module per `heartbench` subcommand, and the argument types they share."""

import argparse


def env_pair(text: str) -> tuple[str, str]:
    """argparse type of `--env KEY=VALUE`."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value
