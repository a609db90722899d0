"""Shorter translations by paraphrase: the condensing re-translation of the embedded models.

An NMT n-best list hardly varies in length: a 384-character LJSpeech sentence comes out at
399-404 characters in Portuguese whatever the beam (8 to 32) or length penalty. A paraphrase of
the source says the same in other words, often fewer. The best translation is translated back
into the source language (n-best: several paraphrases of the source), each paraphrase is
translated forward again, and whatever comes out shorter than every candidate is scored as a
translation of the *original* source by forced decoding, so it ranks among the others on the
model's own scale (paraphrasing by pivoting, after Mallinson, Sennrich and Lapata, EACL 2017).
On that sentence the shortest is 382 characters ("os cortadores de madeira holandeses" for "...
dos Países Baixos", "gravados" for "gravados em relevo"): some detail may go, which is why these
candidates rank by score and the fitting chain reaches for them only when the better-scored ones
do not fit.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from globalvoice.engines.mt.marian_decoder import DecodeOptions, Hypothesis, MarianTranslator

__all__ = ["ParaphraseOptions", "shorter_by_paraphrase"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParaphraseOptions:
    back_n_best: int = 4  # paraphrases of the source per sentence
    forward_n_best: int = 2  # translations per paraphrase
    keep: int = 4  # shorter translations kept per sentence, best-scored first


def shorter_by_paraphrase(
    forward: MarianTranslator,
    backward: MarianTranslator,
    sources: Sequence[str],
    found: Sequence[Sequence[Hypothesis]],
    *,
    length_alpha: float,
    options: ParaphraseOptions = ParaphraseOptions(),
) -> list[list[tuple[str, float]]]:
    """Per source, up to `options.keep` (text, score) translations shorter than every one in
    its `found` list, best-scored first; `score` is `Hypothesis.score` under `forward`."""
    tops = [hypotheses[0].text if hypotheses else "" for hypotheses in found]
    back = backward.translate(
        tops, DecodeOptions(beam_size=options.back_n_best, n_best=options.back_n_best)
    )
    paraphrases = [(i, h.text) for i, hs in enumerate(back) for h in hs if h.text.strip()]
    again = forward.translate(
        [text for _, text in paraphrases],
        DecodeOptions(beam_size=options.forward_n_best, n_best=options.forward_n_best),
    )
    shorter: list[dict[str, None]] = [{} for _ in sources]
    for (i, _), hypotheses in zip(paraphrases, again, strict=True):
        shortest = min((len(h.text) for h in found[i]), default=0)
        for hypothesis in hypotheses:
            if hypothesis.text and len(hypothesis.text) < shortest:
                shorter[i].setdefault(hypothesis.text)
    out: list[list[tuple[str, float]]] = []
    for source, texts in zip(sources, shorter, strict=True):
        candidates = list(texts)
        scores = forward.score(source, candidates, length_alpha=length_alpha)
        scored = zip(candidates, scores, strict=True)
        ranked = sorted(((t, s) for t, s in scored if s > float("-inf")), key=lambda p: -p[1])
        out.append(ranked[: options.keep])
    return out
