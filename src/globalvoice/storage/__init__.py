"""Where artifacts live. The local content-addressed cache for the CLI."""
