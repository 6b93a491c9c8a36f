"""The report pages (docs/report-page.md): Reporting > Reports > Content Actions Log.

Server-rendered shells around a small script of our own (`static/report.js`) that reads the JSON
routes. Nothing comes from the internet; nothing from the data is ever put into the page as
markup (the script sets text only, and these shells hold no data at all). Every page sends a
Content-Security-Policy that allows our own script and styles only.
"""

from __future__ import annotations

import html
from importlib.resources import files

import orjson
from aiohttp import web

from actionlog.core.catalog import SOURCES_BY_TYPE
from actionlog.web.auth import SIGN_IN_PATH, SIGN_OUT_PATH, safe_next
from actionlog.web.context import PRINCIPAL

__all__ = ["PAGE_PATH", "REPORTS_PATH", "add_ui_routes"]

REPORTS_PATH = "/ui/reports"
PAGE_PATH = "/ui/reports/content-actions-log"
SIGN_IN_PAGE = "/ui/sign-in"
_STATIC = {"report.js": "text/javascript", "report.css": "text/css"}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/report.css">
</head>
<body>
{body}
</body>
</html>
"""


def _page(title: str, body: str) -> web.Response:
    return web.Response(
        text=_SHELL.format(title=html.escape(title), body=body), content_type="text/html", headers=_HEADERS
    )


def _top(request: web.Request, crumbs: list[tuple[str, str | None]]) -> str:
    trail = "".join(
        f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>'
        if href
        else f'<li aria-current="page">{html.escape(text)}</li>'
        for text, href in crumbs
    )
    who = request.get(PRINCIPAL)
    signed = f'<span class="hint">Signed in as {html.escape(who.name)}</span> ' if who else ""
    return (
        '<header class="top"><nav aria-label="Breadcrumb"><ol>' + trail + "</ol></nav>"
        f'<form method="post" action="{SIGN_OUT_PATH}">{signed}'
        '<button type="submit" class="secondary">Sign out</button></form>'
        "</header>"
    )


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(REPORTS_PATH)


async def reports(request: web.Request) -> web.StreamResponse:
    body = (
        _top(request, [("Reporting", None), ("Reports", None)])
        + '<main class="reports"><h1>Reports</h1>'
        + '<section aria-labelledby="learner-actions"><h2 id="learner-actions">Learner Actions</h2><ul>'
        + f'<li><a href="{PAGE_PATH}">Content Actions Log</a>: a timestamped log of your learners\' enrollments, '
        "status changes, access revocations and certificate grants across all content.</li>"
        "</ul></section></main>"
    )
    return _page("Reports", body)


def _field(key: str, label: str, control: str, hint: str = "") -> str:
    hint_html = f'<span class="hint" id="h-{key}">{html.escape(hint)}</span>' if hint else ""
    return f'<div class="field"><label for="f-{key}">{html.escape(label)}</label>{control}{hint_html}</div>'


def _multi(key: str, label: str, hint: str) -> str:
    return _field(key, label, f'<select id="f-{key}" name="{key}" multiple aria-describedby="h-{key}"></select>', hint)


async def content_actions_log(request: web.Request) -> web.StreamResponse:
    catalog = orjson.dumps(SOURCES_BY_TYPE).decode().replace("<", "\\u003c")
    fields = "".join(
        [
            _field(
                "from",
                "From",
                '<input type="date" id="f-from" name="from" aria-describedby="h-from">',
                "first day; empty: the last 30 days",
            ),
            _field("to", "To", '<input type="date" id="f-to" name="to" aria-describedby="h-to">', "last day, included"),
            _field(
                "tz",
                "Time zone",
                '<input id="f-tz" name="tz" list="tz-list" autocomplete="off" aria-describedby="h-tz">'
                '<datalist id="tz-list"></datalist>',
                "IANA name, e.g. Europe/Paris",
            ),
            _multi("panorama", "Panorama", "by name; none chosen: all"),
            _field(
                "content",
                "Content",
                '<input id="f-content" list="content-options" autocomplete="off" aria-describedby="h-content">'
                '<datalist id="content-options"></datalist>'
                '<button type="button" id="add-content" class="secondary">Add content</button>'
                '<ul class="chips" id="content-chips" aria-label="Chosen, by title"></ul>',
                "type a title, then Add",
            ),
            _field(
                "learner",
                "Learner",
                '<input id="f-learner" autocomplete="off" aria-describedby="h-learner">'
                '<button type="button" id="add-learner" class="secondary">Add learner</button>'
                '<ul class="chips" id="learner-chips" aria-label="Chosen ids or emails"></ul>',
                "id or email, then Add",
            ),
            _multi("type", "Type", "none chosen: all"),
            _multi("source", "Source", "follows the chosen types"),
            _multi("course-group", "Course group", "none chosen: all"),
            _multi("content-type", "Content type", "none chosen: all"),
        ]
    )
    headers = "".join(
        f'<th scope="col">{name}</th>'
        for name in ("Email", "Panorama Name", "Content Type", "Content Title", "Type", "Source", "Timestamp")
    )
    body = (
        _top(request, [("Reporting", None), ("Reports", REPORTS_PATH), ("Content Actions Log", None)])
        + '<main><form id="filters" novalidate>'
        + '<div class="titlebar"><h1>Content Actions Log</h1><button type="submit" id="update">Update</button></div>'
        + f'<fieldset class="filters"><legend>Filters</legend>{fields}</fieldset></form>'
        + '<div class="bar"><p id="status" role="status" aria-live="polite"></p>'
        + '<p><span id="count"></span> <span id="range" class="hint"></span></p>'
        + '<div class="downloads"><a id="download-csv" class="button secondary" href="#" download>Download CSV</a>'
        + '<a id="download-json" class="button secondary" href="#" download>Download JSON</a></div></div>'
        + '<div class="table-wrap" tabindex="0" role="region" aria-label="Report rows, scrolls sideways">'
        + '<table id="report" aria-busy="true" aria-describedby="status">'
        + '<caption class="visually-hidden">Content Actions Log, newest first</caption>'
        + f'<thead><tr>{headers}</tr></thead><tbody id="rows"></tbody></table></div>'
        + '<nav class="pager" aria-label="Pages">'
        + '<button type="button" id="previous" class="secondary" disabled>Previous</button>'
        + '<button type="button" id="next" class="secondary" disabled>Next</button></nav></main>'
        + f'<script type="application/json" id="catalog">{catalog}</script>'
        + '<script src="/static/report.js"></script>'
    )
    return _page("Content Actions Log", body)


async def sign_in_page(request: web.Request) -> web.StreamResponse:
    target = safe_next(request.query.get("next"))
    error = request.query.get("error", "")
    shown = f'<p class="error" role="alert">{html.escape(error[:200])}</p>' if error else ""
    body = (
        '<main class="signin"><h1>Sign in</h1>'
        "<p>Sign in with the token you were given (<code>actionlog tokens create</code>).</p>"
        f"{shown}"
        f'<form method="post" action="{SIGN_IN_PATH}">'
        '<div class="field"><label for="token">Token</label>'
        '<input type="password" id="token" name="token" autocomplete="off" required></div>'
        f'<input type="hidden" name="next" value="{html.escape(target)}">'
        '<p><button type="submit">Sign in</button></p></form></main>'
    )
    return _page("Sign in", body)


async def favicon(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    kind = _STATIC.get(name)
    if kind is None:
        raise web.HTTPNotFound()
    data = files("actionlog.web").joinpath("static", name).read_bytes()
    return web.Response(body=data, content_type=kind, charset="utf-8", headers={"X-Content-Type-Options": "nosniff"})


def add_ui_routes(app: web.Application) -> None:
    app.router.add_get("/", root)
    app.router.add_get(REPORTS_PATH, reports)
    app.router.add_get(PAGE_PATH, content_actions_log)
    app.router.add_get(SIGN_IN_PAGE, sign_in_page)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/favicon.ico", favicon)
