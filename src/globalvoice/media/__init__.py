"""FFmpeg and signal operations. Imports domain only."""
