"""Everything the API needs, built by its caller (the `serve` command or a test)."""

from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from globalvoice.config.settings import LimitSettings, ServiceSettings
from globalvoice.domain.language import LanguagePair
from globalvoice.orchestration.jobs import DubLauncher
from globalvoice.storage.blobs import BlobStore
from globalvoice.storage.events import EventBus
from globalvoice.storage.voices.protocol import VoiceLibrary

__all__ = ["ApiContext", "LanguageSupport"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageSupport:
    """What the workers can do, known without loading any model weights.

    `targets`: languages with a voice; `pairs`: (source, target) the translator can route.
    """

    targets: frozenset[str]
    pairs: frozenset[LanguagePair]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiContext:
    settings: ServiceSettings
    sessions: sessionmaker[Session]
    store: BlobStore
    events: EventBus
    launcher: DubLauncher
    languages: LanguageSupport
    keepalive_s: float = 15.0  # SSE comment interval
    voices: VoiceLibrary | None = None  # None: /v1/voices answers 501
    limits: LimitSettings = field(default_factory=LimitSettings)  # what one dub may ask for
