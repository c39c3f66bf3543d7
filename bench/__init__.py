"""Benchmarks (not tests): ``python -m bench <name>`` runs ``bench/bench_<name>.py``."""
