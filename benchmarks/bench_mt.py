"""Benchmark the shipped Bergamot en<->pt students on NTREX (100 lines with references): the
native engine (greedy) against the numpy decoder (engines.mt.marian_decoder) at beam 1 and at
beam 4 with 4-best lists. Speed, CPU time, chrF, agreement with native, length compliance.

    .venv/bin/python benchmarks/bench_mt.py                      # en->pt, BLAS 1 and 2 threads
    .venv/bin/python benchmarks/bench_mt.py --pair pt-en --threads 1 --repeats 7

Each thread count runs in a fresh process (OPENBLAS/OMP/MKL/RAYON_NUM_THREADS set before numpy
loads). Per system: `batch` translates the 100 lines in one call, `repeats` times: ms per line
is the median over repeats of wall / 100, `cpu_s` the median CPU seconds of one such call (all
threads); `single` translates one line per call: ms per line is the median over the 100 lines.
Quality is on the top candidate: chrF (sacrebleu, default chrF2) against the references, and
`same_as_native`. Length: `within_10pct` counts outputs within 10 % of the source's characters,
`fits` those at most 10 % longer; `selected_*` pick, per line, the best-scored candidate that
fits (else the top one), as the pipeline does, with and without the wider search for lines that
no candidate fits. One JSON object goes to stdout.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NTREX = REPO.parent / "shared" / "media" / "text" / "ntrex"
FILES = {"en": "src.eng.txt", "pt": "ref.por-BR.txt"}
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")

app = typer.Typer(add_completion=False)


def _lines(language: str) -> list[str]:
    return (NTREX / FILES[language]).read_text(encoding="utf-8").splitlines()


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _speed(translate: Callable[[list[str]], Any], lines: list[str], repeats: int) -> dict[str, Any]:
    translate(lines[:8])  # warm-up: load weights, first-call costs
    walls, cpus = [], []
    for _ in range(repeats):
        _, wall, cpu = _timed(lambda: translate(lines))
        walls.append(wall)
        cpus.append(cpu)
    singles = [_timed(lambda line=line: translate([line]))[1] for line in lines]
    return {
        "batch_ms_per_line": round(1000 * statistics.median(walls) / len(lines), 2),
        "batch_cpu_s": round(statistics.median(cpus), 3),
        "batch_cpu_ms_per_line": round(1000 * statistics.median(cpus) / len(lines), 2),
        "single_ms_per_line": round(1000 * statistics.median(singles), 2),
    }


def _length(sources: Sequence[str], outputs: Sequence[str]) -> dict[str, int]:
    return {
        "within_10pct": sum(
            abs(len(o) - len(s)) <= 0.1 * len(s) for s, o in zip(sources, outputs, strict=True)
        ),
        "fits": sum(len(o) <= int(1.1 * len(s)) for s, o in zip(sources, outputs, strict=True)),
    }


def _worker(source: str, target: str, repeats: int) -> dict[str, Any]:
    import sacrebleu

    from globalvoice.engines.mt.bergamot import (
        BergamotCandidateTranslator,
        BergamotTranslator,
        shared_decoder,
    )
    from globalvoice.engines.mt.marian_decoder import DecodeOptions
    from globalvoice.engines.mt.requests import TranslationRequest, fits

    lines, references = _lines(source), _lines(target)
    native_engine = BergamotTranslator()
    decoder = shared_decoder((source, target))

    def native(texts: list[str]) -> list[str]:
        return native_engine.translate(texts, source=source, target=target)

    def numpy_decoder(options: DecodeOptions) -> Callable[[list[str]], list[str]]:
        return lambda texts: [found[0].text for found in decoder.translate(texts, options)]

    systems = {
        "native_greedy": native,
        "numpy_beam1": numpy_decoder(DecodeOptions(beam_size=1)),
        "numpy_beam4_nbest4": numpy_decoder(DecodeOptions(beam_size=4, n_best=4)),
    }
    native_out = native(lines)
    report: dict[str, Any] = {}
    for name, translate in systems.items():
        outputs = translate(lines)
        report[name] = {
            **_speed(translate, lines, repeats),
            "chrf": round(sacrebleu.corpus_chrf(outputs, [references]).score, 2),
            "same_as_native": sum(a == b for a, b in zip(outputs, native_out, strict=True)),
            **_length(lines, outputs),
        }
    requests = [
        TranslationRequest(text=line, source=source, target=target, max_chars=int(1.1 * len(line)))
        for line in lines
    ]
    for name, widen in (("selected_beam4_nbest4", False), ("selected_beam4_nbest4_widened", True)):
        engine = BergamotCandidateTranslator(widen_for_budget=widen)
        results, wall, cpu = _timed(lambda e=engine: e.translate_candidates(requests, n_best=4))
        chosen = [
            next((c for c in found if fits(c, r)), found[0]).text
            for found, r in zip(results, requests, strict=True)
        ]
        report[name] = {
            "chrf": round(sacrebleu.corpus_chrf(chosen, [references]).score, 2),
            "lines_with_a_fitting_candidate": sum(
                any(fits(c, r) for c in found) for found, r in zip(results, requests, strict=True)
            ),
            "candidates_per_line": round(sum(map(len, results)) / len(results), 2),
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            **_length(lines, chosen),
        }
    return report


@app.command()
def main(
    pair: Annotated[str, typer.Option(help="en-pt or pt-en")] = "en-pt",
    threads: Annotated[list[int] | None, typer.Option(help="BLAS threads (repeatable)")] = None,
    repeats: Annotated[int, typer.Option(min=1)] = 5,
    worker: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    source, target = pair.split("-")
    if worker:
        print(json.dumps(_worker(source, target, repeats)))
        return
    runs = {}
    for n in threads or [1, 2]:
        env = {**os.environ, **dict.fromkeys(THREAD_VARS, str(n))}
        command = [sys.executable, __file__, "--worker", "--pair", pair, "--repeats", str(repeats)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        runs[f"threads_{n}"] = json.loads(done.stdout.strip().splitlines()[-1])
    load = os.getloadavg()
    print(
        json.dumps(
            {
                "benchmark": "bench_mt",
                "pair": pair,
                "lines": len(_lines(source)),
                "repeats": repeats,
                "cpus": os.cpu_count(),
                "load_avg_1m": round(load[0], 2),
                "python": platform.python_version(),
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    app()
