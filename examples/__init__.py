"""Runnable examples of the library: `python -m examples.<name>` from the repository root."""
