"""Benchmarks (`make bench`): print JSON figures, write bench/results/latest.json."""
