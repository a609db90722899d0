"""The dubbing pipeline's stages, one package each, over the typed data in `globalvoice.domain`.

analyse (media -> speakers and lines) -> translate (lines -> candidates) -> voices (speakers ->
voice profiles) -> render (lines + voices -> fitted takes) -> output (takes -> mix, files).
`keys` names every cache key the stages use. `globalvoice.dubbing` chains the stages.
"""
