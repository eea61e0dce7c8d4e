"""Ops of the darts spaces (being written)."""
