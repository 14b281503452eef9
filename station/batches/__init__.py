"""Bulk checks: spreadsheets of serials and folders/zips of photographs, resumable uploads."""
