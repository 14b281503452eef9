"""Checks: the life of one check record, its capture sequence, outcomes and the self-test."""
