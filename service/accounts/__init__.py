"""Accounts: users with a role per project, API tokens, the desk's login, and the access rule of every route.

The public face for other features: `PrincipalDep` (who is calling, None while accounts are off), `AnyonesDep` (whether
the caller may delete what anyone wrote), `can_decide` (whether a name may decide suggestions in the current
project)."""

from service.accounts.access import AnyonesDep, PrincipalDep
from service.accounts.service import can_decide

__all__ = ["AnyonesDep", "PrincipalDep", "can_decide"]
