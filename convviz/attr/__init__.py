"""Attributions: CAMs (a registry of small weight functions) and gradient attributions."""
