"""Notes: a read-only notes API over the file the init job seeded.

GET /healthz  plain text `ok <version>` (the process answers)
GET /status   JSON {"ok": <the seeded notes are readable>, "version": ..., "notes": <count>}
GET /notes    JSON list of notes
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA = os.environ.get("NOTES_DATA", "/data/notes.json")
VERSION = os.environ.get("NOTES_VERSION", "dev")


def _notes() -> list[object] | None:
    try:
        with open(DATA, encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return None
    return found if isinstance(found, list) else None


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, "text/plain", f"ok {VERSION}")
        elif self.path == "/status":
            notes = _notes()
            body = {"ok": notes is not None, "version": VERSION,
                    "notes": len(notes) if notes is not None else 0}
            self._send(200 if notes is not None else 503, "application/json",
                       json.dumps(body))
        elif self.path == "/notes":
            notes = _notes()
            self._send(200 if notes is not None else 503, "application/json",
                       json.dumps(notes if notes is not None else {"error": "not seeded"}))
        else:
            self._send(404, "text/plain", "not found")

    def _send(self, status: int, kind: str, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
