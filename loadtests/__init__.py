"""Benchmarks and locust files."""
