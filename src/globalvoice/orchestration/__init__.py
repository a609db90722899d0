"""Temporal orchestration: one workflow per dub, each stage an activity on its pool's queue."""
