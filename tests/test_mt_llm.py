"""The LLM engine against a local server that speaks OpenAI chat completions."""

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from globalvoice.config.mt import LlmMtConfig
from globalvoice.config.settings import Settings
from globalvoice.domain.errors import (
    ConfigError,
    RetryableError,
    TranslationIncomplete,
    UnsupportedLanguage,
)
from globalvoice.domain.glossary import GlossaryEntry
from globalvoice.engines import registry
from globalvoice.engines.mt.llm import LlmTranslator
from globalvoice.engines.mt.requests import TranslationRequest, fits
from tests.llm_server import (
    ChatServer,
    Reply,
    Script,
    answer,
    completion,
    lines_of,
    translating,
)

TEXTS = ["Good morning.", "The dubbing is ready.", "See you tomorrow."]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def serve(sleeps: Sleeps) -> Iterator[Any]:
    servers: list[Any] = []

    def start(script: Script | Reply, **overrides: Any) -> tuple[LlmTranslator, ChatServer]:
        server = ChatServer(script)
        servers.append(server.running())
        servers[-1].__enter__()
        fields = {"base_url": server.base_url, "model": "test-llm", "licence": "test terms"}
        config = LlmMtConfig.model_validate(fields | {"backoff_s": 0.5} | overrides)
        return LlmTranslator(config, sleep=sleeps), server

    yield start
    for running in servers:
        running.__exit__(None, None, None)


def requests(texts: list[str], **fields: Any) -> list[TranslationRequest]:
    return [TranslationRequest(text=t, source="en", target="es", **fields) for t in texts]


def sequence(*replies: Reply | Script) -> Script:
    """Scripted replies in order; the last one repeats."""
    queue = list(replies)

    def script(request: dict[str, Any]) -> Reply:
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(request) if callable(reply) else reply

    return script


def test_good_batch(serve: Any) -> None:
    engine, server = serve(translating())
    assert engine.translate(TEXTS, source="en", target="es") == [f"ES: {t}" for t in TEXTS]
    (request,) = server.requests  # one request for the batch
    assert request["model"] == "test-llm" and request["temperature"] == 0.0
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["strict"] is True
    assert "English (en)" in request["messages"][0]["content"]
    assert "Spanish (es)" in request["messages"][0]["content"]


def test_batches_are_split_by_batch_size(serve: Any) -> None:
    engine, server = serve(translating(), batch_size=2)
    assert len(engine.translate(TEXTS, source="en", target="es")) == 3
    assert [len(lines_of(r)) for r in server.requests] == [2, 1]


def test_prompt_carries_context_budget_and_glossary(serve: Any) -> None:
    engine, server = serve(translating())
    glossary = (
        GlossaryEntry(source="GlobalVoice"),
        GlossaryEntry(source="dubbing", target="doblaje"),
    )
    request = TranslationRequest(
        text="GlobalVoice does the dubbing.",
        source="en",
        target="es",
        context_before=("Welcome back.",),
        context_after=("Let's start.",),
        max_chars=30,
        min_chars=20,
        glossary=glossary,
    )
    (candidates,) = engine.translate_candidates([request])
    payload = json.loads(server.requests[0]["messages"][-1]["content"])
    assert payload["glossary"] == [
        {"term": "GlobalVoice", "translation": "(keep)"},
        {"term": "dubbing", "translation": "doblaje"},
    ]
    (line,) = payload["lines"]
    assert line["context_before"] == ["Welcome back."]
    assert line["context_after"] == ["Let's start."]
    assert (line["max_chars"], line["min_chars"]) == (30, 20)
    # the fake model ignored the glossary's "doblaje": the post-check says so
    assert [e.source for e in candidates[0].missing_terms] == ["dubbing"]
    assert not fits(candidates[0], request)  # "ES: GlobalVoice does the dubbing." is 33 chars


def test_n_best_candidates_in_model_order(serve: Any) -> None:
    engine, _ = serve(translating(n=3))
    (candidates,) = engine.translate_candidates(requests(["The dubbing is ready now."]), n_best=3)
    assert len(candidates) == 3
    assert [c.score for c in candidates] == [0.0, -1.0, -2.0]
    assert len(candidates[2].text) < len(candidates[0].text)
    assert all(c.engine == "mt.llm:test-llm" for c in candidates)


def test_malformed_json_then_good(serve: Any) -> None:
    engine, server = serve(sequence(completion("Sure! Here you go: {"), translating()))
    assert engine.translate(TEXTS, source="en", target="es") == [f"ES: {t}" for t in TEXTS]
    assert len(server.requests) == 2


def test_fenced_json_is_accepted(serve: Any) -> None:
    def fenced(request: dict[str, Any]) -> Reply:
        content = translating()(request).body["choices"][0]["message"]["content"]
        return completion(f"```json\n{content}\n```")

    engine, _ = serve(fenced, structured_output="none")
    assert engine.translate(["Hi."], source="en", target="es") == ["ES: Hi."]


def test_missing_ids_are_asked_again(serve: Any) -> None:
    def first_only(request: dict[str, Any]) -> Reply:
        line = lines_of(request)[0]
        return answer([(line["id"], ["ES: " + line["text"]])])

    engine, server = serve(sequence(first_only, translating()))
    assert engine.translate(TEXTS, source="en", target="es") == [f"ES: {t}" for t in TEXTS]
    assert [len(lines_of(r)) for r in server.requests] == [3, 2]  # only the missing ones


def test_unknown_ids_and_empty_texts_do_not_count(serve: Any) -> None:
    def sloppy(request: dict[str, Any]) -> Reply:
        ids = [line["id"] for line in lines_of(request)]
        return answer([("99", ["stray"]), (ids[0], ["  "]), *((i, ["ok"]) for i in ids[1:])])

    engine, _ = serve(sloppy, max_format_retries=0)
    (first, second) = engine.translate_candidates(requests(["a", "b"]))
    assert first[0].failed and "left this line out" in (first[0].error or "")
    assert second[0].text == "ok"


def test_429_honours_retry_after(serve: Any, sleeps: Sleeps) -> None:
    limited = Reply(status=429, headers={"Retry-After": "7"}, body={"error": "slow down"})
    engine, server = serve(sequence(limited, limited, translating()))
    assert engine.translate(TEXTS, source="en", target="es")[0] == "ES: Good morning."
    assert sleeps == [7.0, 7.0]
    assert len(server.requests) == 3


def test_429_retry_after_is_capped_and_gives_up(serve: Any, sleeps: Sleeps) -> None:
    limited = Reply(status=429, headers={"Retry-After": "3600"}, body={})
    engine, _ = serve(limited, max_retries=2, max_backoff_s=20)
    with pytest.raises(RetryableError, match="rate-limiting"):
        engine.translate(TEXTS, source="en", target="es")
    assert sleeps == [20.0, 20.0]


def test_500_then_success_backs_off(serve: Any, sleeps: Sleeps) -> None:
    broken = Reply(status=500, body="internal error")
    engine, _ = serve(sequence(broken, Reply(status=503, body="busy"), translating()))
    assert engine.translate(["Hi."], source="en", target="es") == ["ES: Hi."]
    assert sleeps == [0.5, 1.0]  # exponential backoff from backoff_s


def test_timeout_is_retryable(serve: Any, sleeps: Sleeps) -> None:
    def slow(request: dict[str, Any]) -> Reply:
        reply = translating()(request)
        reply.delay_s = 1.0
        return reply

    engine, _ = serve(slow, timeout_s=0.2, max_retries=1)
    with pytest.raises(RetryableError, match=r"did not answer within 0.2 s after 2 attempts"):
        engine.translate(["Hi."], source="en", target="es")
    assert len(sleeps) == 1


def test_connection_refused_is_retryable(sleeps: Sleeps) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = LlmMtConfig(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", licence="x", max_retries=2
    )
    engine = LlmTranslator(config, sleep=sleeps)
    with pytest.raises(RetryableError, match=r"could not be reached.*3 attempts") as caught:
        engine.translate(["Hi."], source="en", target="es")
    assert f"127.0.0.1:{port}" in caught.value.user_message
    assert len(sleeps) == 2


def test_401_is_a_config_error(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "sk-wrong")
    engine, server = serve(
        Reply(status=401, body={"error": {"message": "Incorrect API key"}}),
        api_key_env="TEST_LLM_KEY",
    )
    with pytest.raises(ConfigError, match="refused the API key"):
        engine.translate(["Hi."], source="en", target="es")
    assert len(server.requests) == 1  # not retried
    assert server.headers[0]["Authorization"] == "Bearer sk-wrong"


def test_missing_api_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_LLM_KEY", raising=False)
    config = LlmMtConfig(base_url="http://x/v1", model="m", licence="x", api_key_env="TEST_LLM_KEY")
    with pytest.raises(ConfigError, match="Set the environment variable TEST_LLM_KEY"):
        LlmTranslator(config)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(
            Reply(status=404, body={"error": {"code": "model_not_found"}}), id="openai-404"
        ),
        pytest.param(
            Reply(status=400, body={"message": "The model `test-llm` does not exist."}),
            id="vllm-400",
        ),
    ],
)
def test_wrong_model_is_a_config_error(serve: Any, reply: Reply) -> None:
    engine, server = serve(reply)
    with pytest.raises(ConfigError, match="has no model 'test-llm'"):
        engine.translate(["Hi."], source="en", target="es")
    assert len(server.requests) == 1


def test_schema_refused_falls_back_to_json_object(serve: Any) -> None:
    def picky(request: dict[str, Any]) -> Reply:
        if request.get("response_format", {}).get("type") == "json_schema":
            return Reply(status=400, body={"error": "response_format json_schema unsupported"})
        return translating()(request)

    engine, server = serve(picky)
    assert engine.translate(["Hi."], source="en", target="es") == ["ES: Hi."]
    assert engine.translate(["Bye."], source="en", target="es") == ["ES: Bye."]
    kinds = [r.get("response_format", {}).get("type") for r in server.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]  # remembered


def test_one_line_always_fails_the_others_survive(serve: Any) -> None:
    def poisoned(request: dict[str, Any]) -> Reply:
        if any("POISON" in line["text"] for line in lines_of(request)):
            return completion('{"translations": "no"}')
        return translating()(request)

    engine, server = serve(poisoned, max_format_retries=1)
    texts = ["One.", "Two POISON.", "Three.", "Four."]
    results = engine.translate_candidates(requests(texts))
    assert [c[0].text for c in results] == ["ES: One.", "", "ES: Three.", "ES: Four."]
    failed = results[1][0]
    assert failed.failed and failed.score == float("-inf")
    assert "not the asked-for JSON" in (failed.error or "")
    # 2 batch attempts, then one by one: 1 each for the good lines, 2 for the bad one
    assert len(server.requests) == 2 + 3 + 2
    with pytest.raises(TranslationIncomplete) as caught:
        engine.translate(texts, source="en", target="es")
    assert caught.value.translated == ("ES: One.", None, "ES: Three.", "ES: Four.")


def test_truncated_answer_is_malformed(serve: Any) -> None:
    engine, _ = serve(completion('{"translations": [', finish_reason="length"))
    (result,) = engine.translate_candidates(requests(["Hi."]))
    assert "cut off" in (result[0].error or "")


def test_unsupported_pair_and_blank_lines(serve: Any) -> None:
    engine, server = serve(translating(), languages=["en", "es"])
    assert engine.pairs() == {("en", "es"), ("es", "en")}
    with pytest.raises(UnsupportedLanguage, match="en->de"):
        engine.translate(["Hi."], source="en", target="de")
    assert engine.translate(["", "Hi."], source="en", target="es") == ["", "ES: Hi."]
    assert [len(lines_of(r)) for r in server.requests] == [1]


def test_chosen_by_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GV_MT__KIND", "mt.llm")
    monkeypatch.setenv("GV_MT__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("GV_MT__MODEL", "llama3.1:8b")
    monkeypatch.setenv("GV_MT__LICENCE", "Llama 3.1 Community License")
    settings = Settings()
    engine = registry.build_candidate_mt(settings)
    assert engine.info.fingerprint == "mt.llm:llama3.1:8b"
    assert engine.info.licence == "Llama 3.1 Community License"
    assert engine.capabilities.glossary  # in the prompt: no placeholder wrapper
    assert isinstance(engine, LlmTranslator)
