"""A local HTTP server that speaks OpenAI chat completions, answering from a test's script."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # a dict is sent as JSON, a str as it is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Script = Callable[[dict[str, Any]], Reply]


def completion(content: str, *, finish_reason: str = "stop") -> Reply:
    return Reply(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish_reason,
                }
            ],
        }
    )


def lines_of(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The lines the engine asked to translate (from the JSON user message)."""
    lines: list[dict[str, Any]] = json.loads(request["messages"][-1]["content"])["lines"]
    return lines


def answer(items: list[tuple[str, list[str]]]) -> Reply:
    payload = {"translations": [{"id": i, "translations": texts} for i, texts in items]}
    return completion(json.dumps(payload, ensure_ascii=False))


def translating(prefix: str = "ES: ", n: int = 1) -> Script:
    """A well-behaved model: each line becomes `prefix + text` (and shorter variants)."""

    def script(request: dict[str, Any]) -> Reply:
        items = []
        for line in lines_of(request):
            text = prefix + line["text"]
            items.append((line["id"], [text, *(text[: -k * 3] for k in range(1, n))]))
        return answer(items)

    return script


class ChatServer:
    def __init__(self, script: Script | Reply) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length))
                server.requests.append(request)
                server.headers.append(dict(self.headers))
                if self.path != "/v1/chat/completions":
                    reply = Reply(status=404, body={"error": {"message": "no such route"}})
                else:
                    script = server.script
                    reply = script(request) if callable(script) else script
                time.sleep(reply.delay_s)
                body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = body.encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @contextmanager
    def running(self) -> Iterator["ChatServer"]:
        thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()
            thread.join(timeout=5)
