"""Readers for Marian's binary files: models (`model.*.bin`, here the Bergamot
`*.intgemm.alphas.bin` students) and binary lexical shortlists (`lex.*.s2t.bin`).

Model file (Marian `io::binary`), little-endian:

    uint64 version (1)
    uint64 n                                   number of items
    n x (uint64 name_len, uint64 type, uint64 shape_len, uint64 data_len)
    names (NUL-terminated), then shapes (int32 each)
    uint64 pad, pad bytes                      aligns the data to 256 bytes
    the data of each item, data_len bytes each

An `intgemm8` item holds the int8 matrix, then one float32 quantisation multiplier `q`
(value = int8 / q), zero-padded, in the row-major layout of the transpose of the GEMM's B
operand: the [cols, rows] transpose of a [rows, cols] weight, but the embedding matrix `Wemb`
([vocab, dim], used as B = Wemb^T by the output layer) as it is. `*_QuantMultA` items hold
the fixed activation range `alpha` the int8 GEMM quantises its input with (A_int8 =
round(A * 127 / alpha)). `special:*` items are text (the model's YAML configuration).

Shortlist file: uint64 magic, checksum, first_num, best_num, word_to_offset_len, lists_len,
then uint64 word_to_offset[word_to_offset_len] and uint32 lists[lists_len]: the candidate target
words of source word w are lists[word_to_offset[w]:word_to_offset[w + 1]].
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "FLOAT32",
    "INT8",
    "LexicalShortlist",
    "MarianFormatError",
    "MarianItem",
    "read_model",
    "read_shortlist",
]

INT8 = 0x4101  # Marian Type::intgemm8
FLOAT32 = 0x0404  # Marian Type::float32
_SHORTLIST_MAGIC = 0xF11A48D5013417F5
_HEADER_FIELDS = 4
_GEMM_TRANSPOSED = frozenset({"Wemb"})  # int8 items the GEMM uses transposed (see above)


class MarianFormatError(ValueError):
    """The file is not a Marian binary model or shortlist this reader understands."""


@dataclass(frozen=True, slots=True)
class MarianItem:
    """One named tensor, as stored: `values` holds float32 numbers, or int8 numbers whose real
    value is int8 / `quant_mult` (the logical [rows, cols] matrix, already un-transposed)."""

    name: str
    type: int
    shape: tuple[int, ...]
    values: npt.NDArray[np.float32] | npt.NDArray[np.int8]
    quant_mult: float = 1.0

    def as_float32(self) -> npt.NDArray[np.float32]:
        """The real values, float32, C-contiguous, in the logical shape."""
        if self.type == INT8:
            return np.ascontiguousarray(self.values, dtype=np.float32) / np.float32(self.quant_mult)
        return np.ascontiguousarray(self.values, dtype=np.float32)

    def scalar(self) -> float:
        """The single value of a [1, 1] item (a `*_QuantMultA` activation range)."""
        if int(np.prod(self.shape)) != 1:
            raise MarianFormatError(f"{self.name}: not a scalar, shape {self.shape}")
        return float(self.as_float32().reshape(-1)[0])


def read_model(path: Path) -> dict[str, MarianItem]:
    """Every tensor of a Marian binary model; `special:*` items (text) are left out."""
    buf = path.read_bytes()
    reader = _Reader(buf, path)
    version = reader.u64()
    if version != 1:
        raise MarianFormatError(f"{path}: not a Marian binary model (version {version})")
    count = reader.u64()
    headers = reader.array(np.uint64, _HEADER_FIELDS * count).reshape(count, _HEADER_FIELDS)
    names = [reader.take(int(h[0])).rstrip(b"\0").decode() for h in headers]
    shapes = [tuple(int(x) for x in reader.array(np.int32, int(h[2]))) for h in headers]
    reader.skip(reader.u64())
    items: dict[str, MarianItem] = {}
    for name, header, shape in zip(names, headers, shapes, strict=True):
        item_type, data_len = int(header[1]), int(header[3])
        start = reader.pos
        reader.skip(data_len)
        if name.startswith("special:"):
            continue
        items[name] = _item(name, item_type, shape, buf, start, data_len, path)
    return items


def _item(
    name: str, item_type: int, shape: tuple[int, ...], buf: bytes, start: int, size: int, path: Path
) -> MarianItem:
    n = int(np.prod(shape))
    if item_type == FLOAT32:
        if size < 4 * n:
            raise MarianFormatError(f"{path}: {name} is truncated")
        values = np.frombuffer(buf, np.float32, n, start).reshape(shape)
        return MarianItem(name, item_type, shape, values)
    if item_type == INT8:
        if size < n + 4:
            raise MarianFormatError(f"{path}: {name} is truncated")
        raw = np.frombuffer(buf, np.int8, n, start)
        quant_mult = float(np.frombuffer(buf, np.float32, 1, start + n)[0])
        stored_transposed = len(shape) == 2 and name not in _GEMM_TRANSPOSED
        matrix = raw.reshape(shape[1], shape[0]).T if stored_transposed else raw.reshape(shape)
        return MarianItem(name, item_type, shape, matrix, quant_mult)
    raise MarianFormatError(f"{path}: {name} has unsupported type {item_type:#x}")


@dataclass(frozen=True, slots=True)
class LexicalShortlist:
    """Which target words may follow a source sentence: the `first_num` most frequent target
    words, EOS and UNK, the source words themselves (shared vocabulary) and the `best_num`
    likeliest translations of every source word (Marian's binary shortlist)."""

    first_num: int
    best_num: int
    word_to_offset: npt.NDArray[np.int64]
    lists: npt.NDArray[np.int64]

    def targets(
        self, source_ids: npt.ArrayLike, *, always: npt.ArrayLike = (), include_source: bool = True
    ) -> npt.NDArray[np.int64]:
        """The sorted target ids allowed for a sentence with these source ids, plus `always`
        (EOS, UNK). `include_source` adds the source ids themselves, as Marian does when source
        and target share one vocabulary (names and numbers copy through)."""
        src = np.unique(np.asarray(source_ids, dtype=np.int64))
        src = src[(src >= 0) & (src < len(self.word_to_offset) - 1)]
        starts, ends = self.word_to_offset[src], self.word_to_offset[src + 1]
        spans = [self.lists[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
        words = np.concatenate(
            [
                np.arange(self.first_num, dtype=np.int64),
                src if include_source else np.zeros(0, np.int64),
                np.asarray(always, dtype=np.int64).reshape(-1),
                *spans,
            ]
        )
        return np.unique(words)


def read_shortlist(path: Path) -> LexicalShortlist:
    """A Marian binary lexical shortlist (`lex.*.s2t.bin`)."""
    buf = path.read_bytes()
    reader = _Reader(buf, path)
    if reader.u64() != _SHORTLIST_MAGIC:
        raise MarianFormatError(f"{path}: not a Marian binary shortlist")
    reader.u64()  # checksum
    first_num, best_num, n_offsets, n_lists = (reader.u64() for _ in range(4))
    offsets = reader.array(np.uint64, n_offsets).astype(np.int64)
    lists = reader.array(np.uint32, n_lists).astype(np.int64)
    if n_offsets == 0 or offsets[-1] > n_lists or np.any(np.diff(offsets) < 0):
        raise MarianFormatError(f"{path}: inconsistent shortlist offsets")
    return LexicalShortlist(first_num, best_num, offsets, lists)


class _Reader:
    def __init__(self, buf: bytes, path: Path) -> None:
        self.buf, self.path, self.pos = buf, path, 0

    def skip(self, n: int) -> None:
        if self.pos + n > len(self.buf):
            raise MarianFormatError(f"{self.path}: truncated at byte {self.pos}")
        self.pos += n

    def take(self, n: int) -> bytes:
        start = self.pos
        self.skip(n)
        return self.buf[start : self.pos]

    def array(self, dtype: type[np.generic], count: int) -> npt.NDArray[np.generic]:
        size = np.dtype(dtype).itemsize * count
        start = self.pos
        self.skip(size)
        return np.frombuffer(self.buf, dtype, count, start)

    def u64(self) -> int:
        return int(self.array(np.uint64, 1)[0])
