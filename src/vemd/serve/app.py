"""The web app of ``vemd serve``: a page at ``/`` and a small JSON API over one loaded model.

Endpoints:

- ``POST /v1/predict``: a multipart upload, field ``file`` (an image or a video), optional
  ``window`` and ``stride`` seconds (form fields or query parameters). 200: the line
  ``vemd predict --json`` prints as a result (``"type": "result"``, then
  :meth:`GroupEmotion.to_dict` with numbers rounded as there), with ``input`` the uploaded
  file's name (its basename).
- ``GET /v1/health``, ``GET /v1/model`` (classes, mode, input size, frames, window, limits,
  device and precision with the reason it was chosen,
  vemd version, ``caveat``: one line when the model was trained on the built-in synthetic
  data, else null, ``model_card``: the text of the ``MODEL_CARD.md`` beside the model file,
  else null, and ``model_card_html``: that card as HTML, raw HTML dropped
  (:mod:`vemd.serve.card_html`), else null).
- ``GET /`` the page in ``static/`` (``/static/...`` its files), ``GET /openapi.json`` the
  OpenAPI description of the API.

Offline: nothing the server sends makes a browser fetch from another host (system fonts, no
CDN). FastAPI's ``/docs`` and ``/redoc`` load their viewers from a CDN, so they are off; the
one Swagger UI on PyPI (``swagger-ui-bundle`` 1.1.0, Swagger UI 4) cannot read the OpenAPI
3.1 FastAPI writes.

Every error is one line of JSON, ``{"error": "..."}``: 413 an upload over ``max_upload_mb``
or a video longer than ``max_duration_s``; 415 a file that is neither an image nor a video by
its contents (:mod:`vemd.serve.content`; a text file named ``.jpg`` is 415); 422 a broken
image or video, an empty file, a bad ``window``/``stride``, a body without a ``file`` field;
503 no inference slot free within ``queue_timeout_s``; 504 past ``request_timeout_s``
(counted from the request's start, upload included); 404 an unknown path.

Privacy: the output is group level only, as everywhere in vemd. An upload is streamed into a
private temporary file (:mod:`vemd.serve.upload`), read once by the predictor and deleted
with its folder when the request ends, whatever the outcome; no frame is written anywhere,
and nothing about an upload (its name, contents or result) is logged. Error messages name
the upload by its basename, never by a server path.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import threading
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from vemd.card import card_path
from vemd.data.media import probe
from vemd.errors import VemdError
from vemd.inference.predictor import GroupEmotionPredictor, check_window
from vemd.serve.card_html import card_html
from vemd.serve.content import identify
from vemd.serve.errors import RequestError, one_line
from vemd.serve.slots import ClientGone, Slots, timed_out
from vemd.serve.upload import FILE_FIELD, private_folder, receive_upload, remove_stale_uploads
from vemd.version import __version__

__all__ = ["create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
MAX_CARD_BYTES = 1 << 20
NO_STORE = {"Cache-Control": "no-store"}

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "an image or a video",
                        },
                        "window": {
                            "type": "number",
                            "description": "seconds per window (overrides the query)",
                        },
                        "stride": {"type": "number", "description": "seconds between window starts"},
                    },
                }
            }
        },
    }
}
ERRORS = {
    413: "upload larger than the limit, or video longer than the limit",
    415: "neither an image nor a video by its contents",
    422: "broken image or video, bad window/stride, or no file field",
    503: "every inference slot busy for the whole queue timeout",
    504: "request longer than the time limit",
}
ERROR_RESPONSES = {
    status: {"description": text, "content": {"application/json": {"example": {"error": text}}}}
    for status, text in ERRORS.items()
}


def create_app(
    checkpoint: str | Path,
    *,
    max_upload_mb: float = 200.0,
    max_duration_s: float = 600.0,
    max_concurrent: int = 2,
    queue_timeout_s: float = 30.0,
    request_timeout_s: float = 300.0,
    device: str = "cpu",
    tmp_dir: str | Path | None = None,
    **predictor_options,
) -> FastAPI:
    """The app serving the model in ``checkpoint``, loaded once, here.

    Args:
        max_upload_mb: largest upload, in MB (10⁶ bytes).
        max_duration_s: longest video, in seconds (by its header).
        max_concurrent: inferences running at once (each in a worker thread).
        queue_timeout_s: how long a request waits for a free inference slot before 503.
        request_timeout_s: how long a request may take in all, upload included, before 504.
        device: where the model runs (``cpu``, ``cuda``, ``cuda:N``, ``mps``, ``auto``).
        tmp_dir: where the private upload folders are made (created if missing; default:
            the system's temporary folder); those a killed server left there are removed.
        predictor_options: ``window``, ``stride``, ``smoothing``, ``batch_size``, ``precision``
            as :class:`GroupEmotionPredictor` takes them.

    Raises CheckpointError for a bad model file, ValueError for a bad limit.
    """
    limits = {
        "max_upload_mb": max_upload_mb,
        "max_duration_s": max_duration_s,
        "queue_timeout_s": queue_timeout_s,
        "request_timeout_s": request_timeout_s,
    }
    for name, value in limits.items():
        check_positive(value, name)
    if not isinstance(max_concurrent, int) or max_concurrent < 1:
        raise ValueError(f"max_concurrent {max_concurrent!r}: expected an integer >= 1")
    predictor_options.setdefault("notify", _truncated_notice)
    predictor = GroupEmotionPredictor(checkpoint, device=device, **predictor_options)
    if tmp_dir is not None:
        Path(tmp_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_stale_uploads(tmp_dir)  # left by a server killed outright on the same folder
    slots = Slots(max_concurrent, queue_timeout_s, request_timeout_s)
    limit = int(max_upload_mb * 1e6)
    card = card_path(checkpoint)
    info = _model_info(predictor) | {"max_upload_mb": max_upload_mb, "max_duration_s": max_duration_s}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        slots.close()

    app = FastAPI(
        title="vemd",
        version=__version__,
        description="Group emotion of an image or a video (group-level output only; uploads are not kept).",
        lifespan=lifespan,
        docs_url=None,  # both viewers load from a CDN (see the module docstring)
        redoc_url=None,
    )
    app.state.predictor = predictor
    _add_error_handlers(app)
    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        index = STATIC / "index.html"
        if not index.is_file():
            raise RequestError(
                404, "this installation has no web page; the API is described at /openapi.json"
            )
        return FileResponse(index)

    @app.get("/v1/health", summary="Whether the server is up")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/v1/model", summary="The model served: classes, mode, input size, window, model card")
    def model() -> dict:
        text = _card_text(card)
        return info | {"model_card": text, "model_card_html": None if text is None else card_html(text)}

    @app.post(
        "/v1/predict",
        summary="Group emotion of an uploaded image or video",
        openapi_extra=UPLOAD_BODY,
        responses=ERROR_RESPONSES,
    )
    async def predict(
        request: Request, window: float | None = None, stride: float | None = None
    ) -> JSONResponse:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request_timeout_s
        with private_folder(tmp_dir) as folder:
            try:
                async with asyncio.timeout_at(deadline):
                    upload = await receive_upload(request, folder, limit=limit)
            except TimeoutError:
                raise timed_out(request_timeout_s) from None
            path = identify(upload.path)
            view = _windowed(
                predictor,
                _seconds(upload.fields.get("window", window), "window"),
                _seconds(upload.fields.get("stride", stride), "stride"),
            )
            job = partial(_predict, view, path, upload.name, max_duration_s)
            try:
                result = await slots.run(job, deadline=deadline, disconnected=request.is_disconnected)
            except ClientGone:
                raise RequestError(400, "the client closed the connection") from None
        return JSONResponse(result, headers=NO_STORE)

    return app


def check_positive(value: float, name: str) -> float:
    """``value`` if it is a finite number > 0, else ValueError naming ``name``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value > 0)
    ):
        raise ValueError(f"{name} {value!r}: expected a finite number > 0")
    return float(value)


class _Stopped(Exception):
    """The request gave up on this inference (raised between windows)."""


def _predict(
    predictor: GroupEmotionPredictor, path: Path, name: str, max_duration_s: float, cancel: threading.Event
) -> dict:
    """Worker thread: the result dict of the upload at ``path``, ``input`` its client name."""

    def on_window(_) -> None:
        if cancel.is_set():
            raise _Stopped()

    try:
        info = probe(path)
        # the header's duration (a WebM declaring 1000 fps holds 60 frames over 59 s), else by count
        seconds = info.duration or (info.num_frames / info.fps if info.fps > 0 else 0.0)
        if info.kind == "video" and seconds > max_duration_s:
            raise RequestError(
                413,
                f"{name}: video of {seconds:.1f} s is longer than the server's limit of {max_duration_s:g} s",
            )
        result = predictor.predict(path, on_window=on_window)
    except VemdError as err:
        message = str(err).replace(str(path), name).replace(str(path.parent), "<upload>")
        raise RequestError(422, message) from None
    except _Stopped:
        raise RequestError(504, "the request gave up") from None
    except RequestError:
        raise
    except Exception as err:
        log.exception("prediction failed")
        raise RequestError(
            500, f"{name}: the model could not predict this input ({type(err).__name__})"
        ) from None
    return {"type": "result", **replace(result, input=name).to_dict(rounded=True)}


def _seconds(value, name: str) -> float | None:
    if value is None:
        return None
    try:
        return check_window(value, name)
    except ValueError as err:
        raise RequestError(422, str(err)) from None


def _windowed(predictor: GroupEmotionPredictor, window: float | None, stride: float | None):
    """``predictor`` with another window or stride, sharing its model (a request's own timeline)."""
    if window is None and stride is None:
        return predictor
    view = copy.copy(predictor)
    view.window = predictor.window if window is None else window
    view.stride = stride if stride is not None else window if window is not None else predictor.stride
    return view


def _model_info(predictor: GroupEmotionPredictor) -> dict:
    """What ``GET /v1/model`` says: the system, what it returns (its capabilities), its input."""
    cfg, can = predictor.cfg, predictor.capabilities
    return {
        "class_names": list(predictor.class_names) if can.classes else [],  # a regression system has none
        "system": predictor.artifact.system.kind,
        "mode": can.mode,
        "image_size": predictor.artifact.image_size,
        "frames": cfg.data.frames,
        "sampling": cfg.data.sampling,
        "window": predictor.window,
        "stride": predictor.stride,
        "valence": can.valence,
        "arousal": can.arousal,
        "audio": can.audio,
        "device": str(predictor.device),
        "precision": predictor.precision.name,
        "precision_reason": predictor.precision.reason,
        "vemd_version": __version__,
        "caveat": predictor.caveat,  # trained on the built-in synthetic data: the page shows it
    }


def _card_text(path: Path) -> str | None:
    """The model card's text, read now (``vemd test`` may have added to it), or None."""
    try:
        with path.open("rb") as file:
            return file.read(MAX_CARD_BYTES).decode("utf-8", "replace")
    except OSError:
        return None


def _truncated_notice(message: str) -> None:
    log.warning("an uploaded video is truncated or its audio stops decoding: predicted over what decodes")


def _error(status: int, message: object, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    """Every error as one line of JSON, ``{"error": ...}``."""

    @app.exception_handler(RequestError)
    async def refused(_: Request, err: RequestError) -> JSONResponse:
        return _error(err.status, err.message, err.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> JSONResponse:
        return _error(err.status_code, err.detail, getattr(err, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        problems = [f"{' '.join(str(part) for part in e['loc'])}: {e['msg']}" for e in err.errors()]
        return _error(422, "; ".join(problems))

    @app.exception_handler(Exception)
    async def failed(_: Request, err: Exception) -> JSONResponse:
        return _error(500, f"internal server error ({type(err).__name__})")
