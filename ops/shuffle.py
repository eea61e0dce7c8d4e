"""Ops of the shuffle spaces (being written)."""
