"""``vemd serve --ckpt CKPT``: serve a model over HTTP (a web page at ``/``, a JSON API).

The address is bound first, then the model is loaded, then the server starts: a port in use,
an address not of this machine or a bad model file is one line and exit code 1.
The server runs until Ctrl-C (exit code 0). It has no authentication: it listens on the
loopback interface unless ``--host`` says otherwise. Uploads are written to private folders
under the system's temporary folder (``TMPDIR``) and deleted when answered. The endpoints,
limits and error codes: :mod:`vemd.serve.app`.
"""

from __future__ import annotations

import argparse

from vemd.commands.common import add_device_arguments

HELP = (
    "Serve a model over HTTP: a web page at /, POST /v1/predict for an image or video "
    "(group-level output only; uploads are deleted when answered), OpenAPI description at /openapi.json."
)

LIMITS = (  # (flag, create_app keyword, default, help)
    ("--max-upload-mb", "max_upload_mb", 200.0, "largest upload in MB (10^6 bytes); larger: 413"),
    ("--max-duration-s", "max_duration_s", 600.0, "longest video in seconds; longer: 413"),
    ("--queue-timeout-s", "queue_timeout_s", 30.0, "seconds a request waits for an inference slot; then 503"),
    ("--request-timeout-s", "request_timeout_s", 300.0, "seconds a request may take in all; then 504"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="model.pt written by vemd fit")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    for flag, _, default, text in LIMITS:
        parser.add_argument(flag, type=float, default=default, help=f"{text} (default: {default:g})")
    parser.add_argument(
        "--max-concurrent", type=int, default=2, help="inferences running at once (default: 2)"
    )
    add_device_arguments(parser)


def _require_extra() -> None:
    """One line naming the extra when FastAPI, uvicorn or python-multipart is missing."""
    from vemd.errors import VemdError

    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        missing = getattr(err, "name", None) or "a dependency"
        raise VemdError(f"vemd serve needs {missing}: pip install vemd[serve]") from err


def run(args: argparse.Namespace) -> int:
    import contextlib
    import sys

    from vemd.errors import VemdError

    _require_extra()
    import uvicorn

    from vemd.serve.app import check_positive, create_app

    limits = {}
    for flag, key, _, _ in LIMITS:
        try:
            limits[key] = check_positive(getattr(args, key), flag)
        except ValueError as err:
            raise VemdError(str(err)) from err
    if args.max_concurrent < 1:
        raise VemdError(f"--max-concurrent {args.max_concurrent}: expected an integer >= 1")
    if not 0 <= args.port <= 65535:
        raise VemdError(f"--port {args.port}: expected a port number from 0 to 65535")
    with bound_socket(args.host, args.port) as sock:
        app = create_app(
            args.ckpt,
            max_concurrent=args.max_concurrent,
            device=args.device,
            precision=args.precision,
            **limits,
        )
        host = f"[{args.host}]" if ":" in args.host else args.host
        port = sock.getsockname()[1]  # the one the system chose for --port 0
        print(
            f"vemd serve: {args.ckpt} on http://{host}:{port}/ (API described at /openapi.json)",
            file=sys.stderr,
        )
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(
                "vemd serve: warning: no authentication: anyone who reaches this address can use it",
                file=sys.stderr,
            )
        config = uvicorn.Config(app, host=args.host, port=port, timeout_graceful_shutdown=5)
        server = uvicorn.Server(config)
        # until Ctrl-C: uvicorn stops gracefully, then raises it again, which uvicorn.run swallows too
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
        if not server.started:
            raise VemdError(f"--host {args.host} --port {port}: the server did not start")
    print("vemd serve: stopped", file=sys.stderr)
    return 0


def bound_socket(host: str, port: int):
    """A TCP socket bound to ``host:port`` (as uvicorn binds one: SO_REUSEADDR), for the server to
    listen on: a port in use or a host that is not an address of this machine is one
    :class:`~vemd.errors.VemdError` line now, before the model is loaded, instead of uvicorn's
    log lines after it."""
    import socket

    from vemd.errors import VemdError

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as err:  # EADDRINUSE, EADDRNOTAVAIL, EACCES, or a name that does not resolve
        sock.close()
        reason = err.strerror or str(err) or type(err).__name__
        raise VemdError(f"--host {host} --port {port}: cannot listen there ({reason})") from None
    sock.set_inheritable(True)
    return sock
