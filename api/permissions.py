"""Who may change the graph through the API: one permission class per role, shared by every mutation.

Reads need the reader role, which the request's authentication already checked. A mutation names
the least role it needs with `permission_classes=[requires(Role.ADMIN)]`; a caller below it gets
HTTP 403 and an error naming the role, and the resolver never runs, so nothing is written.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from api.auth import Role


@cache
def requires(role: Role) -> type[BasePermission]:
    """The permission class for `role` or above (one class per role, so schemas stay comparable)."""

    class HasRole(BasePermission):
        message = f"needs role {role.name.lower()}"

        def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
            if info.context.principal.role >= role:
                return True
            response = getattr(info.context, "response", None)
            if response is not None:
                response.status_code = 403
            return False

    HasRole.__name__ = HasRole.__qualname__ = f"Requires{role.name.title()}"
    return HasRole


def actor(info: Info) -> str:
    """Who made a change, as recorded on what a mutation writes."""
    return info.context.principal.name
