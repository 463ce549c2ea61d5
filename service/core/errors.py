"""Errors a domain operation raises for a request it refuses; `status_code` says how HTTP reports it (the CLI
prints the message)."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class InvalidInput(DomainError):
    """The request is well-formed but its content cannot be used (an invalid edit, an empty backlog, ...)."""

    status_code = 422
