"""Analysis of heartbench run directories: trend statistics and leak verdicts.

Reads run files only; never imports the emulator or Locust.
"""
