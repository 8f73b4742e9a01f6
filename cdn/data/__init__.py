"""Vendored data files (see SOURCES.md in this directory for provenance and licences)."""
