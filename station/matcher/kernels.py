"""Compiled hot loops of the array index (numba): segment hashing, probing, bounded edit distance.

Everything works on byte arrays of *normal* identifiers and folds confusable characters on
the fly through a 256-entry table, so the index stores one copy of each identifier. The
probe rule is the one in :mod:`station.matcher.partition` (kept in step by a test that
compares both against brute force).
"""

from __future__ import annotations

import numpy as np

from station.matcher.jit import configure_cache

configure_cache()  # before numba is imported: it reads the cache directory once

from numba import njit, prange  # noqa: E402

from station.matcher.tables import (  # noqa: E402, F401  (the tables are part of the API)
    KEY_CHARS,
    PACKED_CHARS,
    fold_table,
    key_codes,
    pack_codes,
    signature_bits,
)

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S8 = np.uint64(8)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_S48 = np.uint64(48)
_LOW16 = np.uint64(0xFFFF)
_FP16 = np.uint64(0xFFFF000000000000)
_SIX = np.uint64(63)
_SLOW = np.uint64(1 << 63)
#: signature bits of the letter classes (digits take bits 0-9)
_LETTERS = np.uint64(0xFC00)
#: the entry points, whose compile statistics show whether the cache served a process
DISPATCHERS = (
    "build_segments",
    "sort_keys",
    "fuzzy_one",
    "fuzzy_many",
    "partial_one",
)


@njit(cache=True, nogil=True, inline="always")
def _allowed(length: int, max_edits: int) -> int:
    if length < 5:
        return 0
    if length < 8:
        return min(1, max_edits)
    return max_edits


@njit(cache=True, nogil=True, inline="always")
def _budget(length, numeric, max_edits):  # type: ignore[no-untyped-def]
    """:func:`station.matcher.budget.budget_for`: edits an identifier tolerates."""
    if numeric:
        if length < 10 or 14 <= length <= 16:
            return 0
        k = 1 if length < 14 else 2
    else:
        if length < 8:
            return 0
        k = 1 if length < 10 else 2
    return min(k, max_edits)


@njit(cache=True, nogil=True, inline="always")
def _reach(length, max_edits):  # type: ignore[no-untyped-def]
    """:func:`station.matcher.budget.reach`: most edits an entry of this length may be from a
    query."""
    return _budget(length, False, max_edits)


@njit(cache=True, nogil=True)
def _numeric(buf, start, length, fold):  # type: ignore[no-untyped-def]
    """True when every folded character of buf[start:start+length] is a digit."""
    for j in range(start, start + length):
        c = fold[buf[j]]
        if c < 48 or c > 57:
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _seg_hash(buf, start, length, fold, total_len, seg):  # type: ignore[no-untyped-def]
    h = _FNV_OFFSET ^ (np.uint64(total_len) << _S8) ^ np.uint64(seg)
    h = h * _FNV_PRIME
    for p in range(start, start + length):
        h = (h ^ np.uint64(fold[buf[p]])) * _FNV_PRIME
    h = (h ^ (h >> _S30)) * _M1
    h = (h ^ (h >> _S27)) * _M2
    return h ^ (h >> _S31)


_SIG_BITS = signature_bits()


@njit(cache=True, nogil=True, inline="always")
def _signature(buf, start, length, pack):  # type: ignore[no-untyped-def]
    """16-bit set of the character classes an identifier contains."""
    sig = np.uint64(0)
    for j in range(start, start + length):
        sig |= _SIG_BITS[pack[buf[j]]]
    return sig


@njit(cache=True, nogil=True, inline="always")
def _over(x, k):  # type: ignore[no-untyped-def]
    """True when more than k bits of x are set."""
    for _ in range(k):
        x &= x - np.uint64(1)
    return x != 0


@njit(cache=True, nogil=True, inline="always")
def _pack(buf, start, length, pack):  # type: ignore[no-untyped-def]
    """First 20 canonical characters as 6-bit codes in two words; bit 63 of w1 = slow path."""
    w0 = np.uint64(0)
    w1 = np.uint64(0)
    slow = length > PACKED_CHARS
    for j in range(min(length, PACKED_CHARS)):
        c = np.uint64(pack[buf[start + j]])
        if c == 0:
            slow = True
        if j < 10:
            w0 |= c << np.uint64(6 * j)
        else:
            w1 |= c << np.uint64(6 * (j - 10))
    if slow:
        w1 |= _SLOW
    return w0, w1


#: the slot field of a marker posting: "this key is heavy, probe its conditional keys"
MARKER = np.uint64(0xFFFFFFFF)
_C_MIX = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True, inline="always")
def _rest_hash(buf, base, seg_start, seg_len, r_start, r_len, fold, anchor, r):  # type: ignore[no-untyped-def]
    """Hash of part ``r`` of an identifier's *rest* (the identifier without the segment at
    ``seg_start``), conditioned on the anchor segment's own hash: a conditional key."""
    h = (anchor ^ (np.uint64(r + 1) * _C_MIX)) * _FNV_PRIME
    for j in range(r_start, r_start + r_len):
        at = j if j < seg_start else j + seg_len
        h = (h ^ np.uint64(fold[buf[base + at]])) * _FNV_PRIME
    h = (h ^ (h >> _S30)) * _M1
    h = (h ^ (h >> _S27)) * _M2
    return h ^ (h >> _S31)


@njit(cache=True, nogil=True, inline="always")
def _part(length, parts, r):  # type: ignore[no-untyped-def]
    """(start, length) of part r when ``length`` characters are cut into ``parts``."""
    base, extra = length // parts, length % parts
    start = 0
    for j in range(r):
        start += base + (1 if j >= parts - extra else 0)
    return start, base + (1 if r >= parts - extra else 0)


@njit(cache=True, nogil=True)
def heavy_keys(value, voff, fold, max_edits, heavy):  # type: ignore[no-untyped-def]
    """Sorted segment keys that more than ``heavy`` entries share (none when heavy <= 0).

    Only keys of identifiers cut into two or more segments count: the rest of a one-segment
    identifier is empty and has nothing to condition on.
    """
    n = voff.size - 1
    total_keys = 0
    for s in range(n):
        total = voff[s + 1] - voff[s]
        kp = _allowed(total, max_edits)
        if heavy > 0 and kp > 0 and total >= kp + 1:
            total_keys += _budget(total, _numeric(value, voff[s], total, fold), max_edits) + 1
    keys = np.empty(total_keys, dtype=np.uint64)
    at = 0
    for s in range(n):
        total = voff[s + 1] - voff[s]
        kp = _allowed(total, max_edits)
        if not (heavy > 0 and kp > 0 and total >= kp + 1):
            continue
        parts = kp + 1
        first = parts - 1 - _budget(total, _numeric(value, voff[s], total, fold), max_edits)
        pos = voff[s]
        for i in range(parts):
            seg_start, seg_len = _part(total, parts, i)
            if i >= first:
                keys[at] = _seg_hash(value, pos + seg_start, seg_len, fold, total, i)
                at += 1
    keys.sort()
    count = 0
    run = 0
    for j in range(keys.size):
        run = run + 1 if j > 0 and keys[j] == keys[j - 1] else 1
        if run == heavy + 1:
            count += 1
    out = np.empty(count, dtype=np.uint64)
    count = 0
    run = 0
    for j in range(keys.size):
        run = run + 1 if j > 0 and keys[j] == keys[j - 1] else 1
        if run == heavy + 1:
            out[count] = keys[j]
            count += 1
    return out


@njit(cache=True, nogil=True, inline="always")
def _is_heavy(heavy, h):  # type: ignore[no-untyped-def]
    if heavy.size == 0:
        return False
    at = np.searchsorted(heavy, h)
    return at < heavy.size and heavy[at] == h


@njit(cache=True, nogil=True)
def build_segments(value, voff, fold, pack, max_edits, bits, heavy):  # type: ignore[no-untyped-def]
    """Bucketed hash table of the entries' segments: (directory, postings).

    An entry of length L is cut into k+1 segments (k = :func:`_allowed` of L), of which only
    the last b+1 are stored, b being the entry's own budget: a read within b edits keeps one
    of them intact (the rightmost-segment rule of :func:`_fuzzy_one`). So an IMEI (b = 0) is
    stored once, under its serial digits, and no bucket holds a whole model's shared prefix.

    A segment key shared by many entries (``heavy``, sorted, from :func:`heavy_keys`: a
    maker's prefix, a run of digits) would make every probe of it scan them all. Such a key
    holds one *marker* posting instead, and each of its entries is stored under conditional
    keys: the anchor segment plus one of the k+1 parts of the entry's rest (the last b+1,
    by the same rightmost rule). If the anchor is the read's rightmost intact segment, the
    rest holds at most b edits, so one of those parts is intact too (:func:`_conditional`).

    A posting is three words: the entry's packed canonical identifier (so candidates are
    verified from the posting itself, without a random read of the entry) and
    16-bit fingerprint << 48 | 16-bit character-class signature << 32 | slot.
    """
    n = voff.size - 1
    nb = 1 << bits
    shift = np.uint64(64 - bits)
    counts = np.zeros(nb + 1, dtype=np.int64)
    for h in heavy:
        counts[np.int64(h >> shift) + 1] += 1
    for s in range(n):
        total = voff[s + 1] - voff[s]
        k = _allowed(total, max_edits)
        parts = k + 1
        if total < parts:
            continue
        b = _budget(total, _numeric(value, voff[s], total, fold), max_edits)
        first = parts - 1 - b
        pos = voff[s]
        for i in range(first, parts):
            seg_start, seg_len = _part(total, parts, i)
            h = _seg_hash(value, pos + seg_start, seg_len, fold, total, i)
            if _is_heavy(heavy, h):
                for r in range(first, parts):
                    r_start, r_len = _part(total - seg_len, parts, r)
                    c = _rest_hash(value, pos, seg_start, seg_len, r_start, r_len, fold, h, r)
                    counts[np.int64(c >> shift) + 1] += 1
            else:
                counts[np.int64(h >> shift) + 1] += 1
    for bucket in range(nb):
        counts[bucket + 1] += counts[bucket]
    m = counts[nb]
    post = np.empty((m, 3), dtype=np.uint64)
    fill = counts[:nb].copy()
    for h in heavy:
        b = np.int64(h >> shift)
        post[fill[b], 0] = 0
        post[fill[b], 1] = 0
        post[fill[b], 2] = ((h & _LOW16) << _S48) | MARKER
        fill[b] += 1
    for s in range(n):
        total = voff[s + 1] - voff[s]
        k = _allowed(total, max_edits)
        parts = k + 1
        if total < parts:
            continue
        w0, w1 = _pack(value, voff[s], total, pack)
        sig = _signature(value, voff[s], total, pack) << _S32
        first = parts - 1 - _budget(total, _numeric(value, voff[s], total, fold), max_edits)
        pos = voff[s]
        for i in range(first, parts):
            seg_start, seg_len = _part(total, parts, i)
            h = _seg_hash(value, pos + seg_start, seg_len, fold, total, i)
            if _is_heavy(heavy, h):
                for r in range(first, parts):
                    r_start, r_len = _part(total - seg_len, parts, r)
                    c = _rest_hash(value, pos, seg_start, seg_len, r_start, r_len, fold, h, r)
                    _put(post, fill, c, shift, w0, w1, sig, s)
            else:
                _put(post, fill, h, shift, w0, w1, sig, s)
    return counts.astype(np.uint32), post


@njit(cache=True, nogil=True, inline="always")
def _put(post, fill, h, shift, w0, w1, sig, s):  # type: ignore[no-untyped-def]
    b = np.int64(h >> shift)
    at = fill[b]
    post[at, 0] = w0
    post[at, 1] = w1
    post[at, 2] = ((h & _LOW16) << _S48) | sig | np.uint64(s)
    fill[b] = at + 1


@njit(cache=True, nogil=True)
def bounded_distance(a, a0, n, b, b0, m, fold, k, prev, cur):  # type: ignore[no-untyped-def]
    """Levenshtein distance of folded a[a0:a0+n] and b[b0:b0+m], or k+1 once it exceeds k."""
    big = k + 1
    if abs(n - m) > k:
        return big
    for j in range(m + 1):
        prev[j] = j if j <= k else big
    for i in range(1, n + 1):
        lo = max(1, i - k)
        hi = min(m, i + k)
        cur[0] = i if i <= k else big
        if lo > 1:
            cur[lo - 1] = big
        row_min = cur[0] if lo == 1 else big
        ca = fold[a[a0 + i - 1]]
        for j in range(lo, hi + 1):
            v = prev[j - 1] + (0 if ca == fold[b[b0 + j - 1]] else 1)
            t = prev[j] + 1
            if t < v:
                v = t
            t = cur[j - 1] + 1
            if t < v:
                v = t
            if v > big:
                v = big
            cur[j] = v
            if v < row_min:
                row_min = v
        if hi < m:
            cur[hi + 1] = big
        if row_min > k:
            return big
        prev, cur = cur, prev
    return prev[m]


@njit(cache=True, nogil=True, inline="always")
def _code_at(w0, w1, j):  # type: ignore[no-untyped-def]
    """Code of character j of a packed identifier."""
    if j < 10:
        return (w0 >> np.uint64(6 * j)) & _SIX
    return (w1 >> np.uint64(6 * (j - 10))) & _SIX


@njit(cache=True, nogil=True)
def packed_distance(qc, n, w0, w1, m, k, prev, cur):  # type: ignore[no-untyped-def]
    """:func:`bounded_distance` of query codes ``qc`` against a packed entry (m <= 20)."""
    big = k + 1
    if abs(n - m) > k:
        return big
    for j in range(m + 1):
        prev[j] = j if j <= k else big
    for i in range(1, n + 1):
        lo = max(1, i - k)
        hi = min(m, i + k)
        cur[0] = i if i <= k else big
        if lo > 1:
            cur[lo - 1] = big
        row_min = cur[0] if lo == 1 else big
        ca = np.uint64(qc[i - 1])
        for j in range(lo, hi + 1):
            cb = _code_at(w0, w1, j - 1)
            v = prev[j - 1] + (0 if ca == cb else 1)
            t = prev[j] + 1
            if t < v:
                v = t
            t = cur[j - 1] + 1
            if t < v:
                v = t
            if v > big:
                v = big
            cur[j] = v
            if v < row_min:
                row_min = v
        if hi < m:
            cur[hi + 1] = big
        if row_min > k:
            return big
        prev, cur = cur, prev
    return prev[m]


@njit(cache=True, nogil=True, inline="always")
def _window_misses(peq, w0, w1, m, k, offset, skip_lo, skip_hi):  # type: ignore[no-untyped-def]
    """Entry characters with no equal query character within k positions (a lower bound).

    In an alignment with at most k edits every kept character moves at most k places, so
    more than k such characters rule the entry out without the quadratic table. Query
    position p is bit p + max_edits of ``peq[code]``; ``offset`` is max_edits - k. The
    segment the probe matched (``skip_lo:skip_hi``) cannot miss and is not looked at.
    """
    window = np.uint64((1 << (2 * k + 1)) - 1)
    misses = 0
    w = w0
    for j in range(m):
        if j == 10:
            w = w1
        c = w & _SIX
        w = w >> np.uint64(6)
        if skip_lo <= j < skip_hi:
            continue
        if (peq[c] >> np.uint64(j + offset)) & window == 0:
            misses += 1
            if misses > k:
                break
    return misses


#: most probes one query makes: 2k+1 lengths x (k+1) segments x (2k+1) shifts, k <= 3
MAX_PROBES = 7 * 4 * 7
#: most conditional keys one heavy probe reads: (k+1) parts x (2k+1) shifts, k <= 3
MAX_CONDITIONAL = 4 * 7


@njit(cache=True, nogil=True)
def _fuzzy_one(  # type: ignore[no-untyped-def]
    q, q0, n, kq, value, voff, fold, pack, dirs, post, bits, dead, max_edits, out_s, out_d, scratch
):
    """Candidates of one query; how many were written (-1: overflow).

    An entry is a candidate when its distance is within its own budget (:func:`_budget`) and
    within ``kq`` (0 for an exact look-up). Probes follow the *rightmost* intact segment: with at most kq edits
    and j segments after it each holding one, a segment shifted by sh (net insertions before
    it) survives when |sh| + max(j, |delta - sh|) <= kq. So an exact look-up (kq = 0) reads
    only the last segment: for an IMEI that is serial digits, never the shared model prefix.
    A probe that meets a heavy key's marker probes its conditional keys instead
    (:func:`_conditional`).

    Three passes so the memory reads of different probes overlap instead of waiting on each
    other: hash every probe, read every directory slot, then scan the postings.
    """
    qc, peq, prev, cur, probe_h, probe_lo, probe_hi, probe_len, probe_k, probe_seg = scratch[:10]
    cond_h, cond_lo, cond_hi = scratch[10:]
    shift = np.uint64(64 - bits)
    q_slow = n > PACKED_CHARS
    peq[:] = 0
    for j in range(n):
        qc[j] = pack[q[q0 + j]]
        if qc[j] == 0:
            q_slow = True
        elif j < 60 - 2 * max_edits:
            peq[qc[j]] |= np.uint64(1) << np.uint64(j + max_edits)
    probes = 0
    for total in range(max(1, n - kq), n + kq + 1):
        kp = _allowed(total, max_edits)
        k = min(kq, kp, _reach(total, max_edits))
        delta = n - total
        if abs(delta) > k or total < kp + 1:
            continue
        parts = kp + 1
        base, extra = total // parts, total % parts
        start = 0
        for i in range(parts):
            seg_len = base + (1 if i >= parts - extra else 0)
            after = parts - 1 - i
            if after <= k:
                for sh in range(-k, k + 1):
                    qs = start + sh
                    if abs(sh) + max(after, abs(delta - sh)) > k or qs < 0 or qs + seg_len > n:
                        continue
                    probe_h[probes] = _seg_hash(q, q0 + qs, seg_len, fold, total, i)
                    probe_len[probes] = total
                    probe_k[probes] = k
                    probe_seg[probes] = (qs * 1024 + start) * 1024 + seg_len
                    probes += 1
            start += seg_len
    for p in range(probes):
        b = np.int64(probe_h[p] >> shift)
        probe_lo[p] = dirs[b]
        probe_hi[p] = dirs[b + 1]
    # touch the first posting of every list before scanning any: independent loads overlap
    touch = np.uint64(0)
    for p in range(probes):
        if probe_lo[p] < probe_hi[p]:
            touch ^= post[probe_lo[p], 2]
    qc[n] = np.uint8(touch & np.uint64(1))
    sig_q = _signature(q, q0, n, pack)
    count = 0
    for p in range(probes):
        total = probe_len[p]
        seg_len = probe_seg[p] % 1024
        seg_lo = (probe_seg[p] // 1024) % 1024
        qs = probe_seg[p] // (1024 * 1024)
        count, marked = _scan(
            post, probe_lo[p], probe_hi[p], probe_h[p], total, probe_k[p], seg_lo,
            seg_lo + seg_len, q, q0, n, qc, peq, sig_q, q_slow, value, voff, fold, dead,
            max_edits, prev, cur, out_s, out_d, count,
        )  # fmt: skip
        if count < 0:
            return -1
        if not marked:
            continue
        # the rest of the read (without the anchor at qs) is cut as the entries' rests were;
        # all conditional keys hashed, then read, then scanned (their reads overlap too)
        k = probe_k[p]
        parts = _allowed(total, max_edits) + 1
        delta = n - total
        conds = 0
        for r in range(parts):
            after = parts - 1 - r
            if after > k:
                continue
            r_start, r_len = _part(total - seg_len, parts, r)
            for sh in range(-k, k + 1):
                at = r_start + sh
                if abs(sh) + max(after, abs(delta - sh)) > k or at < 0 or at + r_len > n - seg_len:
                    continue
                cond_h[conds] = _rest_hash(q, q0, qs, seg_len, at, r_len, fold, probe_h[p], r)
                conds += 1
        touch = np.uint64(0)
        for c in range(conds):
            b = np.int64(cond_h[c] >> shift)
            cond_lo[c] = dirs[b]
            cond_hi[c] = dirs[b + 1]
        for c in range(conds):
            if cond_lo[c] < cond_hi[c]:
                touch ^= post[cond_lo[c], 2]
        qc[n] = np.uint8(touch & np.uint64(1))
        for c in range(conds):
            count, _ = _scan(
                post, cond_lo[c], cond_hi[c], cond_h[c], total, k, seg_lo, seg_lo + seg_len, q,
                q0, n, qc, peq, sig_q, q_slow, value, voff, fold, dead, max_edits, prev, cur,
                out_s, out_d, count,
            )  # fmt: skip
            if count < 0:
                return -1
    return count


@njit(cache=True, nogil=True, inline="always")
def _scan(  # type: ignore[no-untyped-def]
    post, lo, hi, h, total, probe_k, seg_lo, seg_hi, q, q0, n, qc, peq, sig_q, q_slow, value,
    voff, fold, dead, max_edits, prev, cur, out_s, out_d, count,
):  # fmt: skip
    """Verify the postings lo..hi of key ``h``: (candidates written so far or -1 on overflow,
    whether the key's marker was among them)."""
    fp = (h & _LOW16) << _S48
    cap = out_s.size
    marked = False
    for e in range(lo, hi):
        tag = post[e, 2]
        if tag & _FP16 != fp:
            continue
        if tag & _LOW32 == MARKER:
            marked = True
            continue
        sig_e = (tag >> _S32) & _LOW16
        w1 = post[e, 1]
        slow = q_slow or (w1 & _SLOW) != 0
        if w1 & _SLOW:
            s = np.int64(tag & _LOW32)
            if voff[s + 1] - voff[s] != total:
                continue
            numeric = _numeric(value, voff[s], total, fold)
        else:
            numeric = (sig_e & _LETTERS) == np.uint64(0)
        # within the budget of both: the query's (probe_k) and the entry's own
        k = min(probe_k, _budget(total, numeric, max_edits))
        if abs(n - total) > k:
            continue
        # a character class on one side only costs an edit each: a cheap lower bound
        if _over(sig_e & ~sig_q, k) or _over(sig_q & ~sig_e, k):
            continue
        if slow:
            s = np.int64(tag & _LOW32)
            if voff[s + 1] - voff[s] != total:
                continue
            d = bounded_distance(q, q0, n, value, voff[s], total, fold, k, prev, cur)
        else:
            w0 = post[e, 0]
            if _window_misses(peq, w0, w1, total, k, max_edits - k, seg_lo, seg_hi) > k:
                continue
            d = packed_distance(qc, n, w0, w1, total, k, prev, cur)
        if d > k:
            continue
        s = np.int64(tag & _LOW32)
        if dead[s] or voff[s + 1] - voff[s] != total:
            continue
        seen = False
        for c in range(count):
            if out_s[c] == s:
                seen = True
                break
        if seen:
            continue
        if count == cap:
            return -1, marked
        out_s[count] = s
        out_d[count] = d
        count += 1
    return count, marked


@njit(cache=True, nogil=True)
def _scratch(longest, max_edits):  # type: ignore[no-untyped-def]
    """Per-thread work arrays of :func:`_fuzzy_one`."""
    return (
        np.empty(longest + 1, dtype=np.uint8),
        np.empty(64, dtype=np.uint64),
        np.empty(longest + max_edits + 2, dtype=np.int64),
        np.empty(longest + max_edits + 2, dtype=np.int64),
        np.empty(MAX_PROBES, dtype=np.uint64),
        np.empty(MAX_PROBES, dtype=np.int64),
        np.empty(MAX_PROBES, dtype=np.int64),
        np.empty(MAX_PROBES, dtype=np.int64),
        np.empty(MAX_PROBES, dtype=np.int64),
        np.empty(MAX_PROBES, dtype=np.int64),
        np.empty(MAX_CONDITIONAL, dtype=np.uint64),
        np.empty(MAX_CONDITIONAL, dtype=np.int64),
        np.empty(MAX_CONDITIONAL, dtype=np.int64),
    )


@njit(cache=True, nogil=True)
def fuzzy_one(q, kq, value, voff, fold, pack, dirs, post, bits, dead, max_edits, cap):  # type: ignore[no-untyped-def]
    """One query tolerating ``kq`` edits (no thread start-up): (slots, distances, overflowed)."""
    out_s = np.empty(cap, dtype=np.int64)
    out_d = np.empty(cap, dtype=np.int8)
    scratch = _scratch(q.size, max_edits)
    c = _fuzzy_one(
        q,
        0,
        q.size,
        kq,
        value,
        voff,
        fold,
        pack,
        dirs,
        post,
        bits,
        dead,
        max_edits,
        out_s,
        out_d,
        scratch,
    )
    if c < 0:
        return out_s, out_d, True
    return out_s[:c], out_d[:c], False


@njit(cache=True, nogil=True, parallel=True)
def fuzzy_many(qbuf, qoff, qk, value, voff, fold, pack, dirs, post, bits, dead, max_edits, cap):  # type: ignore[no-untyped-def]
    """Many queries (query i tolerating qk[i] edits) on all cores: slots[nq, cap],
    distances[nq, cap], counts (-1: overflow)."""
    nq = qoff.size - 1
    out_s = np.empty((nq, cap), dtype=np.int64)
    out_d = np.empty((nq, cap), dtype=np.int8)
    counts = np.empty(nq, dtype=np.int64)
    longest = 0
    for i in range(nq):
        longest = max(longest, qoff[i + 1] - qoff[i])
    # prange hands each thread a contiguous half of the chunks; a chunk takes every
    # chunks-th query, so cheap and costly queries (exact IMEI readings after fuzzy serials)
    # spread evenly over the threads whatever their order
    chunks = (nq + 255) // 256
    for c in prange(chunks):
        scratch = _scratch(longest, max_edits)
        for i in range(c, nq, chunks):
            counts[i] = _fuzzy_one(
                qbuf,
                qoff[i],
                qoff[i + 1] - qoff[i],
                qk[i],
                value,
                voff,
                fold,
                pack,
                dirs,
                post,
                bits,
                dead,
                max_edits,
                out_s[i],
                out_d[i],
                scratch,
            )
    return out_s, out_d, counts


@njit(cache=True, nogil=True)
def sort_keys(value, voff, codes, from_end):  # type: ignore[no-untyped-def]
    """Base-37 key of each identifier's first (or, reversed, last) 12 characters."""
    n = voff.size - 1
    keys = np.empty(n, dtype=np.uint64)
    for s in range(n):
        keys[s] = _key(value, voff[s], voff[s + 1] - voff[s], codes, from_end)
    return keys


@njit(cache=True, nogil=True, inline="always")
def _key(buf, start, length, codes, from_end):  # type: ignore[no-untyped-def]
    v = np.uint64(0)
    for p in range(KEY_CHARS):
        c = np.uint64(0)
        if p < length:
            c = codes[buf[start + length - 1 - p]] if from_end else codes[buf[start + p]]
        v = v * np.uint64(37) + c
    return v


@njit(cache=True, nogil=True)
def partial_one(q, value, voff, fold, codes, keys, order, dead, from_end, cap):  # type: ignore[no-untyped-def]
    """Entries longer than the query that start (or end) with it, by the sorted keys."""
    n = q.size
    lo = _key(q, 0, n, codes, from_end)
    span = np.uint64(1)
    for _ in range(KEY_CHARS - min(n, KEY_CHARS)):
        span = span * np.uint64(37)
    hi = lo + span
    out = np.empty(cap, dtype=np.int64)
    count = 0
    pos = np.searchsorted(keys, lo)
    while pos < keys.size and keys[pos] < hi and count < cap:
        s = order[pos]
        pos += 1
        length = voff[s + 1] - voff[s]
        if dead[s] or length <= n:
            continue
        same = True
        for p in range(n):
            at = voff[s] + (length - n + p if from_end else p)
            if fold[value[at]] != fold[q[p]]:
                same = False
                break
        if same:
            out[count] = s
            count += 1
    return out[:count]
