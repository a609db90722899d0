"""The dubbing pipeline: stages as functions over typed data, and the local runner."""
