"""The CLI's way to a report when a running worker holds the embedded store: its HTTP endpoint."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import orjson

from actionlog.errors import BadParameter, StoreError, StoreUnavailable

CHUNK = 1 << 20


def fetch(base_url: str, path: str, params: dict[str, list[str]], *, timeout: float = 60.0) -> Iterator[bytes]:
    """GET ``base_url + path`` with ``params`` and yield the body in chunks.

    Raises:
        BadParameter: the server said 400.
        StoreUnavailable: the worker cannot be reached.
        StoreError: the server failed, or the body was cut short.
    """
    url = f"{base_url}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise _http_error(exc) from None
    except (urllib.error.URLError, OSError) as exc:
        raise StoreUnavailable(f"the worker at {base_url} cannot be reached: {exc}") from None
    with response:
        try:
            while chunk := response.read(CHUNK):
                yield chunk
        except (http.client.IncompleteRead, OSError) as exc:
            raise StoreError(f"the worker's response was cut short: {exc!r}") from None


def fetch_report(base_url: str, params: dict[str, list[str]]) -> Iterator[bytes]:
    return fetch(base_url, "/reports/content-actions-log", params)


def _http_error(exc: urllib.error.HTTPError) -> Exception:
    try:
        body = orjson.loads(exc.read())
    except Exception:
        body = {}
    message = body.get("message") or f"HTTP {exc.code}"
    if exc.code == 400 and "param" in body:
        err = BadParameter(body.get("param", "?"), message)
        err.args = (message,)
        return err
    if exc.code == 409:
        from actionlog.errors import ExportLocked

        return ExportLocked(message)
    return StoreError(f"the worker answered {exc.code}: {message}")


def post_json(base_url: str, path: str, body: object, *, timeout: float = 60.0) -> bytes:
    """POST ``body`` as JSON to ``base_url + path`` and return the response body.

    Raises:
        BadParameter: the server said 400.
        StoreUnavailable: the worker cannot be reached.
        StoreError: the server failed.
    """
    request = urllib.request.Request(
        f"{base_url}{path}",
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        raise _http_error(exc) from None
    except (urllib.error.URLError, OSError) as exc:
        raise StoreUnavailable(f"the worker at {base_url} cannot be reached: {exc}") from None
