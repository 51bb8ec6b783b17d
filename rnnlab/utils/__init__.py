"""Helpers every part of rnnlab may import; they import no axis (nets, tasks, data)."""
