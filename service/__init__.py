"""Refinery's service: storage, the review workflow, the HTTP API and the CLI. It owns all I/O."""
