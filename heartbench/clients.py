"""boto3 clients for an emulator or any Lambda-compatible endpoint, tuned for load: no retries
(a throttle or error is data, not something to hide), a pool as large as the concurrency."""

from __future__ import annotations

import os

import boto3
import botocore.config


def lambda_client(endpoint_url: str | None, *, region: str = "us-east-1", pool_size: int = 10,
                  read_timeout_s: float = 60.0):
    """A Lambda client; endpoint_url None means AWS itself (credentials from the usual chain)."""
    config = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                    read_timeout=read_timeout_s, connect_timeout=5,
                                    max_pool_connections=pool_size)
    kwargs = {}
    if endpoint_url is not None:
        kwargs["endpoint_url"] = endpoint_url
        if not os.environ.get("AWS_ACCESS_KEY_ID"):  # local endpoints accept any credentials
            kwargs.update(aws_access_key_id="heartbench", aws_secret_access_key="heartbench")
    return boto3.client("lambda", region_name=region, config=config, **kwargs)
