"""The Pointline asset graph: Bronze specs -> dimensions -> Silver, with checks beside their assets.

Kept import-light on purpose: `pointline_defs.py` composes the modules below.
"""
