"""The experiment web app (Starlette, served by uvicorn): the page, its JSON API, the admin view.

This docstring is the contract between the server and the browser page in ``web/``.

Files: ``web/index.html`` is the page template; the server replaces ``__EXPERIMENT_CONFIG__``
(inside ``<script type="application/json" id="experiment-config">``) with the page
configuration ``{"paradigm", "texts", "url_parameters": {"participant", "study", "session"},
"allow_anonymous": bool}`` (``[url_params] allow_anonymous``) as JSON in which ``<``, ``>`` and ``&`` are ``\\u`` escapes, so no
configuration text can close the script block. ``web/static/*`` is served under ``/static/``;
the jsPsych files installed by ``npm ci --prefix src/repalign/experiments/web`` are served from
``web/node_modules`` under ``/vendor/`` (only ``jspsych/{dist,css}/*`` and
``@jspsych/plugin-*/dist/*``). The page inserts texts as text, never as HTML.

Endpoints (JSON bodies of at most 64 KiB; every refusal is a 4xx ``{"error": "..."}``, and a
refused request stores nothing):

- ``GET /?PROLIFIC_PID=..&STUDY_ID=..&SESSION_ID=..``: the page (parameter names configurable).
- ``POST /api/session`` ``{"participant_id", "study_id", "session_id"}`` (ids: 1-128 of
  ``A-Za-z0-9_-``; study and session ids may be empty) -> ``{"participant_id", "status":
  "active"|"completed"|"failed", "paradigm", "texts": {...}, "n_trials", "next_trial",
  "trials": [...], "completion": {...} (when not active)}``. A trial is ``{"trial_index",
  "kind": "main"|"catch_repeat"|"catch_known", "paradigm", "stimuli": [{"id", "url"}] in the
  trial's canonical order, "positions": the on-screen order (positions[slot] = index into
  stimuli shown in that slot), "choices"}``: odd-one-out: three images; two_afc: the reference
  (always on top) then two candidates; matching: the metamers then the three targets,
  ``choices`` = the target ids; recognition: one image, ``choices`` = class names,
  ``choice_order`` = the button order (indices into choices); rating: two images, ``choices`` =
  ``{"min", "max", "step", "labels"}``. Calling it again (a reload) returns the same trials and
  the current ``next_trial`` (the first trial without a stored response). A finished
  participant gets their ending again, never a new session.
- ``POST /api/response`` ``{"participant_id", "trial_index", "response_id" (8-64 of
  ``A-Za-z0-9_-``, made by the page, e.g. a UUID), "response", "rt_ms", "onscreen_order" (the
  stimulus ids in the order shown), "client_sent_at" (ms, optional)}`` -> ``{"ack": true,
  "duplicate": bool, "next_trial"}`` only after the SQLite commit (``Server-Timing: app;dur=MS``
  gives the time from reading the body to the commit). ``response`` is
  ``{"choice": k}`` (odd-one-out: index into stimuli; two_afc: 1 or 2, the candidate's index
  into stimuli; recognition: index into choices), ``{"matches": [j, ...]}`` (for each metamer
  in stimuli order, the index into stimuli of its target; each target gets
  ``matching.per_target`` metamers) or ``{"rating": x}``. The same ``response_id`` again is
  acknowledged with ``"duplicate": true`` and stored once. Refusals: 404 unknown participant,
  409 trial already answered with another id / session finished, 422 invalid response.
- ``POST /api/finish`` ``{"participant_id"}`` -> ``{"status": "completed", "completion_code",
  "redirect_url"}`` or ``{"status": "failed", "failure_code", "failure_redirect_url"}`` (too
  many failed known-answer catch trials), plus ``"redirect_after_ms"`` when there is a redirect
  URL; 409 while trials are unanswered. Idempotent.
- ``GET /stimuli/<name>.png``: only the experiment's own images (from the database); any other
  name, ``../`` included, is 404.
- ``GET /admin``, ``GET /admin/plot.svg``, ``GET /api/export``: need the admin token
  (``Authorization: Bearer TOKEN`` or ``?token=TOKEN``): 401 without one, 403 with a wrong one.
  ``/api/export`` streams the raw per-response table as CSV.
- ``GET /healthz``: ``{"ok": true}``.

Every response carries a Content-Security-Policy (scripts and connections only from the
server itself), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and
``X-Frame-Options: DENY``; API answers are ``Cache-Control: no-store``.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from repalign._deps import require
from repalign.experiments.service import ApiError, Experiment

__all__ = ["MAX_BODY", "WEB_DIR", "check_web_assets", "create_app", "page_config"]

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
MAX_BODY = 64 * 1024
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
_VENDOR = re.compile(r"^(jspsych/(dist|css)|@jspsych/plugin-[a-z0-9-]+/dist)/[A-Za-z0-9._-]+$")
_STIMULUS = re.compile(r"^([a-z][0-9]{5})\.png$")
_ID = r"^[A-Za-z0-9_-]{1,128}$"
_OPT_ID = r"^[A-Za-z0-9_-]{0,128}$"
Scope = MutableMapping[str, Any]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionBody(_Body):
    participant_id: str = Field(pattern=_ID)
    study_id: str = Field(default="", pattern=_OPT_ID)
    session_id: str = Field(default="", pattern=_OPT_ID)


class ResponseBody(_Body):
    participant_id: str = Field(pattern=_ID)
    trial_index: int = Field(ge=0, strict=True)
    response_id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    response: dict[str, Any]
    rt_ms: float = Field(ge=0, le=86_400_000, allow_inf_nan=False)
    onscreen_order: list[str] = Field(max_length=64)
    client_sent_at: float | None = Field(default=None, allow_inf_nan=False)


class FinishBody(_Body):
    participant_id: str = Field(pattern=_ID)


def check_web_assets(web_dir: Path = WEB_DIR) -> None:
    """Raise unless the page and its jsPsych packages are installed.

    Raises:
        MissingDependencyError: ``web/node_modules/jspsych`` is missing; names the command.
    """
    from repalign.errors import MissingDependencyError

    if not (web_dir / "node_modules" / "jspsych" / "dist").is_dir():
        raise MissingDependencyError(
            f"The experiment page needs jsPsych from npm, which is not installed in "
            f"{web_dir / 'node_modules'}. Install it with: npm ci --prefix "
            "src/repalign/experiments/web (or: make web)."
        )


def page_config(exp: Experiment) -> dict[str, Any]:
    """What the page template receives: paradigm, texts and URL parameter names."""
    u = exp.cfg.url_params
    return {"paradigm": exp.cfg.paradigm, "texts": exp.cfg.texts.model_dump(),
            "url_parameters": {"participant": u.participant, "study": u.study,
                               "session": u.session},
            "allow_anonymous": u.allow_anonymous}


def _script_json(value: Any) -> str:
    """JSON safe inside an HTML ``<script>`` element: no ``<``, ``>`` or ``&`` left."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


_PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Experiment</title>
<script type="application/json" id="experiment-config">__EXPERIMENT_CONFIG__</script>
</head><body><main><p>The experiment page is not installed; the API under /api/ works.</p>
</main></body></html>
"""


def _render_page(exp: Experiment, web_dir: Path) -> str:
    template = web_dir / "index.html"
    text = template.read_text(encoding="utf-8") if template.is_file() else _PLACEHOLDER
    return text.replace("__EXPERIMENT_CONFIG__", _script_json(page_config(exp)))


def create_app(exp: Experiment, *, web_dir: Path | None = None) -> Any:
    """The Starlette application of a running experiment.

    Args:
        exp: the experiment (configuration and database).
        web_dir: folder of the page (``index.html``, ``static/``, ``node_modules/``); default
            the package's ``web/``. Without ``index.html`` a minimal placeholder page is served.

    Returns:
        A Starlette app (ASGI), e.g. for ``uvicorn.run(app)`` or ``TestClient(app)``.
    """
    require("starlette", "experiments", purpose="the experiment server")
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from repalign.experiments.admin import admin_html, plot_svg
    from repalign.experiments.export import raw_csv_chunks

    web = web_dir or WEB_DIR
    modules = (web / "node_modules").resolve()

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status,
                            headers={"Cache-Control": "no-store"})

    async def read_body(request: Request, model: type[BaseModel]) -> Any:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise ApiError(415, f"send JSON (Content-Type: application/json), received "
                                f"{ctype or 'no content type'!r}")
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            raise ApiError(413, f"request body larger than {MAX_BODY} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise ApiError(413, f"request body larger than {MAX_BODY} bytes")
            chunks.append(chunk)
        try:
            data = json.loads(b"".join(chunks).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, f"request body is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ApiError(422, f"request body must be a JSON object, received "
                                f"{type(data).__name__}")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                for e in exc.errors()[:5])
            raise ApiError(422, f"invalid request: {problems}") from None

    def handler(fn: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                return await fn(request)
            except ApiError as exc:
                return error(exc.status, exc.message)
        return wrapped

    def authorize(request: Request) -> None:
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        given = given or request.query_params.get("token")
        if not given:
            raise ApiError(401, "the admin token is required (Authorization: Bearer TOKEN)")
        if not hmac.compare_digest(given.encode(), exp.token.encode()):
            raise ApiError(403, "wrong admin token")

    @handler
    async def page(request: Request) -> Response:
        return HTMLResponse(_render_page(exp, web), headers={"Cache-Control": "no-store"})

    @handler
    async def session(request: Request) -> Response:
        body = await read_body(request, SessionBody)
        out = await run_in_threadpool(exp.session, body.participant_id, body.study_id,
                                      body.session_id)
        return JSONResponse(out, headers={"Cache-Control": "no-store"})

    @handler
    async def response(request: Request) -> Response:
        t0 = time.perf_counter()
        b = await read_body(request, ResponseBody)
        out = await run_in_threadpool(exp.respond, b.participant_id, b.trial_index,
                                      b.response_id, b.response, b.rt_ms, b.onscreen_order,
                                      b.client_sent_at)
        took = (time.perf_counter() - t0) * 1000  # body read to commit: the server's share
        return JSONResponse(out, headers={"Cache-Control": "no-store",
                                          "Server-Timing": f"app;dur={took:.2f}"})

    @handler
    async def finish(request: Request) -> Response:
        body = await read_body(request, FinishBody)
        out = await run_in_threadpool(exp.finish, body.participant_id)
        return JSONResponse(out, headers={"Cache-Control": "no-store"})

    async def stimulus(request: Request) -> Response:
        m = _STIMULUS.match(request.path_params["name"])
        png = exp.images.get(m.group(1)) if m else None
        if png is None:
            return error(404, "no such image")
        return Response(png, media_type="image/png",
                        headers={"Cache-Control": "public, max-age=86400"})

    async def vendor(request: Request) -> Response:
        from starlette.responses import FileResponse

        rel = request.path_params["path"]
        path = (modules / rel).resolve() if _VENDOR.match(rel) else None
        if path is None or modules not in path.parents or not path.is_file():
            return error(404, "no such file")
        return FileResponse(path)

    @handler
    async def admin(request: Request) -> Response:
        authorize(request)
        progress = await run_in_threadpool(exp.progress)
        return HTMLResponse(admin_html(exp, progress), headers={"Cache-Control": "no-store"})

    @handler
    async def plot(request: Request) -> Response:
        authorize(request)
        progress = await run_in_threadpool(exp.progress)
        svg = await run_in_threadpool(plot_svg, progress)
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @handler
    async def export(request: Request) -> Response:
        authorize(request)
        return StreamingResponse(raw_csv_chunks(exp.store.path), media_type="text/csv",
                                 headers={"Cache-Control": "no-store",
                                          "Content-Disposition": "attachment; "
                                          "filename=responses.csv"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes: list[Route | Mount] = [
        Route("/", page),
        Route("/api/session", session, methods=["POST"]),
        Route("/api/response", response, methods=["POST"]),
        Route("/api/finish", finish, methods=["POST"]),
        Route("/api/export", export),
        Route("/stimuli/{name:path}", stimulus),
        Route("/vendor/{path:path}", vendor),
        Route("/admin", admin),
        Route("/admin/plot.svg", plot),
        Route("/healthz", healthz),
    ]
    if (web / "static").is_dir():
        routes.append(Mount("/static", app=StaticFiles(directory=web / "static"), name="static"))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return error(status, "not found" if status == 404 else str(getattr(exc, "detail", "")))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(500, "internal error; the response was not stored")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        # writes wait in worker threads for the group commit: let many wait at once
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = 256
        yield

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_found, Exception: server_error})
    return _SecurityHeaders(app)


class _SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response."""

    HEADERS: ClassVar[list[tuple[bytes, bytes]]] = [
        (b"content-security-policy", CSP.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
