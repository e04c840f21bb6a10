"""`freshtrack serve | migrate | token | healthcheck` (default: serve)."""

from __future__ import annotations

import argparse
import os
import pwd
import signal
import sys
import urllib.error
import urllib.request
from types import FrameType

from freshtrack.config import ConfigError, Settings, read_secret

PORT = 3000
SERVICE_USER = "freshtrack"


def _drop_privileges() -> None:
    """Continue as the unprivileged service user once the secrets are read.

    Compose mounts file secrets as they are on the host (root-owned, mode 0600), so
    only root can read them; nothing after start-up needs root.
    """
    if os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return  # not in the image (e.g. run from a checkout): stay as we are
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # unwinds serve_forever() so the socket is closed


def serve(settings: Settings, port: int) -> int:
    from freshtrack.server import App, make_server  # the other commands skip these imports

    app = App(
        settings,
        db_password=read_secret(settings.database_password_file, "DATABASE_PASSWORD_FILE"),
        jwt_key=read_secret(settings.jwt_secret_file, "JWT_SECRET_FILE"),
    )
    server = make_server(app, "0.0.0.0", port)
    _drop_privileges()
    # As PID 1 in a container, SIGTERM is ignored unless handled: `docker stop`
    # would wait its full grace period and then kill.
    signal.signal(signal.SIGTERM, _stop)
    print(f"freshtrack {settings.app_version} listening on :{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def migrate(settings: Settings) -> int:
    from freshtrack import migrate as migrations

    password = read_secret(settings.database_password_file, "DATABASE_PASSWORD_FILE")
    return migrations.run(settings, password)


def token(settings: Settings, subject: str, ttl: int) -> int:
    from freshtrack import tokens

    key = read_secret(settings.jwt_secret_file, "JWT_SECRET_FILE")
    print(tokens.mint(key, subject, ttl))
    return 0


def healthcheck(port: int) -> int:
    """The container healthcheck: exit 0 when /health answers 200.

    Prints status and body, which Docker keeps in the container's health log.
    """
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            print(response.status, response.read().decode("utf-8", "replace"))
            return 0
    except urllib.error.HTTPError as error:
        print(error.code, error.read().decode("utf-8", "replace"))
    except OSError as error:
        print(f"{url}: {error}")
    return 1


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number of seconds")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="freshtrack", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_cmd = commands.add_parser("serve", help="run the HTTP API (the default)")
    serve_cmd.add_argument("--port", type=int, default=PORT)
    commands.add_parser("migrate", help="apply pending SQL migrations")
    token_cmd = commands.add_parser("token", help="print a signed API token")
    token_cmd.add_argument("--subject", default="operator", help="the sub claim")
    token_cmd.add_argument("--ttl", type=_positive_int, default=3600, help="seconds valid")
    health_cmd = commands.add_parser("healthcheck", help="probe /health of the local server")
    health_cmd.add_argument("--port", type=int, default=PORT)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    if command == "healthcheck":
        return healthcheck(args.port)
    try:
        settings = Settings.from_env()
        if command == "migrate":
            return migrate(settings)
        if command == "token":
            return token(settings, args.subject, args.ttl)
        return serve(settings, getattr(args, "port", PORT))
    except ConfigError as error:
        print(f"freshtrack {command}: {error}", file=sys.stderr)
        return 2
