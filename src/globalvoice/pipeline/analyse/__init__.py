"""Analyse: a media file in; its probe facts, speech audio, speech spans, speakers (diarization),
transcript and the lines to dub (one speaker each) out."""
