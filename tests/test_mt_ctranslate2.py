"""The CTranslate2 engine on a tiny model the test builds itself (numpy weights, no download)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from globalvoice.config.mt import CTranslate2MtConfig
from globalvoice.config.settings import Settings
from globalvoice.domain.errors import ConfigError, ModelNotAvailable, UnsupportedLanguage
from globalvoice.engines import registry
from globalvoice.engines.mt.ctranslate2 import OVERSAMPLE, CTranslate2Translator
from globalvoice.engines.mt.requests import TranslationRequest

pytest.importorskip("ctranslate2")
pytest.importorskip("sentencepiece")

from tests.mt_models import LANGUAGE_TOKENS, build_tiny_model

LICENCE = "CC BY-NC 4.0 (test model)"
TEXTS = ["the cat sits on the mat", "hello world", "we dub videos into many languages"]


@pytest.fixture(scope="module")
def nllb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("ct2") / "nllb-tiny")


@pytest.fixture(scope="module")
def marian_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(
        tmp_path_factory.mktemp("ct2") / "opus-tiny",
        spm_name="source.spm",
        language_tokens={"es": ">>spa<<", "pt": ">>por<<"},
        eos_bias=2.0,
    )


def nllb(model_dir: Path, **overrides: object) -> CTranslate2Translator:
    fields: dict[str, object] = {
        "model_dir": model_dir,
        "licence": LICENCE,
        "language_tokens": LANGUAGE_TOKENS,
        "max_decoding_length": 12,
        "cpu_threads": 1,
    }
    return CTranslate2Translator(CTranslate2MtConfig.model_validate(fields | overrides))


def requests(texts: list[str], source: str = "en", target: str = "es") -> list[TranslationRequest]:
    return [TranslationRequest(text=t, source=source, target=target) for t in texts]


def test_loads_and_decodes_a_batch(nllb_dir: Path) -> None:
    engine = nllb(nllb_dir)
    assert engine.pairs() == {(s, t) for s in LANGUAGE_TOKENS for t in LANGUAGE_TOKENS if s != t}
    outputs = engine.translate(TEXTS, source="en", target="es")
    assert len(outputs) == len(TEXTS)
    assert all(isinstance(o, str) and o for o in outputs)
    # language tokens are decoding controls, never text
    assert not any(token in o for o in outputs for token in LANGUAGE_TOKENS.values())
    assert engine.translate([], source="en", target="es") == []
    assert engine.translate(["  "], source="en", target="es") == [""]


def test_is_deterministic_and_target_language_matters(nllb_dir: Path) -> None:
    engine = nllb(nllb_dir)
    first = engine.translate(TEXTS, source="en", target="es")
    assert engine.translate(TEXTS, source="en", target="es") == first
    assert engine.translate(TEXTS, source="en", target="pt") != first


@pytest.mark.parametrize("n_best", [1, 3, 5])
def test_n_best_candidates_sorted_by_score(nllb_dir: Path, n_best: int) -> None:
    engine = nllb(nllb_dir, beam_size=2)  # beam widened to n_best
    results = engine.translate_candidates(requests(TEXTS), n_best=n_best)
    assert len(results) == len(TEXTS)
    for candidates in results:
        assert len(candidates) == n_best
        scores = [c.score for c in candidates]
        assert scores == sorted(scores, reverse=True)
        assert len({c.text for c in candidates}) == n_best
        assert all(c.engine == "mt.ctranslate2:nllb-tiny" and not c.failed for c in candidates)
    same_beam = nllb(nllb_dir, beam_size=max(2, n_best * OVERSAMPLE if n_best > 1 else 1))
    assert [c[0].text for c in results] == same_beam.translate(TEXTS, source="en", target="es")


def test_respects_max_decoding_length(nllb_dir: Path) -> None:
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(nllb_dir / "sentencepiece.bpe.model"))
    longest_piece = max(len(sp.id_to_piece(i)) for i in range(sp.get_piece_size()))
    lengths = {}
    for limit in (3, 8):
        engine = nllb(nllb_dir, max_decoding_length=limit)
        texts = [
            c.text for cs in engine.translate_candidates(requests(TEXTS), n_best=3) for c in cs
        ]
        assert all(0 < len(text) <= limit * longest_piece for text in texts)
        lengths[limit] = sum(map(len, texts))
    assert lengths[3] < lengths[8]  # the random model never stops early: the limit cuts it


def test_marian_style_single_direction(marian_dir: Path) -> None:
    config = CTranslate2MtConfig(
        model_dir=marian_dir,
        licence="CC BY 4.0 (test model)",
        style="marian",
        pairs=["en-es", "en-pt"],
        language_tokens={"es": ">>spa<<", "pt": ">>por<<"},
        max_decoding_length=10,
    )
    engine = CTranslate2Translator(config)
    assert engine.pairs() == {("en", "es"), ("en", "pt")}
    assert engine.info.is_commercial_use_ok
    to_es = engine.translate(TEXTS, source="en", target="es")
    assert len(to_es) == 3 and not any(">>" in text for text in to_es)
    # the target token is prepended to the source: it changes the decoding
    es = engine.translate_candidates(requests(TEXTS, target="es"), n_best=2)
    pt = engine.translate_candidates(requests(TEXTS, target="pt"), n_best=2)
    assert [[c.score for c in cs] for cs in es] != [[c.score for c in cs] for cs in pt]
    with pytest.raises(UnsupportedLanguage, match="en->es, en->pt"):
        engine.translate(TEXTS, source="es", target="en")


def test_licence_is_stated_and_non_commercial_flagged(nllb_dir: Path) -> None:
    info = nllb(nllb_dir).info
    assert info.licence == LICENCE
    assert info.is_commercial_use_ok is False
    assert info.fingerprint == "mt.ctranslate2:nllb-tiny"


def test_missing_dir_names_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match=r"does not exist.*ct2-transformers-converter"):
        nllb(tmp_path / "nope")


def test_incomplete_dir(tmp_path: Path, nllb_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(nllb_dir, broken)
    (broken / "model.bin").unlink()
    with pytest.raises(ModelNotAvailable, match=r"lacks model\.bin"):
        nllb(broken)


def test_missing_tokenizer(tmp_path: Path, nllb_dir: Path) -> None:
    no_spm = tmp_path / "no-spm"
    shutil.copytree(nllb_dir, no_spm)
    (no_spm / "sentencepiece.bpe.model").unlink()
    with pytest.raises(ModelNotAvailable, match="No SentencePiece model"):
        nllb(no_spm)
    with pytest.raises(ModelNotAvailable, match="target SentencePiece model"):
        nllb(nllb_dir, target_spm="target.spm")


def test_corrupt_weights_fail_on_load(tmp_path: Path, nllb_dir: Path) -> None:
    corrupt = tmp_path / "corrupt"
    shutil.copytree(nllb_dir, corrupt)
    (corrupt / "model.bin").write_bytes(b"not a model")
    engine = nllb(corrupt)  # files are there: building succeeds
    with pytest.raises(ModelNotAvailable, match="could not be loaded"):
        engine.translate(["hello"], source="en", target="es")


def test_unknown_language(nllb_dir: Path) -> None:
    engine = nllb(nllb_dir)
    with pytest.raises(UnsupportedLanguage, match="does not translate en to de"):
        engine.translate(["hello"], source="en", target="de")
    with pytest.raises(ConfigError, match="No language token for de"):
        nllb(nllb_dir, pairs=["en-de"])
    with pytest.raises(ConfigError, match="has no token deu_Latn"):
        nllb(nllb_dir, language_tokens={**LANGUAGE_TOKENS, "de": "deu_Latn"})
    with pytest.raises(ConfigError, match="set pairs"):
        nllb(nllb_dir, style="marian")
    with pytest.raises(ConfigError, match="needs language_tokens"):
        nllb(nllb_dir, language_tokens={})


def test_languages_command_states_the_licence(nllb_dir: Path) -> None:
    env = {
        **os.environ,
        "GV_MT__KIND": "mt.ctranslate2",
        "GV_MT__MODEL_DIR": str(nllb_dir),
        "GV_MT__LICENCE": LICENCE,
        "GV_MT__LANGUAGE_TOKENS": '{"en": "eng_Latn", "es": "spa_Latn"}',
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-c", "from globalvoice.cli.main import run; run()", "languages"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=env,
    )
    shown = result.stderr  # the CLI's console writes to stderr
    assert "en->es (CTranslate2 nllb-tiny)" in shown
    assert LICENCE in shown and "NO (non-commercial)" in shown


def test_chosen_by_configuration(nllb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GV_MT__KIND", "mt.ctranslate2")
    monkeypatch.setenv("GV_MT__MODEL_DIR", str(nllb_dir))
    monkeypatch.setenv("GV_MT__LICENCE", LICENCE)
    monkeypatch.setenv("GV_MT__LANGUAGE_TOKENS", '{"en": "eng_Latn", "es": "spa_Latn"}')
    settings = Settings()
    engine = registry.build_mt(settings)
    assert engine.info.name == "mt.ctranslate2"
    assert engine.pairs() == {("en", "es"), ("es", "en")}
    rich = registry.build_candidate_mt(settings)
    assert rich.capabilities.n_best and rich.capabilities.glossary  # glossary via placeholders
    (candidates,) = rich.translate_candidates(requests(["hello world"]), n_best=2)
    assert len(candidates) == 2


def test_licence_must_be_stated(nllb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GV_MT__KIND", "mt.ctranslate2")
    monkeypatch.setenv("GV_MT__MODEL_DIR", str(nllb_dir))
    with pytest.raises(ValueError, match="licence"):
        Settings()
    monkeypatch.delenv("GV_MT__KIND")
    monkeypatch.delenv("GV_MT__MODEL_DIR")
    assert Settings().mt.kind == "mt.embedded"  # nothing non-commercial by default
