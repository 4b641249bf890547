"""Benchmarks: seed a database fast, time the main pages and the streaming path. Numbers are printed,
never asserted; see bench/README.md."""
