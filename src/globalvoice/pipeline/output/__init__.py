"""Output: the dubbed speech track and the source in; the mix, loudness-normalised audio, the
muxed video and subtitles out."""
