"""The three error families. Each error has a stable code and a message safe to show a user."""

from typing import ClassVar

__all__ = [
    "ConfigError",
    "GlobalVoiceError",
    "MediaUnreadable",
    "ModelNotAvailable",
    "NoAudioTrack",
    "OutputNotWritable",
    "RetryableError",
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
