"""A local AWS Lambda emulator whose execution environments are real, freezable runtime processes."""
