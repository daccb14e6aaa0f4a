"""The harness: evaluation protocol, trials, sweeps, results store, tracking, tables and the CLI."""
