"""The command line: typer + rich. Thin: builds settings and engines, calls the pipeline."""
