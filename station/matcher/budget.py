"""How many edits two identifiers may differ by, and the readings an IMEI-shaped query stands for.

Tolerance follows how much an identifier says, not only how long it is (no numba here; the
kernels mirror :func:`edit_budget` and a test compares them against brute force):

- *Numeric* identifiers (every character a digit once reading confusions are folded) are
  usually sequence numbers: the next item off the line is one digit away. Up to 9 digits
  tolerate no edit, 10-13 digits one, 17 or more two.
- 14-16 digits are IMEI-shaped and tolerate no generic edit. An IMEI's first 8 digits (the
  type allocation code) are shared by every handset of a model, so a one-digit difference
  is another phone, not a misreading of this one. Instead a Luhn-failing read stands for the
  few valid IMEIs one substitution or one adjacent swap away, a 14-digit read for the IMEIs
  one inserted digit away (its check digit appended among them), a 16-digit read for those
  one deleted digit away (as well as its IMEISV reading). See :func:`imei_readings`.
- A read of 15 or 16 characters with exactly one that is no digit is also searched as the
  IMEI it stands for with that character taken as an unknown digit (:func:`imei_erasure`).
- *Alphanumeric* identifiers (a letter that is no confusable of a digit): up to 7 characters
  tolerate no edit, 8-9 one, 10 or more two.

The register's identifier decides: a read is a candidate for an entry when it is within the
entry's budget (so a short numeric entry or an IMEI is found only exactly, whatever was
read). Every budget is capped by ``max_edits`` and never exceeds the index's partition
(:func:`partition_edits`).
"""

from __future__ import annotations

from collections.abc import Iterator

#: identifiers of these lengths made only of digits are read by the IMEI rules
IMEI_SHAPED = range(14, 17)


def partition_edits(length: int, max_edits: int) -> int:
    """Edits the index's segment partition of an entry of ``length`` allows for (an upper
    bound on every :func:`edit_budget`): 0 below 5 characters, 1 below 8, then max_edits."""
    if length < 5:
        return 0
    if length < 8:
        return min(1, max_edits)
    return max_edits


def budget_for(length: int, numeric: bool, max_edits: int) -> int:
    """:func:`edit_budget` from an identifier's length and whether it is all digits."""
    if numeric:
        if length < 10 or length in IMEI_SHAPED:
            return 0
        k = 1 if length < 14 else 2
    else:
        if length < 8:
            return 0
        k = 1 if length < 10 else 2
    return min(k, max_edits)


def reach(length: int, max_edits: int) -> int:
    """Most edits an entry of ``length`` characters may be from a query: the largest budget
    such an entry can have (an alphanumeric one's)."""
    return budget_for(length, False, max_edits)


def edit_budget(canonical: str, max_edits: int) -> int:
    """Edits a canonical (confusion-folded) identifier tolerates; see the module docstring."""
    return budget_for(len(canonical), canonical.isdigit(), max_edits)


def imei_shaped(canonical: str) -> bool:
    """14-16 digits once confusions are folded: read by the IMEI rules, not by edit distance."""
    return len(canonical) in IMEI_SHAPED and canonical.isdigit()


#: Luhn contribution of a digit at an odd place from the right (doubled), and its inverse
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_UNDOUBLE = {v: d for d, v in enumerate(_DOUBLED)}


def _weight(digit: int, doubled: bool) -> int:
    return _DOUBLED[digit] if doubled else digit


def _digit_for(contribution: int, doubled: bool) -> int:
    """The digit whose Luhn contribution is ``contribution`` (mod 10) at such a place."""
    return _UNDOUBLE[contribution % 10] if doubled else contribution % 10


def _luhn_total(digits: str) -> int:
    """Luhn sum of a digit string (every second digit from the right doubled)."""
    doubled = digits[-2::-2]
    return sum(map(int, digits[::-2])) + sum(_DOUBLED[int(c)] for c in doubled)


def luhn_ok(digits: str) -> bool:
    """True when a digit string's last digit is its Luhn check digit."""
    return _luhn_total(digits) % 10 == 0


def imei_readings(canonical: str) -> Iterator[tuple[str, int]]:
    """(valid 15-digit IMEI, edits from the read) an IMEI-shaped read stands for, besides the
    read itself.

    - 15 digits failing Luhn: the one valid digit at each position (Luhn catches every
      single-digit error, so exactly one digit per position restores it) and the adjacent
      swaps that restore it.
    - 14 digits (a digit dropped, or the check digit not read): every valid insertion.
    - 16 digits (a digit too many, besides the IMEISV reading the normaliser makes): every
      valid deletion.
    A 15-digit read that passes Luhn stands for itself alone: yields nothing. Each reading
    costs O(1) from running Luhn sums, so a bulk check of many reads stays cheap.
    """
    n = len(canonical)
    d = [ord(c) - 48 for c in canonical]
    seen: set[str] = set()
    if n == 15:
        plain = [_weight(x, (14 - j) % 2 == 1) for j, x in enumerate(d)]
        total = sum(plain)
        if total % 10 == 0:
            return
        for j in range(15):
            x = _digit_for(plain[j] - total, (14 - j) % 2 == 1)
            s = canonical[:j] + chr(48 + x) + canonical[j + 1 :]
            seen.add(s)
            yield s, 1
        for j in range(14):
            a, b = d[j], d[j + 1]
            if a == b:
                continue
            da = (14 - j) % 2 == 1
            swapped = total - plain[j] - plain[j + 1] + _weight(b, da) + _weight(a, not da)
            if swapped % 10 == 0:
                s = canonical[:j] + canonical[j + 1] + canonical[j] + canonical[j + 2 :]
                if s not in seen:
                    seen.add(s)
                    yield s, 2
    elif n in (14, 16):
        # digits left of the change move one place from the right end: their doubling flips
        left_flipped = [0]
        for j, x in enumerate(d):
            left_flipped.append(left_flipped[-1] + _weight(x, (n - 1 - j) % 2 == 0))
        right_kept = [0] * (n + 1)
        for j in range(n - 1, -1, -1):
            right_kept[j] = right_kept[j + 1] + _weight(d[j], (n - 1 - j) % 2 == 1)
        if n == 14:
            for p in range(15):
                x = _digit_for(-(left_flipped[p] + right_kept[p]), (14 - p) % 2 == 1)
                s = canonical[:p] + chr(48 + x) + canonical[p:]
                if s not in seen:
                    seen.add(s)
                    yield s, 1
        else:
            for p in range(16):
                if (left_flipped[p] + right_kept[p + 1]) % 10 == 0:
                    s = canonical[:p] + canonical[p + 1 :]
                    if s not in seen:
                        seen.add(s)
                        yield s, 1


def imei_erasure(canonical: str) -> str | None:
    """The valid IMEI a read of 15 or 16 characters stands for when exactly one of them is no
    digit (a letter read where an IMEI has only digits): in 15 characters the one digit
    there that satisfies Luhn (a check digit corrects one unknown digit), in 16 the other 15
    if they satisfy it. None when the read is not of that shape or nothing fits."""
    if len(canonical) not in (15, 16):
        return None
    odd = [p for p, c in enumerate(canonical) if not c.isdigit()]
    if len(odd) != 1:
        return None
    p = odd[0]
    if len(canonical) == 16:
        rest = canonical[:p] + canonical[p + 1 :]
        return rest if luhn_ok(rest) else None
    # the unknown digit's contribution is what the others' sum lacks (one digit fits)
    others = _luhn_total(canonical[:p] + "0" + canonical[p + 1 :])
    d = _digit_for(-others, (14 - p) % 2 == 1)
    return canonical[:p] + str(d) + canonical[p + 1 :]


_DROP_DIGITS = str.maketrans("", "", "0123456789")


def letters_and_digits(canonical: str) -> tuple[int, int]:
    """(characters that are not digits, digits) of a canonical identifier."""
    letters = len(canonical.translate(_DROP_DIGITS))
    return letters, len(canonical) - letters


def may_be_truncated(canonical: str, min_length: int) -> bool:
    """Whether a read is informative enough to be looked up as a truncated label.

    A prefix of 6 digits is the start of a whole phone model's IMEIs, so numeric reads need
    10 digits; other reads need ``min_length`` characters and 7.5 decimal digits' worth of
    information, a letter counting 1.5 (``C02XK1`` qualifies, ``A12345`` does not).
    IMEI-shaped reads are looked up by the IMEI rules instead.
    """
    if len(canonical) < min_length or imei_shaped(canonical):
        return False
    letters, digits = letters_and_digits(canonical)
    if letters == 0:
        return digits >= 10
    return 2 * digits + 3 * letters >= 15
