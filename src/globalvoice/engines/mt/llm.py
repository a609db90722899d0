"""An LLM behind an OpenAI-compatible chat completions endpoint, as a translation engine.

Lines of one language pair go `batch_size` at a time in one prompt (engines.mt.llm_prompt) with
their context, length budget and glossary; the answer is validated strictly. Failure handling,
so that one bad line never loses the others:

1. Lines the answer covers validly are kept; a malformed answer, or lines it left out, are asked
   again (only the missing lines), up to `max_format_retries` more times.
2. Lines still missing after that are asked one by one, with the same bound.
3. A line that still fails gets one candidate with `error` set (requests.failed_candidate).
   `translate()`, which must return text for every line, raises TranslationIncomplete instead,
   carrying the lines that succeeded.

Transport faults are handled below (engines.mt.llm_http): retried, then RetryableError; a bad
key or model name is a ConfigError. A server that refuses the JSON schema is asked with
`json_object`, then with the prompt alone, for the rest of this engine's life.
"""

import itertools
import os
import time
from collections.abc import Callable, Sequence
from typing import Literal

import httpx

from globalvoice.config.mt import LlmMtConfig, is_non_commercial
from globalvoice.domain.errors import ConfigError, TranslationIncomplete, UnsupportedLanguage
from globalvoice.domain.glossary import missing_terms
from globalvoice.domain.language import LanguagePair
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.mt.llm_http import (
    ChatClient,
    FormatRejected,
    MalformedAnswer,
    RequestRejected,
)
from globalvoice.engines.mt.llm_prompt import build_messages, parse_answer, response_format
from globalvoice.engines.mt.requests import (
    Candidate,
    MtCapabilities,
    TranslationRequest,
    failed_candidate,
    group_by_pair,
)

__all__ = ["LlmTranslator"]

_Format = Literal["json_schema", "json_object", "none"]
_WEAKER: dict[_Format, _Format] = {"json_schema": "json_object", "json_object": "none"}


class LlmTranslator:
    def __init__(
        self,
        config: LlmMtConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        api_key = None
        if config.api_key_env:
            api_key = os.environ.get(config.api_key_env)
            if not api_key:
                raise ConfigError(
                    f"Set the environment variable {config.api_key_env} to the API key of "
                    f"{config.base_url} (named by api_key_env in the MT configuration)."
                )
        self._config = config
        self._format: _Format = config.structured_output
        self._pairs = frozenset(itertools.permutations(config.languages, 2))
        self._client = ChatClient(config, api_key=api_key, sleep=sleep, transport=transport)

    def close(self) -> None:
        self._client.close()

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(
            name="mt.llm",
            model_id=self._config.model,
            licence=self._config.licence,
            is_commercial_use_ok=not is_non_commercial(self._config.licence),
        )

    @property
    def capabilities(self) -> MtCapabilities:
        return MtCapabilities(n_best=True, context=True, length_budget=True, glossary=True)

    def pairs(self) -> frozenset[LanguagePair]:
        return self._pairs

    def route(self, source: str, target: str) -> str:
        return f"{source}->{target} (LLM {self._config.model})"

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        requests = [TranslationRequest(text=t, source=source, target=target) for t in texts]
        results = [c[0] for c in self.translate_candidates(requests)]
        failed = [c.error for c in results if c.failed]
        if failed:
            raise TranslationIncomplete(
                f"{len(failed)} of {len(texts)} lines got no valid translation from "
                f"{self._config.model}.",
                translated=tuple(None if c.failed else c.text for c in results),
                detail=failed[0],
            )
        return [c.text for c in results]

    def translate_candidates(
        self, requests: Sequence[TranslationRequest], *, n_best: int = 1
    ) -> list[list[Candidate]]:
        """Up to n_best candidates per request in the model's order of preference (score 0,
        -1, -2, ...), glossary-compliant ones first; failed lines as the module docstring says."""
        out: dict[int, list[Candidate]] = {}
        for pair, indexes in group_by_pair(requests).items():
            if pair not in self._pairs:
                raise UnsupportedLanguage(
                    f"The LLM engine is not configured for {pair[0]}->{pair[1]}: add the "
                    "languages to its `languages` setting."
                )
            for i in indexes:
                if not requests[i].text.strip():
                    out[i] = [Candidate(text="", score=0.0, engine=self.info.fingerprint)]
            todo = [i for i in indexes if i not in out]
            for start in range(0, len(todo), self._config.batch_size):
                self._translate_batch(
                    requests, todo[start : start + self._config.batch_size], n_best, out
                )
        return [out[i] for i in range(len(requests))]

    def _translate_batch(
        self,
        requests: Sequence[TranslationRequest],
        batch: list[int],
        n_best: int,
        out: dict[int, list[Candidate]],
    ) -> None:
        problems = self._ask_until_done(requests, batch, n_best, out)
        pending = [i for i in batch if i not in out]
        if len(pending) > 1:
            for i in pending:
                problems[i] = self._ask_until_done(requests, [i], n_best, out).get(i, "")
        for i in batch:
            if i not in out:
                out[i] = [failed_candidate(self.info.fingerprint, problems[i])]

    def _ask_until_done(
        self,
        requests: Sequence[TranslationRequest],
        lines: list[int],
        n_best: int,
        out: dict[int, list[Candidate]],
    ) -> dict[int, str]:
        """Ask for `lines` until all are answered or the format retries run out; returns the
        last problem of each line still unanswered."""
        problems: dict[int, str] = {}
        pending = list(lines)
        for _ in range(self._config.max_format_retries + 1):
            try:
                answers = self._ask(requests, pending, n_best)
            except (MalformedAnswer, RequestRejected) as err:
                problems.update((i, str(err)) for i in pending)
                continue
            for i, texts in answers.items():
                out[i] = self._candidates(requests[i], texts)
            missing = [i for i in pending if i not in answers]
            problems.update((i, "the answer left this line out") for i in missing)
            pending = missing
            if not pending:
                break
        return {i: problems[i] for i in pending}

    def _ask(
        self, requests: Sequence[TranslationRequest], lines: list[int], n_best: int
    ) -> dict[int, list[str]]:
        ids = {str(n + 1): i for n, i in enumerate(lines)}
        messages = build_messages([(k, requests[i]) for k, i in ids.items()], n_best=n_best)
        while True:
            try:
                content = self._client.complete(
                    messages,
                    temperature=self._config.temperature,
                    response_format=response_format(self._format),
                )
                break
            except FormatRejected:
                if self._format not in _WEAKER:
                    raise
                self._format = _WEAKER[self._format]
        answers = parse_answer(content, list(ids), n_best=n_best)
        return {ids[k]: texts for k, texts in answers.items()}

    def _candidates(self, request: TranslationRequest, texts: list[str]) -> list[Candidate]:
        engine = self.info.fingerprint
        candidates = [
            Candidate(
                text=text,
                score=-float(rank),
                engine=engine,
                missing_terms=missing_terms(request.text, text, request.glossary),
            )
            for rank, text in enumerate(texts)
        ]
        return sorted(candidates, key=lambda c: bool(c.missing_terms))
