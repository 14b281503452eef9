"""Where the shared, read-only test data lives (beside the repository)."""

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
