"""Bundled scenarios, installed as the package ``cdn.scenarios``."""
