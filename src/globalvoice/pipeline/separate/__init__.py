"""The separate stage: dialogue and background stems of the source (see `stems`)."""
