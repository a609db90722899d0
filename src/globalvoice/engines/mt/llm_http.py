"""One chat completion over HTTP (OpenAI-compatible), with the transport faults handled.

- Connection refused, timeouts, 429 (Retry-After honoured, seconds or HTTP date) and 5xx answers
  are retried with exponential backoff (`backoff_s`, doubling, capped at `max_backoff_s`), then
  raise RetryableError naming the endpoint.
- 401/403 (bad key) and an unknown model raise ConfigError at once.
- Other 400/422 answers raise `RequestRejected`, or `FormatRejected` when the server refuses the
  response_format: both are about this request, so the caller decides (split the batch, ask
  without a schema).
- A 200 whose body has no message content, or that was cut at the token limit, raises
  `MalformedAnswer`, like an answer that fails validation.
"""

import email.utils
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from globalvoice.config.mt import LlmMtConfig
from globalvoice.domain.errors import ConfigError, RetryableError

__all__ = ["ChatClient", "FormatRejected", "MalformedAnswer", "RequestRejected"]

_MODEL_ERRORS = ("model_not_found", "does not exist", "not found", "invalid model", "unknown model")


class MalformedAnswer(Exception):
    """The answer is not what was asked for; the message says why (kept for the line's error)."""


class RequestRejected(Exception):
    """The server refused this request (400/422) for a reason other than the model or format."""


class FormatRejected(RequestRejected):
    """The server does not support the response_format that was asked for."""


class ChatClient:
    """Talks to `config.base_url` as `config` says (model, timeout, retries and backoff)."""

    def __init__(
        self,
        config: LlmMtConfig,
        *,
        api_key: str | None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._base_url = config.base_url.rstrip("/")
        self._model = config.model
        self._timeout_s = config.timeout_s
        self._max_retries = config.max_retries
        self._backoff_s = config.backoff_s
        self._max_backoff_s = config.max_backoff_s
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self._base_url + "/",
            timeout=config.timeout_s,
            headers=headers,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        response_format: dict[str, Any] | None,
    ) -> str:
        """The assistant message's text. Raises as the module docstring says."""
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "temperature": temperature,
        }
        if response_format is not None:
            body["response_format"] = response_format
        problem = "gave no answer"
        for attempt in range(self._max_retries + 1):
            wait = min(self._backoff_s * 2**attempt, self._max_backoff_s)
            try:
                response = self._http.post("chat/completions", json=body)
            except httpx.TimeoutException:
                problem = f"did not answer within {self._timeout_s:g} s"
            except httpx.TransportError as err:
                problem = f"could not be reached ({type(err).__name__}: {err})"
            else:
                if response.status_code == 200:
                    return _content(response)
                self._raise_for_final(response, has_format=response_format is not None)
                problem = f"answered HTTP {response.status_code}"
                if response.status_code == 429:
                    problem = "kept rate-limiting the requests (HTTP 429)"
                    wait = min(_retry_after(response) or wait, self._max_backoff_s)
            if attempt < self._max_retries:
                self._sleep(wait)
        raise RetryableError(
            f"The translation endpoint {self._base_url} {problem} after "
            f"{self._max_retries + 1} attempts: check that it is running, or try again later.",
            detail=f"model {self._model}",
        )

    def _raise_for_final(self, response: httpx.Response, *, has_format: bool) -> None:
        """Raise for answers that retrying cannot change; return for 429 and 5xx."""
        status, text = response.status_code, response.text[:500]
        if status == 429 or status >= 500:
            return
        if status in (401, 403):
            raise ConfigError(
                f"The translation endpoint {self._base_url} refused the API key (HTTP {status}): "
                "check api_key_env and the key it names.",
                detail=text,
            )
        lowered = text.casefold()
        if status == 404 or (
            status in (400, 422) and "model" in lowered and any(m in lowered for m in _MODEL_ERRORS)
        ):
            raise ConfigError(
                f"The translation endpoint {self._base_url} has no model {self._model!r} "
                f"(HTTP {status}): check the model name and base_url.",
                detail=text,
            )
        if status in (400, 422):
            if has_format and ("response_format" in lowered or "json_schema" in lowered):
                raise FormatRejected(text)
            raise RequestRejected(f"HTTP {status}: {text}")
        raise ConfigError(
            f"The translation endpoint {self._base_url} answered HTTP {status}: "
            "check base_url (it ends before /chat/completions).",
            detail=text,
        )


def _content(response: httpx.Response) -> str:
    try:
        choice = response.json()["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise MalformedAnswer("the answer is not a chat completion") from err
    if choice.get("finish_reason") == "length":
        raise MalformedAnswer("the answer was cut off at the token limit")
    if not isinstance(content, str) or not content.strip():
        raise MalformedAnswer("the answer has no text")
    return content


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
