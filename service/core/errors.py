"""Errors a domain operation raises for a request it refuses; `status_code` says how HTTP reports it (the CLI
prints the message)."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400


class Forbidden(DomainError):
    """The caller may not do this to this row (another person's comment)."""

    status_code = 403


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class InvalidInput(DomainError):
    """The request is well-formed but its content cannot be used (an invalid edit, an empty backlog, ...)."""

    status_code = 422


class TooLarge(DomainError):
    """More than a limit allows in one request (rows in an upload, ...); the message names the setting."""

    status_code = 413


def check_rows(rows: int, limit: int, what: str) -> None:
    """Refuse an upload of more rows than REFINERY_MAX_ROWS allows."""
    if rows > limit:
        raise TooLarge(f"{what} has {rows:,} rows; one upload takes at most {limit:,} (REFINERY_MAX_ROWS): split it")
