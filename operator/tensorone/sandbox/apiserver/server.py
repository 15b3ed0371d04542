"""HTTP routing of the sandbox API server on top of kmock's ``KubernetesEmulator``.

kmock provides the request parsing, the request log that tests may assert on, and the aiohttp plumbing; this
subclass replaces its simplistic object handling with :class:`~.store.Store` (real Kubernetes semantics) and adds
discovery of CRDs created through the API, selectors, watch resumption/bookmarks/410, tables and pod logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp.web
from kmock import KubernetesEmulator
from kmock._internal import rendering

from tensorone.sandbox.apiserver import errors, protobuf, selectors, tables
from tensorone.sandbox.apiserver.registry import (
    Registry,
    ResourceType,
    openapi_v3_group_version,
    openapi_v3_root,
)
from tensorone.sandbox.apiserver.store import Event, Obj, Store

logger = logging.getLogger(__name__)

LogProvider = Callable[[str, str, Mapping[str, str]], Awaitable[bytes | AsyncIterator[bytes]]]

_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-tensorone-sandbox",
    "gitCommit": "sandbox",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _json_response(body: Any, status: int = 200, warnings: list[str] | None = None) -> aiohttp.web.Response:
    headers = {}
    if warnings:
        headers["Warning"] = ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in warnings)
    return aiohttp.web.Response(
        body=json.dumps(body).encode(), status=status, content_type="application/json", headers=headers
    )


def _parsed_by_kmock(request: rendering.Request) -> bool:
    """Whether kmock's parse already decoded the JSON body into ``request.data`` (so it need not be decoded twice).

    kmock keeps ``data`` None or a form's MultiDict (no JSON value) when the body is no JSON; a JSON ``null``
    body and bodies in other charsets than UTF-8 are decoded again to keep exactly the old results and errors.
    ``data`` belongs to kmock's request log: the store copies or only reads request bodies, never changes them.
    """
    charset = (request._raw_request.charset if request._raw_request is not None else None) or "utf-8"
    return isinstance(request.data, (dict, list, str, int, float)) and charset.lower() in ("utf-8", "utf8")


class SandboxApiServer(KubernetesEmulator):
    """A Kubernetes API server good enough for kopf, the kubernetes client, and kubectl."""

    def __init__(self, store: Store | None = None, bookmark_interval: float = 5.0) -> None:
        super().__init__()
        self.registry = store.registry if store else Registry()
        self.store = store or Store(self.registry)
        self.bookmark_interval = bookmark_interval
        self.log_provider: LogProvider | None = None

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Parse with kmock (keeping its request log for assertions), then serve with Kubernetes semantics."""
        body = await raw_request.read()
        try:
            request = await rendering.Request._parse(raw_request, id=len(self._requests))
        except ValueError:  # kmock's path parser trips over e.g. /api/v1/namespaces; we parse paths ourselves
            request = rendering.Request(
                id=len(self._requests),
                method=raw_request.method,
                url=raw_request.url,
                params=dict(raw_request.query),
                headers=dict(raw_request.headers),
                body=body,
                raw_request=raw_request,
            )
        self._requests.append(request)
        return await self._handle(request)

    # kmock calls _handle() for every parsed request; we serve everything here.
    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        if len(self._requests) > 2000:  # kmock logs every request; keep the log bounded in long runs
            del self._requests[:1000]
        try:
            return await self._route(request)
        except errors.ApiError as exc:
            return _json_response(exc.to_status(), exc.code)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # the server must answer like Kubernetes even on its own bugs
            logger.exception("sandbox API server failed on %s %s", request.method, request.url)
            return _json_response(errors.ApiError(500, "InternalError", repr(exc)).to_status(), 500)

    async def _route(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        path = request.url.path.rstrip("/") or "/"
        method = str(request.method.value).upper()
        parts = [p for p in path.split("/") if p]
        if path in ("/healthz", "/readyz", "/livez"):
            return aiohttp.web.Response(text="ok")
        if path == "/version":
            return _json_response(_VERSION)
        if path == "/":
            return _json_response(
                {
                    "paths": [
                        "/api",
                        "/api/v1",
                        "/apis",
                        "/healthz",
                        "/version",
                        *sorted(f"/apis/{g}" for g in self.registry.groups()),
                    ]
                }
            )
        if path == "/api":
            return _json_response(
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": request.url.host or ""}
                    ],
                }
            )
        if path == "/apis":
            return _json_response(self.registry.api_group_list())
        if parts[0] == "apis" and len(parts) == 2:
            versions = self.registry.groups().get(parts[1])
            if not versions:
                raise errors.resource_not_found(path)
            return _json_response(self.registry.api_group(parts[1], versions))
        if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            listing = self.registry.resource_list(group, version)
            if listing is None:
                raise errors.resource_not_found(path)
            return _json_response(listing)
        if path == "/openapi/v3":
            return _json_response(openapi_v3_root(self.registry))
        if parts[:2] == ["openapi", "v3"] and len(parts) >= 4:
            group, version = (
                ("", parts[3]) if parts[2] == "api" else (parts[3], parts[4] if len(parts) > 4 else "")
            )
            document = openapi_v3_group_version(self.registry, group, version)
            if document is None:
                raise errors.resource_not_found(path)
            return _json_response(document)
        if parts[0] not in ("api", "apis"):
            raise errors.resource_not_found(path)
        return await self._serve_resource(request, method, parts)

    # -- resources ------------------------------------------------------------------------------------------

    def _parse_resource_path(
        self, parts: list[str]
    ) -> tuple[ResourceType, str, str | None, str | None, str | None]:
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        namespace: str | None = None
        if rest and rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = "/".join(rest[2:]) or None
        rtype = self.registry.get(group, version, plural)
        if rtype is None:
            raise errors.resource_not_found("/" + "/".join(parts))
        return rtype, version, namespace, name, sub

    async def _serve_resource(
        self, request: rendering.Request, method: str, parts: list[str]
    ) -> aiohttp.web.StreamResponse:
        rtype, version, namespace, name, sub = self._parse_resource_path(parts)
        params = request.params
        if rtype.namespaced is False:
            namespace = None
        body: Any = self._body(request) if method in ("POST", "PUT", "PATCH", "DELETE") else None
        dry_run = params.get("dryRun") == "All"
        strict = {"Strict": True, "Ignore": False}.get(params.get("fieldValidation", "Warn"))
        if sub and sub not in rtype.subresources and sub != "status":
            raise errors.resource_not_found("/" + "/".join(parts))
        if sub == "status" and not rtype.has_status:
            raise errors.resource_not_found("/" + "/".join(parts))
        if sub == "log":
            return await self._serve_log(request, namespace or "default", name or "")
        if method == "GET":
            if params.get("watch") in ("true", "1"):
                return await self._watch_objects(request, rtype, version, namespace, name)
            if name is None:
                return self._list_objects(request, rtype, version, namespace)
            obj = self.store.view_object(rtype, namespace, name)
            return self._respond_objects(request, rtype, version, [obj], single=True)
        if method == "POST":
            if (name is not None and sub == "binding") or (name is None and rtype.plural == "bindings"):
                return self._bind(rtype, namespace, name or "", body)
            if name is not None and sub == "eviction":
                self.store.delete(rtype, namespace, name, (body or {}).get("deleteOptions"))
                return _json_response(
                    {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}, 201
                )
            if name is not None:
                raise errors.method_not_allowed()
            result = self.store.create(
                rtype, namespace, body, version=version, strict=strict, dry_run=dry_run
            )
            return _json_response(self._present(result.view, rtype, version), 201, result.warnings)
        if method == "PUT" and name is not None:
            result = self.store.update(
                rtype, namespace, name, body, subresource=sub, version=version, strict=strict, dry_run=dry_run
            )
            return _json_response(self._present(result.view, rtype, version), 200, result.warnings)
        if method == "PATCH" and name is not None:
            content_type = (
                request.headers.get("Content-Type", "application/merge-patch+json").split(";")[0].strip()
            )
            result = self.store.patch(
                rtype,
                namespace,
                name,
                content_type,
                body,
                subresource=sub,
                version=version,
                strict=strict,
                dry_run=dry_run,
            )
            return _json_response(self._present(result.view, rtype, version), 200, result.warnings)
        if method == "DELETE":
            options = dict(body or {})
            for key in ("propagationPolicy", "gracePeriodSeconds"):
                if key in params:
                    options[key] = params[key]
            if name is None:
                return self._delete_collection(request, rtype, version, namespace, options)
            obj, gone = self.store.delete(rtype, namespace, name, options, dry_run=dry_run)
            if gone and rtype.custom:
                return _json_response(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {
                            "name": name,
                            "group": rtype.group,
                            "kind": rtype.plural,
                            "uid": obj["metadata"]["uid"],
                        },
                    }
                )
            return _json_response(
                self._present(obj, rtype, version), 200 if gone else 202 if not rtype.custom else 200
            )
        raise errors.method_not_allowed()

    @staticmethod
    def _body(request: rendering.Request) -> Any:
        if not request.body:
            return None
        if "protobuf" in request.headers.get("Content-Type", ""):
            try:
                return protobuf.decode(request.body)
            except protobuf.ProtobufError as exc:
                raise errors.ApiError(415, "UnsupportedMediaType", str(exc)) from exc
        if _parsed_by_kmock(request):
            return request.data
        try:
            return json.loads(request.body)
        except ValueError as exc:
            raise errors.bad_request(f"the body of the request was in an unknown format: {exc}") from exc

    @staticmethod
    def _present(obj: Obj, rtype: ResourceType, version: str) -> Obj:
        """``obj`` with the apiVersion of the request, without changing ``obj`` (it may be a stored object).

        A changed apiVersion gets a shallow copy, in which the key keeps its place: the JSON is the same as
        if ``obj`` had been changed in place.
        """
        api_version = rtype.api_version(version)
        if obj.get("apiVersion") == api_version:
            return obj
        return {**obj, "apiVersion": api_version}

    def _predicate(
        self, request: rendering.Request, rtype: ResourceType, version: str
    ) -> Callable[[Obj], bool]:
        return selectors.make_filter(
            request.params.get("labelSelector"),
            request.params.get("fieldSelector"),
            rtype.plural,
            rtype.kind,
            rtype.api_version(version),
        )

    def _list_objects(
        self, request: rendering.Request, rtype: ResourceType, version: str, namespace: str | None
    ) -> aiohttp.web.StreamResponse:
        predicate = self._predicate(request, rtype, version)
        items = [obj for obj in self.store.view_objects(rtype, namespace) if predicate(obj)]
        return self._respond_objects(
            request, rtype, version, items, single=False, rv=self.store.resource_version
        )

    def _respond_objects(
        self,
        request: rendering.Request,
        rtype: ResourceType,
        version: str,
        items: list[Obj],
        *,
        single: bool,
        rv: int | None = None,
    ) -> aiohttp.web.StreamResponse:
        items = [self._present(obj, rtype, version) for obj in items]
        resource_version = str(rv if rv is not None else self.store.resource_version)
        if "as=Table" in request.headers.get("Accept", ""):
            table = tables.to_table(
                rtype,
                version,
                items,
                resource_version,
                request.params.get("includeObject", "PartialObjectMetadata"),
            )
            return _json_response(table)
        if single:
            return _json_response(items[0])
        return _json_response(
            {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version(version),
                "metadata": {"resourceVersion": resource_version},
                "items": items,
            }
        )

    def _delete_collection(
        self,
        request: rendering.Request,
        rtype: ResourceType,
        version: str,
        namespace: str | None,
        options: dict[str, Any],
    ) -> aiohttp.web.StreamResponse:
        items, rv = self.store.list_objects(rtype, namespace, self._predicate(request, rtype, version))
        for obj in items:
            with contextlib.suppress(errors.ApiError):
                self.store.delete(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"], options)
        return _json_response(
            {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version(version),
                "metadata": {"resourceVersion": str(rv)},
                "items": items,
            }
        )

    def _bind(
        self, rtype: ResourceType, namespace: str | None, name: str, body: Any
    ) -> aiohttp.web.StreamResponse:
        target = ((body or {}).get("target") or {}).get("name")
        binding_meta = (body or {}).get("metadata") or {}
        pod_name = name or binding_meta.get("name", "")
        pods = self.registry.get("", "v1", "pods")
        assert pods is not None
        if not target:
            required = {"reason": "FieldValueRequired", "field": "target.name", "message": "Required value"}
            raise errors.invalid("Binding", "", pod_name, [required])
        self.store.bind(pods, namespace, pod_name, target, binding_meta.get("annotations"))
        return _json_response({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}, 201)

    # -- watch ----------------------------------------------------------------------------------------------

    async def _watch_objects(
        self,
        request: rendering.Request,
        rtype: ResourceType,
        version: str,
        namespace: str | None,
        name: str | None,
    ) -> aiohttp.web.StreamResponse:
        params = request.params
        field_selector = params.get("fieldSelector")
        if name is not None:
            field_selector = ",".join(filter(None, [field_selector, f"metadata.name={name}"]))
        predicate = selectors.make_filter(
            params.get("labelSelector"), field_selector, rtype.plural, rtype.kind, rtype.api_version(version)
        )
        raw = request._raw_request
        assert raw is not None
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(raw)
        queue = self.store.subscribe()
        try:
            await self._stream_watch(response, raw, queue, rtype, version, namespace, predicate, params)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unsubscribe(queue)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    async def _stream_watch(
        self,
        response: aiohttp.web.StreamResponse,
        raw: aiohttp.web.BaseRequest,
        queue: asyncio.Queue[Event],
        rtype: ResourceType,
        version: str,
        namespace: str | None,
        predicate: Callable[[Obj], bool],
        params: Mapping[str, str],
    ) -> None:
        def lines(events: list[Event]) -> bytes:
            return b"".join(self._event_line(event, rtype, version, namespace, predicate) for event in events)

        requested = params.get("resourceVersion", "")
        if requested in ("", "0"):
            last_rv = self.store.resource_version
            items = [obj for obj in self.store.view_objects(rtype, namespace) if predicate(obj)]
            await _write(
                response, b"".join(self._encode("ADDED", obj, rtype, version, None) for obj in items)
            )
        else:
            try:
                since = int(requested)
            except ValueError as exc:
                raise errors.bad_request(f"invalid resource version: {requested!r}") from exc
            if since < self.store.oldest_resource_version():
                status = errors.gone(
                    f"too old resource version: {since} ({self.store.oldest_resource_version()})"
                )
                await response.write(
                    (json.dumps({"type": "ERROR", "object": status.to_status()}) + "\n").encode()
                )
                return
            replay = [event for event in self.store.history if event.resource_version > since]
            last_rv = replay[-1].resource_version if replay else since
            await _write(response, lines(replay))
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        next_bookmark = loop.time() + self.bookmark_interval
        while True:
            now = loop.time()
            if deadline is not None and now >= deadline:
                return
            wait = min(1.0, next_bookmark - now if bookmarks else 1.0, (deadline - now) if deadline else 1.0)
            try:
                async with asyncio.timeout(max(wait, 0.01)):
                    event = await queue.get()
            except TimeoutError:
                if raw.transport is None or raw.transport.is_closing():
                    return
                if bookmarks and loop.time() >= next_bookmark:
                    next_bookmark = loop.time() + self.bookmark_interval
                    await response.write(
                        (
                            json.dumps(
                                {
                                    "type": "BOOKMARK",
                                    "object": {
                                        "kind": rtype.kind,
                                        "apiVersion": rtype.api_version(version),
                                        "metadata": {"resourceVersion": str(self.store.resource_version)},
                                    },
                                }
                            )
                            + "\n"
                        ).encode()
                    )
                continue
            fresh = [e for e in (event, *_drain(queue)) if e.resource_version > last_rv]  # queued in order
            if fresh:
                last_rv = fresh[-1].resource_version
                await _write(response, lines(fresh))

    def _encode(
        self, event_type: str, obj: Obj, rtype: ResourceType, version: str, event: Event | None
    ) -> bytes:
        """One watch line; for a store event, serialised once per (type, apiVersion) for all watches."""
        key = (event_type, rtype.api_version(version))
        line = event.encoded.get(key) if event is not None else None
        if line is None:
            line = (
                json.dumps({"type": event_type, "object": self._present(obj, rtype, version)}) + "\n"
            ).encode()
            if event is not None:
                event.encoded[key] = line
        return line

    def _event_line(
        self,
        event: Event,
        rtype: ResourceType,
        version: str,
        namespace: str | None,
        predicate: Callable[[Obj], bool],
    ) -> bytes:
        """What one watch sends for a store event (empty if it does not concern the watch).

        A change that makes an object match (or stop matching) the selector is sent as ADDED (DELETED).
        """
        if event.group != rtype.group or event.plural != rtype.plural:
            return b""
        if namespace is not None and event.namespace != namespace:
            return b""
        now = predicate(event.obj)
        before = event.previous is not None and predicate(event.previous)
        shown: str | None = None
        if event.type == "ADDED" and now:
            shown = "ADDED"
        elif event.type == "MODIFIED":
            shown = "MODIFIED" if now and before else "ADDED" if now else "DELETED" if before else None
        elif event.type == "DELETED" and (now or before):
            shown = "DELETED"
        return self._encode(shown, event.obj, rtype, version, event) if shown else b""

    # -- logs -----------------------------------------------------------------------------------------------

    async def _serve_log(
        self, request: rendering.Request, namespace: str, name: str
    ) -> aiohttp.web.StreamResponse:
        pods = self.registry.get("", "v1", "pods")
        assert pods is not None
        self.store.get(pods, namespace, name)  # 404 for unknown pods, as the server does
        if self.log_provider is None:
            raise errors.bad_request(f'pod "{name}" has no node agent serving logs')
        content = await self.log_provider(namespace, name, request.params)
        if isinstance(content, bytes):
            return aiohttp.web.Response(body=content, content_type="text/plain")
        raw = request._raw_request
        assert raw is not None
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(raw)
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            async for chunk in content:
                await response.write(chunk)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response


def _drain(queue: asyncio.Queue[Event]) -> list[Event]:
    """The events already queued, so that a watch sends a burst of changes in one write."""
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


async def _write(response: aiohttp.web.StreamResponse, data: bytes) -> None:
    """Write watch lines (one chunk for many lines saves a socket write per line); nothing if empty."""
    if data:
        await response.write(data)


async def serve(
    handler: SandboxApiServer,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[aiohttp.web.AppRunner | Any, int]:
    """Listen on host:port (0 = any free port); returns the runner (for cleanup) and the bound port."""
    server = aiohttp.web.Server(handler, handler_cancellation=True)
    runner = aiohttp.web.ServerRunner(server)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)
