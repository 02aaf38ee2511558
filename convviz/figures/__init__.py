"""Figures: each plot function draws data on ``ax`` and returns it; the site's figure style."""
