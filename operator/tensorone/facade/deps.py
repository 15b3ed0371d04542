"""The facade's parts (one per process) and the request dependencies, as ``Annotated`` aliases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from tensorone.api.errors import ApiError, ErrorCode
from tensorone.catalog.gpus import GpuCatalog
from tensorone.facade.auth import KeyRing, Principal, parse_authorization
from tensorone.facade.kube import KubeClient
from tensorone.facade.limits import RateLimiter, client_address
from tensorone.facade.metrics import FacadeMetrics
from tensorone.facade.settings import Settings
from tensorone.facade.store import Store


@dataclass
class Facade:
    settings: Settings
    kube: KubeClient
    catalog: GpuCatalog
    store: Store
    keys: KeyRing
    limiter: RateLimiter
    client_limiter: RateLimiter
    auth_failure_limiter: RateLimiter
    metrics: FacadeMetrics = field(default_factory=FacadeMetrics)
    namespaces_ready: set[str] = field(default_factory=set)


def get_facade(request: Request) -> Facade:
    facade: Facade = request.app.state.facade
    return facade


FacadeDep = Annotated[Facade, Depends(get_facade)]
_api_key_header = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="`Bearer <api-key>` (a bare `<api-key>` is accepted too)",
)


async def authenticate(
    request: Request, facade: FacadeDep, authorization: Annotated[str | None, Security(_api_key_header)]
) -> Principal:
    """The caller's account, from its API key; then one token of its rate limit.

    A failed authentication takes a token of the client address's failure budget; once it is spent,
    ``limits.ClientRateLimit`` answers that address 429 before its next request is read.
    """
    key = parse_authorization(authorization)
    principal = await facade.keys.authenticate(key) if key else None
    if principal is None:
        facade.auth_failure_limiter.check(client_address(request.scope))
        raise ApiError(ErrorCode.UNAUTHORIZED)
    facade.limiter.check(principal.key_id)
    request.state.account = principal.account
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]
