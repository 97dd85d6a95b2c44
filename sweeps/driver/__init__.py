"""The sweep driver: what every sweep script shares (CLI, data, Tune trial, state file, run loop, searchers)."""
