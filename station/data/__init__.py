"""Data files shipped with the station (the demo register)."""
