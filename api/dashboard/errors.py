"""Errors on dashboard pages: the same refusals as the API, as a page a person can act on.

The API answers problem+json; a page answers with the problem's title and reason in HTML, and a
request without a valid session goes to the sign-in page and back.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dashboard.pages import render
from api.deps import API_PREFIX

Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def add_page_error_pages(app: FastAPI) -> None:
    """Wrap every problem handler already added: API paths keep problem+json."""
    for error_type, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(error_type, _page_or_problem(handler))


def _page_or_problem(api_handler: Handler) -> Handler:
    async def handle(request: Request, error: Any) -> Response:
        answer = api_handler(request, error)
        if isinstance(answer, Awaitable):
            answer = await answer
        if request.url.path.startswith((API_PREFIX, "/static")):
            return answer
        if answer.status_code == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return _error_page(request, answer)

    return handle


def _error_page(request: Request, answer: Response) -> HTMLResponse:
    problem = json.loads(bytes(answer.body))
    return render(
        request,
        "error.html",
        getattr(request.state, "principal", None),
        status_code=answer.status_code,
        title=problem.get("title", "Something went wrong"),
        detail=problem.get("detail", ""),
        status=answer.status_code,
    )
