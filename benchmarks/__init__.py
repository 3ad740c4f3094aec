"""Command-line benchmarks and result tables; output lands in benchmarks/results/."""
