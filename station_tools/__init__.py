"""Development and evaluation tools: code that needs the scene generator (hw_sim) or exists
only to measure the station. Installed with the project but never imported by ``station``
except lazily, by ``station eval``."""
