"""A tiny CTranslate2 Transformer and SentencePiece model, built offline from numpy weights.

The weights are random (seeded), so the output is gibberish, but every code path of loading,
tokenising, beam search, n-best, prefixes and detokenising runs as it does for NLLB or Opus-MT.
"""

import io
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm
from ctranslate2.converters import Converter
from ctranslate2.specs import transformer_spec

SENTENCES = [
    "the cat sits on the mat",
    "a dog runs in the park",
    "we dub videos into many languages",
    "GlobalVoice translates every line of a film",
    "hello world, good morning to you all",
    "el gato se sienta en la alfombra",
    "un perro corre en el parque",
    "doblamos videos a muchos idiomas",
]
LANGUAGE_TOKENS = {"en": "eng_Latn", "es": "spa_Latn", "pt": "por_Latn"}
_DIM, _FFN, _HEADS = 16, 32, 2


def train_sentencepiece(path: Path) -> spm.SentencePieceProcessor:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES * 4),
        model_writer=model,
        vocab_size=80,
        hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2,
    )
    path.write_bytes(model.getvalue())
    return spm.SentencePieceProcessor(model_file=str(path))


class _TinyConverter(Converter):
    def __init__(self, vocabulary: list[str], *, seed: int, eos_bias: float) -> None:
        self._vocabulary = vocabulary
        self._rng = np.random.default_rng(seed)
        self._eos_bias = eos_bias

    def _weights(self, *shape: int) -> Any:
        return self._rng.normal(0.0, 0.4, shape).astype(np.float32)

    def _norm(self, spec: Any) -> None:
        spec.gamma = np.ones(_DIM, np.float32)
        spec.beta = np.zeros(_DIM, np.float32)

    def _linear(self, spec: Any, out_dim: int, in_dim: int) -> None:
        spec.weight = self._weights(out_dim, in_dim)
        spec.bias = np.zeros(out_dim, np.float32)

    def _ffn(self, spec: Any) -> None:
        self._norm(spec.layer_norm)
        self._linear(spec.linear_0, _FFN, _DIM)
        self._linear(spec.linear_1, _DIM, _FFN)

    def _load(self) -> Any:
        size = len(self._vocabulary)
        spec = transformer_spec.TransformerSpec.from_config(1, _HEADS)
        encoder, decoder = spec.encoder, spec.decoder
        encoder.embeddings[0].weight = self._weights(size, _DIM)
        self._norm(encoder.layer_norm)
        for layer in encoder.layer:
            self._norm(layer.self_attention.layer_norm)
            self._linear(layer.self_attention.linear[0], 3 * _DIM, _DIM)
            self._linear(layer.self_attention.linear[1], _DIM, _DIM)
            self._ffn(layer.ffn)
        decoder.embeddings.weight = self._weights(size, _DIM)
        self._norm(decoder.layer_norm)
        self._linear(decoder.projection, size, _DIM)
        decoder.projection.bias[self._vocabulary.index("</s>")] = self._eos_bias
        for layer in decoder.layer:
            self._norm(layer.self_attention.layer_norm)
            self._linear(layer.self_attention.linear[0], 3 * _DIM, _DIM)
            self._linear(layer.self_attention.linear[1], _DIM, _DIM)
            self._norm(layer.attention.layer_norm)
            self._linear(layer.attention.linear[0], _DIM, _DIM)
            self._linear(layer.attention.linear[1], 2 * _DIM, _DIM)
            self._linear(layer.attention.linear[2], _DIM, _DIM)
            self._ffn(layer.ffn)
        spec.register_source_vocabulary(self._vocabulary)
        spec.register_target_vocabulary(self._vocabulary)
        return spec


def build_tiny_model(
    out: Path,
    *,
    spm_name: str = "sentencepiece.bpe.model",
    language_tokens: dict[str, str] | None = None,
    seed: int = 7,
    eos_bias: float = 0.0,
) -> Path:
    """Write a CTranslate2 model directory with its SentencePiece model to `out`."""
    tokens = LANGUAGE_TOKENS if language_tokens is None else language_tokens
    out.mkdir(parents=True, exist_ok=True)
    sp = train_sentencepiece(out.parent / f"{out.name}.spm")
    vocabulary = [sp.id_to_piece(i) for i in range(sp.get_piece_size())] + list(tokens.values())
    _TinyConverter(vocabulary, seed=seed, eos_bias=eos_bias).convert(str(out), force=True)
    (out / spm_name).write_bytes((out.parent / f"{out.name}.spm").read_bytes())
    return out
