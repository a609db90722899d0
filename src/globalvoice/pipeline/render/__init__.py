"""Render: translated lines and voices in; fitted takes out (the candidate chosen for its slot,
synthesis, the fitting chain: TTS rate, borrowed silence, pauses, stretch, re-translation)."""
