"""Ops of the enas spaces (being written)."""
