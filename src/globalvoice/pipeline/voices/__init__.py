"""Voices: speakers and their speech in; a voice per speaker out (cast by sex, or a profile fitted
to their pitch and timbre from the shipped voice bank, recalled from the voice library)."""
