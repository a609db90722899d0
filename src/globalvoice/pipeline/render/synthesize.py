"""Render one target language: synthesize and fit every dubbed line, reusing cached takes."""

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, fields, replace
from functools import partial

from pydantic import TypeAdapter

from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.domain.render import (
    FitOutcome,
    FitStep,
    FitStepKind,
    FittedTake,
    Placement,
    TimedPhoneme,
)
from globalvoice.domain.script import Line, TranslatedLine
from globalvoice.engines.tts.protocol import PhonemeTimer, Synthesizer
from globalvoice.media.heap import release_free_heap
from globalvoice.pipeline.keys import FittedTakeKey, fitted_take_key
from globalvoice.pipeline.render.choose import is_condensed
from globalvoice.pipeline.render.fit_policy import (
    FitPolicy,
    ReadingCost,
    borrowable_ms,
    needs_condensing,
    predicted_reading,
    silence_after_ms,
)
from globalvoice.pipeline.render.fit_take import TakeRequest, fit_take
from globalvoice.pipeline.render.phonemes import place_phonemes
from globalvoice.pipeline.render.retranslate import sentence_retranslations
from globalvoice.pipeline.voices.cast import SpeakerVoice
from globalvoice.storage.cache import ArtifactCache

__all__ = ["RenderedLine", "render_language"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedLine:
    translated: TranslatedLine  # as spoken: a re-translation's text when the chain used one
    placement: Placement | None  # None when the line keeps its original audio
    # The dubbed take's phonemes on the timeline (absolute ms), when the TTS can time them.
    phonemes: tuple[TimedPhoneme, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _TakeRecord:
    """What the cache keeps of a fitted take beside its audio: its fields but the line's own
    (the key does not depend on them), the steps as (kind, value) pairs."""

    slot_ms: int
    natural_ms: int
    tempo: float
    tts_speed_permille: int
    outcome: FitOutcome
    borrowed_ms: int
    steps: tuple[tuple[FitStepKind, int], ...]


_TAKE_RECORD = TypeAdapter(_TakeRecord)
_SHARED = tuple(f.name for f in fields(_TakeRecord) if f.name != "steps")  # as in FittedTake


def _cached_take(key: str, line: Line, cache: ArtifactCache) -> FittedTake | None:
    record, audio = cache.get_model(key, _TAKE_RECORD), cache.get_pcm(key)
    if record is None or audio is None:
        return None
    return FittedTake(
        line_id=line.id,
        audio=audio,
        start_ms=line.start_ms,
        steps=tuple(FitStep(kind=kind, value=value) for kind, value in record.steps),
        **{name: getattr(record, name) for name in _SHARED},
    )


def _store_take(key: str, take: FittedTake, cache: ArtifactCache) -> None:
    cache.put_pcm(key, take.audio)
    steps = tuple((step.kind, step.value) for step in take.steps)
    record = _TakeRecord(steps=steps, **{name: getattr(take, name) for name in _SHARED})
    cache.put_model(key, record, _TAKE_RECORD)


def _spoken(item: TranslatedLine, placed: Placement | None) -> TranslatedLine:
    """The line as spoken: with the re-translation's text when the chain used one."""
    index = placed.retranslated_to if placed is not None else None
    if index is None:
        return item
    return replace(item, text=item.alternatives[index], chosen=index)


def _timeline_phonemes(
    tts: Synthesizer, item: TranslatedLine, take: FittedTake, voice: str
) -> tuple[TimedPhoneme, ...]:
    """The placed take's phonemes on the timeline, from the text it speaks."""
    if not isinstance(tts, PhonemeTimer):
        return ()
    spoken = _spoken(item, Placement.of(take))
    natural = tts.phoneme_times(spoken.text, voice=voice, language=spoken.language)
    return place_phonemes(natural, take)


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
    phonemes: dict[int, tuple[TimedPhoneme, ...]] = {}
    voice_of: dict[int, str] = {}
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
        voice = voice_of[index] = cast.synthesis_voice
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
            FittedTakeKey(
                text=item.text,
                language=item.language,
                voice=voice,
                tts=tts.info.fingerprint,
                line_ms=item.line.duration_ms,
                borrowable_ms=borrowable_ms(silence_ms, policy),
                policy=policy.fingerprint,
                profile=cast.fingerprint,
                candidate=candidate,
                alternatives=others,
                retranslated=retranslated,
            )
        )
        cached = _cached_take(key, item.line, cache)
        if cached is not None:
            on_take(cached)
            placed[index] = Placement.of(cached)
            phonemes[index] = _timeline_phonemes(tts, item, cached, voice)
            continue
        request = TakeRequest(
            line=item.line,
            text=item.text,
            language=item.language,
            voice=voice,
            dsp=cast.dsp,
            candidate=candidate,
            alternatives=others,
            retranslated=retranslated,
        )
        run = partial(fit_take, request, silence_ms=silence_ms, tts=tts, policy=policy)
        jobs.append(_Job(index=index, key=key, run=run, size=len(item.text)))
    total, done = len(translated), len(translated) - len(jobs)
    for job, take in _run_jobs(jobs, workers=tts.parallel_lines):
        _store_take(job.key, take, cache)
        on_take(take)
        placed[job.index] = Placement.of(take)
        phonemes[job.index] = _timeline_phonemes(
            tts, translated[job.index], take, voice_of[job.index]
        )
        del take
        release_free_heap()
        done += 1
        progress(StageProgress(stage="synthesize", done=done, total=total, language=language))
    progress(StageProgress(stage="synthesize", done=total, total=total, language=language))
    return tuple(
        RenderedLine(
            translated=_spoken(item, placed.get(index)),
            placement=placed.get(index),
            phonemes=phonemes.get(index, ()),
        )
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
