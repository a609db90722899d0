"""Face landmark engines (the lipsync stage's eyes)."""
