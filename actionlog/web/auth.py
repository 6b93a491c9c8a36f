"""Access control of the public app: every route that returns or changes data needs a token
(``Authorization: Bearer TOKEN``) or the page's session cookie; signing in and out of the page.

Missing, unknown or revoked credentials: 401 with a JSON error (a page request is sent to the
sign-in page instead). The scope itself is not checked here: it travels with the caller to where
the SQL is built (`actionlog.query.sql`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from actionlog.access.guard import REFRESH_SECONDS, Authenticator
from actionlog.access.sessions import COOKIE, SessionRegistry
from actionlog.access.tokens import Principal, hash_secret
from actionlog.core.errors import StoreError, Unauthorized
from actionlog.web.context import AUTH_KEY, HTTP_KEY, POOL_KEY, PRINCIPAL, RELOAD_LOCK_KEY
from actionlog.web.streaming import error_response, json_response, store_error_response

__all__ = [
    "SIGN_IN_PATH",
    "SIGN_OUT_PATH",
    "add_auth_routes",
    "authenticate",
    "keep_credentials_fresh",
    "safe_next",
]

log = logging.getLogger(__name__)

SIGN_IN_PATH = "/auth/sign-in"
SIGN_OUT_PATH = "/auth/sign-out"
PAGE_SIGN_IN = "/ui/sign-in"
_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/favicon.ico", SIGN_IN_PATH, SIGN_OUT_PATH, PAGE_SIGN_IN})
_OPEN_PREFIXES = ("/static/",)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_open(request: web.Request) -> bool:
    path = request.path
    if path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
        return True
    return path == "/metrics" and request.app[HTTP_KEY].metrics_public


def _wants_page(request: web.Request) -> bool:
    return request.method == "GET" and (request.path == "/" or request.path.startswith("/ui/"))


def _identify(request: web.Request) -> Principal:
    auth = request.app[AUTH_KEY]
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer TOKEN'")
        return auth.by_token(token.strip())
    session = request.cookies.get(COOKIE)
    if session:
        return auth.by_session(session)
    raise Unauthorized("a token is needed: send 'Authorization: Bearer TOKEN' or sign in on the page")


async def identify(request: web.Request) -> Principal:
    """The caller of ``request``: its bearer token, else its session cookie.

    Raises:
        Unauthorized: neither, or not valid.
        StoreUnavailable: credentials cannot be checked now.
    """
    arrived = time.monotonic()
    try:
        return _identify(request)
    except Unauthorized:
        if "Authorization" not in request.headers and COOKIE not in request.cookies:
            raise
        await reload_since(request.app, arrived)
        return _identify(request)


async def reload_since(app: web.Application, arrived: float) -> None:
    """Make sure the credentials were loaded after ``arrived``, so that a token or session created
    a moment ago counts at once. Misses arriving together share one load: a flood of guesses
    costs the store one small query at a time, never one per guess."""
    async with app[RELOAD_LOCK_KEY]:
        if app[AUTH_KEY].loaded_at >= arrived:
            return

        def load() -> None:
            with app[POOL_KEY].client(wait=10) as store:
                app[AUTH_KEY].load(store)

        await asyncio.to_thread(load)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_open(request):
        return await handler(request)
    try:
        request[PRINCIPAL] = await identify(request)
    except Unauthorized as exc:
        if _wants_page(request):
            raise web.HTTPSeeOther(f"{PAGE_SIGN_IN}?{urllib.parse.urlencode({'next': request.path_qs})}") from None
        return error_response(401, "unauthorized", str(exc), headers={"WWW-Authenticate": 'Bearer realm="actionlog"'})
    except StoreError as exc:
        return store_error_response(exc)
    return await handler(request)


def _same_origin(request: web.Request) -> bool:
    """A browser's cross-site POST carries a foreign Origin: refuse it (a form of CSRF)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urllib.parse.urlsplit(origin).netloc == request.host


def safe_next(target: str | None) -> str:
    """Only a path of this server (never another site) is a place to go after signing in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/ui/reports"
    return target


async def sign_in(request: web.Request) -> web.StreamResponse:
    """Exchange a token (form field or JSON ``token``) for a session cookie."""
    if not _same_origin(request):
        return error_response(403, "forbidden", "cross-site sign-in refused")
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return error_response(400, "bad_request", "the body is not JSON")
        token, target = (body.get("token"), body.get("next")) if isinstance(body, dict) else (None, None)
    else:
        form = await request.post()
        token, target = form.get("token"), form.get("next")
    if not isinstance(token, str) or not token.strip():
        return error_response(400, "bad_request", "a token is needed")
    arrived = time.monotonic()
    try:
        principal = request.app[AUTH_KEY].by_token(token.strip())
    except Unauthorized:
        try:
            await reload_since(request.app, arrived)
            principal = request.app[AUTH_KEY].by_token(token.strip())
        except Unauthorized as exc:
            return _refused_sign_in(request, str(exc), target)
        except StoreError as exc:
            return store_error_response(exc)
    except StoreError as exc:
        return store_error_response(exc)
    return await _open_session(request, principal, target)


def _refused_sign_in(request: web.Request, message: str, target: object) -> web.StreamResponse:
    if request.content_type != "application/json":
        query = urllib.parse.urlencode({"error": "unknown or revoked token", "next": safe_next(str(target or ""))})
        raise web.HTTPSeeOther(f"{PAGE_SIGN_IN}?{query}")
    return error_response(401, "unauthorized", message)


async def _open_session(request: web.Request, principal: Principal, target: object) -> web.StreamResponse:
    settings = request.app[HTTP_KEY]
    lifetime = max(60, int(settings.session_hours * 3600))

    def open_session() -> tuple[str, str, int]:
        with request.app[POOL_KEY].client(wait=10) as store:
            return SessionRegistry(store).open(principal.name, lifetime)

    try:
        session, digest, expires_ms = await asyncio.to_thread(open_session)
    except StoreError as exc:
        return store_error_response(exc)
    request.app[AUTH_KEY].remember_session(digest, principal.name, expires_ms)
    if request.content_type == "application/json":
        response: web.StreamResponse = json_response({"name": principal.name, "role": principal.role})
    else:
        response = web.HTTPSeeOther(safe_next(str(target or "")))
    response.set_cookie(
        COOKIE,
        session,
        max_age=lifetime,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    if not _same_origin(request):
        return error_response(403, "forbidden", "cross-site sign-out refused")
    session = request.cookies.get(COOKIE)
    if session:
        digest = hash_secret(session)
        request.app[AUTH_KEY].forget_session(digest)

        def close() -> None:
            with request.app[POOL_KEY].client(wait=10) as store:
                SessionRegistry(store).close(digest)

        try:
            await asyncio.to_thread(close)
        except StoreError as exc:
            log.warning("a session could not be closed in the store (it expires by itself): %s", exc)
    response = web.HTTPSeeOther(PAGE_SIGN_IN)
    response.del_cookie(COOKIE, path="/")
    return response


def _secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def add_auth_routes(app: web.Application) -> None:
    app.router.add_post(SIGN_IN_PATH, sign_in)
    app.router.add_post(SIGN_OUT_PATH, sign_out)


async def keep_credentials_fresh(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: load the credentials before serving, then reload them every
    `REFRESH_SECONDS` until the app stops."""
    auth: Authenticator = app[AUTH_KEY]
    pool = app[POOL_KEY]

    def load() -> None:
        with pool.client(wait=30) as store:
            auth.load(store)

    with contextlib.suppress(StoreError):
        await asyncio.to_thread(load)

    async def refresh() -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await asyncio.to_thread(load)
            except StoreError as exc:
                log.warning("credentials not reloaded (checks fail closed after a while): %s", exc)

    task = asyncio.create_task(refresh())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
