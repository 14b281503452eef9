"""`python -m station` is the `station` command."""

from station.cli import app

app()
