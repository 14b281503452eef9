"""Registers: parsing register files, importing them, and keeping the index in step."""
