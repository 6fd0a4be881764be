"""heartbench: does your Lambda heartbeat code leak once it runs on AWS Lambda?"""

__version__ = "0.1.0"
