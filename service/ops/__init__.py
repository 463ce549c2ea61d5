"""Operating Refinery: structured logs with request ids (logs, requests), Prometheus metrics at /metrics (metrics),
backup and restore (backup, cli); `api.install` wires the first two into an app."""
