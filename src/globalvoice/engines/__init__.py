"""Model engines behind small protocols. Only engines.registry imports implementations."""
