"""The dubbing use case: one request, the engines, analyse -> translate -> synthesize -> finish.

The CLI's local runner and the service's Temporal activities both call these steps; `finish`
writes every output and the manifest for both.
"""
