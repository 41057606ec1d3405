"""Capture what a run is: its provenance (code, environment, machine) and its params."""
