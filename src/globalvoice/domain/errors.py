"""The three error families. Each error has a stable code and a message safe to show a user."""

from typing import ClassVar

__all__ = [
    "ConfigError",
    "GlobalVoiceError",
    "IdempotencyConflict",
    "MediaUnreadable",
    "ModelNotAvailable",
    "NoAudioTrack",
    "NotFound",
    "OutputNotWritable",
    "RetryableError",
    "StorageUnavailable",
    "TranslationIncomplete",
    "UnsafeMedia",
    "UnsupportedLanguage",
    "UserFacingError",
]


class GlobalVoiceError(Exception):
    code: ClassVar[str] = "internal"

    def __init__(self, user_message: str, *, detail: str | None = None) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.detail = detail


class UserFacingError(GlobalVoiceError):
    """The input must change; retrying the same input fails the same way."""

    code: ClassVar[str] = "input.invalid"


class RetryableError(GlobalVoiceError):
    """A transient fault: the same request may succeed later."""

    code: ClassVar[str] = "transient"


class ConfigError(GlobalVoiceError):
    """An operator has to fix the installation or the configuration."""

    code: ClassVar[str] = "config.invalid"


class MediaUnreadable(UserFacingError):
    code: ClassVar[str] = "media.unreadable"


class NoAudioTrack(UserFacingError):
    code: ClassVar[str] = "media.no_audio"


class UnsafeMedia(UserFacingError):
    code: ClassVar[str] = "media.unsafe"


class UnsupportedLanguage(UserFacingError):
    code: ClassVar[str] = "lang.unsupported"


class OutputNotWritable(UserFacingError):
    code: ClassVar[str] = "output.not_writable"


class ModelNotAvailable(ConfigError):
    code: ClassVar[str] = "model.missing"


class StorageUnavailable(RetryableError):
    """The object store or the database could not be reached, or answered with a server error."""

    code: ClassVar[str] = "storage.unavailable"


class IdempotencyConflict(UserFacingError):
    """An idempotency key was reused for a different request."""

    code: ClassVar[str] = "idempotency.conflict"


class NotFound(UserFacingError):
    """The tenant has no such resource (another tenant's resource reads the same)."""

    code: ClassVar[str] = "not_found"


class TranslationIncomplete(RetryableError):
    """Some lines got no valid translation. `translated` holds every line's text in order, None
    for the failed ones, so a caller can keep the others."""

    code: ClassVar[str] = "mt.incomplete"

    def __init__(
        self,
        user_message: str,
        *,
        translated: tuple[str | None, ...],
        detail: str | None = None,
    ) -> None:
        super().__init__(user_message, detail=detail)
        self.translated = translated
