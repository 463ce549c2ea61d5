"""Accounts: users with a role per project, API tokens, the desk's login, and the access rule of every route.

The public face for other features: `PrincipalDep` (who is calling, None while accounts are off)."""

from service.accounts.access import PrincipalDep

__all__ = ["PrincipalDep"]
