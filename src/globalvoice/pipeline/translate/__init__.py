"""Translate: lines in; each line's translation candidates out (whole sentences with their
context, n-best, glossary and length budgets; no voice involved)."""
