"""Benchmarks (not tests): each module sets up its own loopback world and prints a
results table. See docs/benchmarks.md for the commands, targets and recorded numbers."""
