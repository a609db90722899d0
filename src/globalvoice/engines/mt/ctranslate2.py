"""CTranslate2 model directories: NLLB-200 / M2M-100 and Opus-MT / Marian, with beam search and
n-best candidates.

The directory holds what `ct2-transformers-converter` or `ct2-opus-mt-converter` writes
(model.bin, config.json, the vocabulary) plus the SentencePiece model(s) copied beside them. The
files are checked when the engine is built (so `globalvoice doctor` reports them); the weights
load on the first translation. Context and length budgets are ignored: this is sentence-level
NMT, and the caller picks among the n-best candidates the one that fits.
"""

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from globalvoice.config.mt import CTranslate2MtConfig, is_non_commercial
from globalvoice.domain.errors import ConfigError, ModelNotAvailable, UnsupportedLanguage
from globalvoice.domain.language import LanguagePair
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.mt.requests import (
    Candidate,
    MtCapabilities,
    TranslationRequest,
    group_by_pair,
)

__all__ = ["OVERSAMPLE", "CTranslate2Translator"]

_SPM_NAMES = ("source.spm", "sentencepiece.bpe.model", "spm.model", "sentencepiece.model")
_VOCABULARIES = ("shared_vocabulary", "source_vocabulary", "target_vocabulary")
OVERSAMPLE = 2  # hypotheses decoded per n-best candidate asked for
_INSTALL = "pip install 'globalvoice[production]'"


class CTranslate2Translator:
    def __init__(self, config: CTranslate2MtConfig) -> None:
        self._config = config
        self._dir = _model_dir(config.model_dir)
        self._model_config = _read_json(self._dir / "config.json")
        self._spm = _spm_paths(config, self._dir)
        self._pairs = _pairs(config)
        _check_language_tokens(config, self._dir)
        self._model: Any = None
        self._tokenizers: tuple[Any, Any] | None = None

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(
            name="mt.ctranslate2",
            model_id=self._config.model_id or self._dir.name,
            licence=self._config.licence,
            is_commercial_use_ok=not is_non_commercial(self._config.licence),
        )

    @property
    def capabilities(self) -> MtCapabilities:
        return MtCapabilities(n_best=True)

    def pairs(self) -> frozenset[LanguagePair]:
        return self._pairs

    def route(self, source: str, target: str) -> str:
        return f"{source}->{target} (CTranslate2 {self.info.model_id})"

    def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        requests = [TranslationRequest(text=t, source=source, target=target) for t in texts]
        return [c[0].text for c in self.translate_candidates(requests, n_best=1)]

    def translate_candidates(
        self, requests: Sequence[TranslationRequest], *, n_best: int = 1
    ) -> list[list[Candidate]]:
        """Up to `n_best` distinct candidates per request, best score first. The score is the
        hypothesis log-probability as CTranslate2 returns it (length-normalised by
        `length_penalty`)."""
        out: list[list[Candidate]] = [[] for _ in requests]
        for (source, target), indexes in group_by_pair(requests).items():
            if (source, target) not in self._pairs:
                supported = ", ".join(f"{s}->{t}" for s, t in sorted(self._pairs))
                raise UnsupportedLanguage(
                    f"The CTranslate2 model {self.info.model_id} does not translate {source} to "
                    f"{target}. Configured pairs: {supported}."
                )
            texts = [requests[i].text for i in indexes]
            for i, candidates in zip(
                indexes, self._decode(texts, source, target, n_best), strict=True
            ):
                out[i] = candidates
        return out

    def _decode(
        self, texts: list[str], source: str, target: str, n_best: int
    ) -> list[list[Candidate]]:
        model, (source_sp, target_sp) = self._load()
        n = max(n_best, 1)
        # Hypotheses that differ only in tokenisation decode to the same text: ask for more and
        # keep the best `n` distinct texts.
        hypotheses = n * OVERSAMPLE if n > 1 else 1
        sources = [self._source_tokens(source_sp, text, source, target) for text in texts]
        prefix = self._target_prefix(target)
        try:
            results = model.translate_batch(
                sources,
                target_prefix=[prefix] * len(sources) if prefix else None,
                max_batch_size=self._config.batch_size,
                beam_size=max(self._config.beam_size, hypotheses),
                num_hypotheses=hypotheses,
                length_penalty=self._config.length_penalty,
                max_decoding_length=self._config.max_decoding_length + len(prefix),
                return_scores=True,
            )
        except (RuntimeError, ValueError) as err:
            raise ConfigError(
                f"CTranslate2 could not translate with {self._dir}: check device and "
                "compute_type in the MT configuration.",
                detail=str(err),
            ) from err
        engine = self.info.fingerprint
        specials = set(self._config.language_tokens.values())
        out = []
        for text, result in zip(texts, results, strict=True):
            if not text.strip():
                out.append([Candidate(text="", score=0.0, engine=engine)])
                continue
            best: dict[str, Candidate] = {}
            for tokens, score in zip(result.hypotheses, result.scores, strict=True):
                decoded = str(target_sp.decode([t for t in tokens if t not in specials])).strip()
                best.setdefault(decoded, Candidate(text=decoded, score=float(score), engine=engine))
            out.append(sorted(best.values(), key=lambda c: -c.score)[:n])
        return out

    def _source_tokens(self, sp: Any, text: str, source: str, target: str) -> list[str]:
        tokens: list[str] = list(sp.encode(text.strip(), out_type=str))
        if not self._model_config.get("add_source_eos", False):
            tokens.append(str(self._model_config.get("eos_token", "</s>")))
        codes = self._config.language_tokens
        if self._config.style == "nllb":
            return [codes[source], *tokens]
        return [codes[target], *tokens] if target in codes else tokens

    def _target_prefix(self, target: str) -> list[str]:
        return [self._config.language_tokens[target]] if self._config.style == "nllb" else []

    def _load(self) -> tuple[Any, tuple[Any, Any]]:
        if self._model is None or self._tokenizers is None:
            try:
                import ctranslate2
                import sentencepiece
            except ImportError as err:
                raise ModelNotAvailable(
                    f"The CTranslate2 MT engine needs ctranslate2 and sentencepiece: {_INSTALL}."
                ) from err
            try:
                self._tokenizers = (
                    sentencepiece.SentencePieceProcessor(model_file=str(self._spm[0])),
                    sentencepiece.SentencePieceProcessor(model_file=str(self._spm[1])),
                )
                self._model = ctranslate2.Translator(
                    str(self._dir),
                    device=self._config.device,
                    compute_type=self._config.compute_type,
                    intra_threads=self._config.cpu_threads,
                )
            except (RuntimeError, ValueError, OSError) as err:
                raise ModelNotAvailable(
                    f"The CTranslate2 model in {self._dir} could not be loaded: convert it again "
                    "with ct2-transformers-converter (or ct2-opus-mt-converter) and check the "
                    "MT configuration (device, compute_type).",
                    detail=str(err),
                ) from err
        return self._model, self._tokenizers


def _model_dir(path: Path) -> Path:
    path = path.expanduser()
    missing = [name for name in ("model.bin", "config.json") if not (path / name).is_file()]
    if missing:
        what = "does not exist" if not path.is_dir() else f"lacks {', '.join(missing)}"
        raise ModelNotAvailable(
            f"The CTranslate2 model directory {path} {what}. Convert a model into it, e.g. "
            "`ct2-transformers-converter --model facebook/nllb-200-distilled-600M "
            "--copy_files sentencepiece.bpe.model "
            f"--output_dir {path}`, then set GV_MT__MODEL_DIR."
        )
    return path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelNotAvailable(f"{path} is not readable JSON: convert the model again.") from err
    if not isinstance(data, dict):
        raise ModelNotAvailable(f"{path} is not a CTranslate2 model config: convert it again.")
    return data


def _spm_paths(config: CTranslate2MtConfig, root: Path) -> tuple[Path, Path]:
    names = (config.source_spm,) if config.source_spm else _SPM_NAMES
    source = next((root / n for n in names if (root / n).is_file()), None)
    if source is None:
        raise ModelNotAvailable(
            f"No SentencePiece model in {root} (looked for {', '.join(names)}): copy the "
            "model's tokenizer file there, or name it with GV_MT__SOURCE_SPM."
        )
    target_name = config.target_spm or ("target.spm" if (root / "target.spm").is_file() else None)
    target = root / target_name if target_name else source
    if not target.is_file():
        raise ModelNotAvailable(f"The target SentencePiece model {target} is missing.")
    return source, target


def _pairs(config: CTranslate2MtConfig) -> frozenset[LanguagePair]:
    codes = config.language_tokens
    if config.style == "nllb" and not codes:
        raise ConfigError(
            "An NLLB-style model needs language_tokens, e.g. "
            '{"en": "eng_Latn", "es": "spa_Latn"} (GV_MT__LANGUAGE_TOKENS).'
        )
    if config.pairs:
        pairs = frozenset((p.split("-")[0], p.split("-")[1]) for p in config.pairs)
    elif config.style == "nllb":
        pairs = frozenset(itertools.permutations(sorted(codes), 2))
    else:
        raise ConfigError('A Marian model translates fixed directions: set pairs, e.g. ["en-de"].')
    if config.style == "nllb":
        unmapped = sorted({lang for pair in pairs for lang in pair} - set(codes))
        if unmapped:
            raise ConfigError(
                f"No language token for {', '.join(unmapped)}: add them to language_tokens "
                '(e.g. {"en": "eng_Latn", "es": "spa_Latn"}).'
            )
    return pairs


def _check_language_tokens(config: CTranslate2MtConfig, root: Path) -> None:
    vocabulary: set[str] = set()
    for name in _VOCABULARIES:
        if (root / f"{name}.json").is_file():
            vocabulary.update(json.loads((root / f"{name}.json").read_text(encoding="utf-8")))
        elif (root / f"{name}.txt").is_file():
            vocabulary.update((root / f"{name}.txt").read_text(encoding="utf-8").splitlines())
    unknown = sorted(t for t in config.language_tokens.values() if t not in vocabulary)
    if vocabulary and unknown:
        raise ConfigError(
            f"The model in {root} has no token {', '.join(unknown)}: fix language_tokens "
            "(NLLB uses codes like eng_Latn, multi-target Opus-MT tokens like >>spa<<)."
        )
