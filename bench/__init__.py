"""Benchmarks that print figures next to their baselines: `python -m bench` (or `make bench`)."""
