"""Check Station: screens seized and recovered property for forensic marks, codes and serials."""

__version__ = "0.1.0"
