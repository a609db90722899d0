"""Mouth engines: what the speaker's mouth looks like in each frame of a dubbed line."""
