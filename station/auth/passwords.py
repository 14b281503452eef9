"""Password and user-name rules: what a new account may be called and protected with.

The common-password list is generated here from a few words, keyboard runs and the usual
suffixes (no list file to ship or keep up to date); it stops the guesses an attacker tries
first, which length alone does not (``12345678`` is eight characters).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

MIN_PASSWORD = 10
MAX_PASSWORD = 200
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_WORDS = (
    "password", "passw0rd", "p@ssword", "qwerty", "letmein", "welcome", "admin",
    "administrator", "iloveyou", "monkey", "dragon", "football", "baseball", "sunshine",
    "princess", "trustno1", "changeme", "secret", "master", "shadow", "superman", "station",
    "police", "custody", "officer", "default", "login", "guest", "abc", "test",
)  # fmt: skip
_RUNS = (
    "0123456789", "1234567890", "0987654321", "9876543210", "qwertyuiop", "asdfghjkl",
    "zxcvbnm", "1qaz2wsx3edc", "qazwsxedc", "abcdefghij",
)  # fmt: skip
_SUFFIXES = ("", "1", "12", "123", "1234", "12345", "123456", "!", "1!", "123!", "01", "2024",
             "2025", "2026", "2027")  # fmt: skip


@cache
def common_passwords() -> frozenset[str]:
    """Casefolded passwords refused as too common."""
    out: set[str] = set()
    for word in _WORDS:
        for suffix in _SUFFIXES:
            out.add(word + suffix)
            out.add(word + word + suffix)
    for run in _RUNS:
        for n in range(6, len(run) + 1):
            out.add(run[:n])
            out.add(run[:n] + run[:n])
    return frozenset(out)


def normal_username(username: str) -> str:
    """The one form of a user name: NFKC, casefolded, stripped. Two names that look alike are
    the same name, so ``Demo-Admin`` cannot sit beside ``demo-admin``."""
    return unicodedata.normalize("NFKC", username).casefold().strip()


def username_problem(username: str) -> str | None:
    """Why ``username`` cannot be a user name, or None."""
    if not username.isascii():
        return (
            f"user name {username!r} has non-ASCII letters; use a-z, 0-9, '.', '-' or '_' "
            "(look-alike letters from other alphabets would let one name pass for another)"
        )
    if not _USERNAME.match(normal_username(username)):
        return f"user name {username!r} must be 1-100 of a-z, 0-9, '.', '-' or '_'"
    return None


def password_problem(password: str, username: str) -> str | None:
    """Why ``password`` is too weak for ``username``, or None. Never quotes the password."""
    if len(password) < MIN_PASSWORD:
        return f"the password must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must be at most {MAX_PASSWORD} characters"
    folded = password.casefold()
    if not password.strip() or len(set(folded)) < 3:
        return "the password must not be blank or one or two characters repeated"
    name = normal_username(username)
    if name and (name in folded or folded in name or name[::-1] in folded):
        return "the password must not contain the user name"
    if folded in common_passwords() or folded.rstrip("!.?") in common_passwords():
        return "the password is on the list of common passwords; choose another"
    return None
