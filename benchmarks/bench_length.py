"""Length-aware translation on NTREX (100 lines, references in five languages).

For every embedded pair with a reference on both sides it compares the engine's plain output
(`Translator.translate`, what the pipeline used before) with length-aware selection from n-best
candidates (`CandidateTranslator.translate_candidates`, length bounds 90-110 % of the source's
characters): the best-scored candidate within 10 % of the source's length, else the top one.
Prints one JSON object per pair: chrF and BLEU (sacrebleu) against the references, and the
length-compliance rate (share of outputs within 10 % of the source's character length).

    .venv/bin/python benchmarks/bench_length.py [--pair en-es] [--n-best 8]
"""

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from globalvoice.config.settings import Settings
from globalvoice.engines import registry
from globalvoice.engines.mt.requests import Candidate, TranslationRequest

NTREX = Path(__file__).resolve().parents[2] / "shared" / "media" / "text" / "ntrex"
FILES = {
    "en": "src.eng.txt",
    "pt": "ref.por-BR.txt",
    "es": "ref.spa.txt",
    "fr": "ref.fra.txt",
    "it": "ref.ita.txt",
}
PAIRS = ["en-pt", "en-es", "en-fr", "en-it", "pt-en", "es-en", "fr-en", "it-en", "es-pt", "pt-es"]

app = typer.Typer(add_completion=False)


def _lines(language: str) -> list[str]:
    return (NTREX / FILES[language]).read_text(encoding="utf-8").splitlines()


def within(text: str, source: str, tolerance: float = 0.10) -> bool:
    return abs(len(text) - len(source)) <= tolerance * len(source)


def select(candidates: list[Candidate], source: str) -> str:
    """The pipeline's rule on NTREX: best-scored candidate within 10 %, else the top one."""
    usable = [c for c in candidates if not c.failed]
    for candidate in usable:
        if within(candidate.text, source):
            return candidate.text
    return usable[0].text if usable else ""


def _scores(outputs: list[str], sources: list[str], refs: list[str]) -> dict[str, Any]:
    import sacrebleu

    return {
        "chrf": round(sacrebleu.corpus_chrf(outputs, [refs]).score, 2),
        "bleu": round(sacrebleu.corpus_bleu(outputs, [refs]).score, 2),
        "compliance": round(
            sum(within(o, s) for o, s in zip(outputs, sources, strict=True)) / len(sources), 3
        ),
    }


@app.command()
def main(
    pair: Annotated[list[str] | None, typer.Option(help="e.g. en-es; default: all")] = None,
    n_best: Annotated[int, typer.Option(help="candidates per line")] = 8,
) -> None:
    settings = Settings()
    plain = registry.build_mt(settings)
    rich = registry.build_candidate_mt(settings)
    for name in pair or PAIRS:
        source, target = name.split("-")
        if (source, target) not in plain.pairs():
            continue
        sources, refs = _lines(source), _lines(target)
        started = time.process_time()
        baseline = plain.translate(sources, source=source, target=target)
        plain_cpu = time.process_time() - started
        requests = [
            TranslationRequest(
                text=s,
                source=source,
                target=target,
                max_chars=max(1, round(1.1 * len(s))),
                min_chars=round(0.9 * len(s)),
            )
            for s in sources
        ]
        started = time.process_time()
        lists = rich.translate_candidates(requests, n_best=n_best)
        rich_cpu = time.process_time() - started
        chosen = [select(c, s) for c, s in zip(lists, sources, strict=True)]
        result = {
            "pair": name,
            "route": plain.route(source, target),
            "n_best": n_best,
            "plain": {**_scores(baseline, sources, refs), "cpu_s": round(plain_cpu, 2)},
            "length_aware": {**_scores(chosen, sources, refs), "cpu_s": round(rich_cpu, 2)},
            "mean_candidates": round(sum(len(c) for c in lists) / len(lists), 2),
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    app()
