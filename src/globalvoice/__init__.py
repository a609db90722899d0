"""GlobalVoice: open-source AI video dubbing."""

__version__ = "0.1.0"
