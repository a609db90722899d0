"""Render one target language: translate, synthesize and fit every line, reusing cached work."""

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from functools import partial

from globalvoice.domain.artifacts import derive_key
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.domain.render import FitOutcome, FitStep, FitStepKind, FittedTake, Placement
from globalvoice.domain.script import Line, TranslatedLine
from globalvoice.engines.mt.protocol import Translator
from globalvoice.engines.tts.protocol import Synthesizer
from globalvoice.media.heap import release_free_heap
from globalvoice.pipeline.keys import translation_key
from globalvoice.pipeline.render.choose import is_condensed
from globalvoice.pipeline.render.fit_policy import (
    FitPolicy,
    ReadingCost,
    borrowable_ms,
    needs_condensing,
    predicted_reading,
    silence_after_ms,
)
from globalvoice.pipeline.render.fit_take import fit_take
from globalvoice.pipeline.render.retranslate import sentence_retranslations
from globalvoice.pipeline.translate.lines import translate_lines
from globalvoice.pipeline.voices.cast import SpeakerVoice
from globalvoice.storage.cache import ArtifactCache

__all__ = [
    "RenderedLine",
    "fitted_take_key",
    "render_language",
    "translate_cached",
]

# A fitted take is a function of the line's text, voice, engine, duration, the silence it may
# borrow and the fitting chain, and of how it is made. Version 1 (keys.synth_key + keys.fit_key):
# synthesize at speed 1.0, again at the needed speed when too long, then stretch. Version 2:
# predict the duration, synthesize once at the chosen speed, stretch the remainder. Version 3:
# the explicit chain (FitPolicy.steps): TTS rate to the comfortable tempo, borrowed silence up to
# a limit, stretch to the cap, a shorter re-translation; the steps used are stored with the take.
# Version 4: a take the TTS made shorter than planned is slowed back to its plan when it would
# otherwise pass the comfortable tempo. Version 5: a re-translation is also wanted when a line
# fits only past the comfortable tempo; it picks the best-scored comfortable candidate first;
# sentences over several lines are re-translated whole (sentence_retranslations). Version 6: the
# 'pauses' step (the take's own long pauses shortened before any time-stretch). Version 7: that
# step also takes out what would read a sped-up take's words past the comfortable tempo.
SYNTHESIZE_FIT_VERSION = 7


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedLine:
    translated: TranslatedLine  # as spoken: a re-translation's text when the chain used one
    placement: Placement | None  # None when the line keeps its original audio


def translate_cached(
    lines: Sequence[Line],
    target: str,
    *,
    translator: Translator,
    cache: ArtifactCache,
    progress: ProgressSink = NO_PROGRESS,
) -> tuple[TranslatedLine, ...]:
    engine = translator.info.fingerprint
    found: dict[str, TranslatedLine] = {}
    missing: list[Line] = []
    for line in lines:
        cached = cache.get_json(translation_key(line.text, line.language, target, engine))
        if cached is None:
            missing.append(line)
        else:
            found[line.id] = TranslatedLine(line=line, language=target, **cached)
    for item in translate_lines(missing, target, translator=translator, progress=progress):
        found[item.line.id] = item
        if item.is_dubbed:
            cache.put_json(
                translation_key(item.line.text, item.line.language, target, engine),
                {"text": item.text, "engine": item.engine, "is_dubbed": True, "note": item.note},
            )
    progress(StageProgress(stage="translate", done=len(lines), total=len(lines), language=target))
    return tuple(found[line.id] for line in lines)


def fitted_take_key(
    text: str,
    language: str,
    voice: str,
    tts: str,
    *,
    line_ms: int,
    borrowable_ms: int,
    policy: str,
    profile: str | None = None,
    candidate: int | None = None,
    alternatives: Sequence[tuple[int, str]] = (),
    retranslated: int | None = None,
) -> str:
    """The cache key of a line's fitted take (audio + fit metadata). `borrowable_ms`: the
    silence after the line the chain may take; `policy`: FitPolicy.fingerprint; `profile`: the
    voice profile's fingerprint when the take is matched to its speaker (None: a plain voice);
    `candidate` and `alternatives`: the chosen candidate's index and the candidates a
    re-translation may pick from, or the sentence's re-translation `text` already is (each
    changes the take or its record)."""
    matched = {} if profile is None else {"profile": profile}
    sentence = {} if retranslated is None else {"retranslated": retranslated}
    chosen = {} if candidate is None else {"candidate": candidate}
    others = {"alternatives": [[k, t] for k, t in alternatives]} if alternatives else {}
    return derive_key(
        "synthesize_fit",
        SYNTHESIZE_FIT_VERSION,
        text=text,
        language=language,
        voice=voice,
        engine=tts,
        line_ms=line_ms,
        borrowable_ms=borrowable_ms,
        policy=policy,
        stretch="rubberband-ffmpeg",
        **matched,
        **chosen,
        **others,
        **sentence,
    )


def _cached_take(key: str, line: Line, cache: ArtifactCache) -> FittedTake | None:
    meta, audio = cache.get_json(key), cache.get_pcm(key)
    if meta is None or audio is None:
        return None
    return FittedTake(
        line_id=line.id,
        audio=audio,
        start_ms=line.start_ms,
        slot_ms=meta["slot_ms"],
        natural_ms=meta["natural_ms"],
        tempo=meta["tempo"],
        tts_speed_permille=meta["tts_speed_permille"],
        outcome=FitOutcome(meta["outcome"]),
        borrowed_ms=meta["borrowed_ms"],
        steps=tuple(FitStep(kind=FitStepKind(k), value=v) for k, v in meta["steps"]),
    )


def _store_take(key: str, take: FittedTake, cache: ArtifactCache) -> None:
    cache.put_pcm(key, take.audio)
    cache.put_json(
        key,
        {
            "slot_ms": take.slot_ms,
            "natural_ms": take.natural_ms,
            "tempo": take.tempo,
            "tts_speed_permille": take.tts_speed_permille,
            "outcome": take.outcome.value,
            "borrowed_ms": take.borrowed_ms,
            "steps": [[step.kind.value, step.value] for step in take.steps],
        },
    )


def _spoken(item: TranslatedLine, placed: Placement | None) -> TranslatedLine:
    """The line as spoken: with the re-translation's text when the chain used one."""
    index = placed.retranslated_to if placed is not None else None
    if index is None:
        return item
    return replace(item, text=item.alternatives[index], chosen=index)


def _retranslations(
    item: TranslatedLine, solo: bool, policy: FitPolicy, reading: Callable[[], ReadingCost]
) -> list[tuple[int, str]]:
    """The candidates a re-translation may pick: the line's other alternatives, only when the
    line is its sentence's only line (a share of another candidate would not join its
    neighbours' shares) and the chain has the step; condensed ones only when the line's
    predicted `reading` is clearly too fast (`fit_policy.needs_condensing`)."""
    if not solo or not policy.uses(FitStepKind.RETRANSLATE) or len(item.alternatives) <= 1:
        return []
    condensed = {k for k in range(len(item.alternatives)) if is_condensed(item, k)}
    if condensed and needs_condensing(reading(), policy):
        condensed = set()
    return [
        (k, t)
        for k, t in enumerate(item.alternatives)
        if k != item.chosen and t.strip() and k not in condensed
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Job:
    index: int
    key: str
    run: Callable[[], FittedTake]
    size: int  # for scheduling only: longest first keeps the workers evenly busy


def render_language(
    translated: Sequence[TranslatedLine],
    *,
    voices: dict[str, SpeakerVoice],
    tts: Synthesizer,
    policy: FitPolicy,
    media_end_ms: int,
    cache: ArtifactCache,
    on_take: Callable[[FittedTake], None],
    progress: ProgressSink = NO_PROGRESS,
) -> tuple[RenderedLine, ...]:
    """Synthesize and fit each dubbed line at its source line's absolute start (no drift).

    Each take is handed to `on_take` as soon as it exists (in no set order) and not kept: only
    its placement is returned. Lines are independent, so `tts.parallel_lines` of them are
    synthesized at once; each result depends on its line alone, whatever the order they finish
    in. The cache, `on_take` and the progress sink are only called from the calling thread."""
    language = translated[0].language if translated else None
    placed: dict[int, Placement] = {}
    jobs: list[_Job] = []
    starts = [item.line.start_ms for item in translated]
    group_sizes = Counter(item.group_id or item.line.id for item in translated)
    switched = sentence_retranslations(
        translated, voices=voices, tts=tts, policy=policy, media_end_ms=media_end_ms
    )
    chosen_before = {i: translated[i].chosen for i in switched}
    translated = [
        replace(item, text=item.alternatives[switched[i]], chosen=switched[i])
        if i in switched
        else item
        for i, item in enumerate(translated)
    ]
    for index, item in enumerate(translated):
        if not item.is_dubbed or not item.text.strip():
            continue
        next_start = starts[index + 1] if index + 1 < len(starts) else None
        silence_ms = silence_after_ms(item.line, next_start, media_end_ms, policy)
        cast = voices[item.line.speaker_id]
        voice = cast.synthesis_voice
        candidate = (
            chosen_before.get(index, item.chosen)
            if policy.uses(FitStepKind.CANDIDATE) and len(item.alternatives) > 1
            else None
        )
        retranslated = switched.get(index)
        solo = group_sizes[item.group_id or item.line.id] == 1
        reading = partial(
            predicted_reading, item.text, line=item.line, language=item.language,
            voice=voice, silence_ms=silence_ms, tts=tts, policy=policy,
        )  # fmt: skip
        others = _retranslations(item, solo, policy, reading) if retranslated is None else []
        key = fitted_take_key(
            item.text,
            item.language,
            voice,
            tts.info.fingerprint,
            line_ms=item.line.duration_ms,
            borrowable_ms=borrowable_ms(silence_ms, policy),
            policy=policy.fingerprint,
            profile=cast.fingerprint,
            candidate=candidate,
            alternatives=others,
            retranslated=retranslated,
        )
        cached = _cached_take(key, item.line, cache)
        if cached is not None:
            on_take(cached)
            placed[index] = Placement.of(cached)
            continue
        run = partial(
            fit_take,
            item.line,
            item.text,
            item.language,
            voice,
            silence_ms=silence_ms,
            tts=tts,
            policy=policy,
            dsp=cast.dsp,
            candidate=candidate,
            alternatives=others,
            retranslated=retranslated,
        )
        jobs.append(_Job(index=index, key=key, run=run, size=len(item.text)))
    total, done = len(translated), len(translated) - len(jobs)
    for job, take in _run_jobs(jobs, workers=tts.parallel_lines):
        _store_take(job.key, take, cache)
        on_take(take)
        placed[job.index] = Placement.of(take)
        del take
        release_free_heap()
        done += 1
        progress(StageProgress(stage="synthesize", done=done, total=total, language=language))
    progress(StageProgress(stage="synthesize", done=total, total=total, language=language))
    return tuple(
        RenderedLine(translated=_spoken(item, placed.get(index)), placement=placed.get(index))
        for index, item in enumerate(translated)
    )


def _run_jobs(jobs: Sequence[_Job], *, workers: int) -> Iterator[tuple[_Job, FittedTake]]:
    """Each job with its result, as they finish, over `workers` threads: longest first (keeps
    the workers evenly busy), but never lines that together exceed the longest plus the median
    at once. A synthesis run's memory grows with its line's length, so this bounds the peak by
    the longest line rather than by how many long lines the video happens to have."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield job, job.run()
        return
    pending = sorted(jobs, key=lambda job: (-job.size, job.index))
    sizes = sorted(job.size for job in jobs)
    allowance = sizes[-1] + sizes[len(sizes) // 2]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synthesize") as pool:
        running: dict[Future[FittedTake], _Job] = {}
        try:
            while pending or running:
                while pending and len(running) < workers:
                    load = sum(job.size for job in running.values())
                    fitting = [j for j in pending if load + j.size <= allowance]
                    if not fitting and running:
                        break
                    job = fitting[0] if fitting else pending[0]
                    pending.remove(job)
                    running[pool.submit(job.run)] = job
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: running[f].index):
                    job = running.pop(future)
                    yield job, future.result()
        finally:
            for future in running:
                future.cancel()
