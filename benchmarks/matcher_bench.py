"""Register matcher benchmark: build, disk size, memory, cold start, latency, bulk rate, recall.

Generates a seeded register (1/3 IMEIs with valid Luhn, 1/3 10-12-character alphanumeric
serials, 1/3 8-14-character mixed serials: a 2-4 letter prefix and digits, sometimes a letter
among them) and queries (40 % exact, 30 % one edit, 10 % two edits, 20 % absent). An edit is a
reading confusion (0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B) half of the time, otherwise another
substitution, an insertion or a deletion. In the same run, a sample of the queries goes
through rapidfuzz.process.extract (brute force) and symspellpy, so the ratios are measured.

Each phase runs in its own process so peak RSS is the phase's own:

    python benchmarks/matcher_bench.py --entries 1000000
    python benchmarks/matcher_bench.py --entries 10000000 --queries 100000
    python benchmarks/matcher_bench.py --entries 1000000 --only-realistic   (that table alone)

The realistic phase builds a second register shaped like real ones (40 % IMEIs drawn from a few
hundred type allocation codes, so the first 8 digits are shared by thousands of handsets; 30 %
6-8 character mostly-digit serials; 30 % 12-character serials laid out as big makers do, a
factory prefix and a model code each shared by a large share of the register) and times single look-ups there, with the candidate list
lengths and how often a non-member gets a match or possible_match verdict.

Needs the ``bench`` extra (symspellpy) for the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
CONFUSION_GROUPS = ["0O", "1IL", "2Z", "5S", "6G", "8B"]
MIX = {"exact": 0.4, "one": 0.3, "two": 0.1, "absent": 0.2}
EDITS_OF = {"exact": 0, "one": 1, "two": 2, "absent": -1}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- register generation (vectorised: no Python object per entry) ------------------------------


def _imeis(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    body = rng.integers(0, 10, size=(n, 14), dtype=np.int64)
    doubled = body[:, 1::2] * 2
    total = body[:, 0::2].sum(axis=1) + (doubled // 10 + doubled % 10).sum(axis=1)
    check = (10 - total % 10) % 10
    digits = np.concatenate([body, check[:, None]], axis=1)
    return (digits + 48).astype(np.uint8), np.full(n, 15, dtype=np.int64)


def _alnum(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    mat = ALNUM[rng.integers(0, 36, size=(n, 12))]
    return mat, rng.integers(10, 13, size=n)


def _mixed(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = rng.integers(8, 15, size=n)
    mat = ALNUM[rng.integers(0, 10, size=(n, 14))]
    prefix = rng.integers(2, 5, size=n)
    letters = ALNUM[rng.integers(10, 36, size=(n, 14))]
    cols = np.arange(14)[None, :]
    mat = np.where(cols < prefix[:, None], letters, mat)
    stray = rng.random(n) < 0.3  # one letter among the digits
    pos = prefix + rng.integers(0, 4, size=n)
    rows = np.flatnonzero(stray & (pos < lengths))
    mat[rows, pos[rows]] = letters[rows, 0]
    return mat, lengths


def _pack(mats: list[np.ndarray], lens: list[np.ndarray], order: np.ndarray) -> tuple[Any, Any]:
    width = max(m.shape[1] for m in mats)
    mat = np.zeros((sum(m.shape[0] for m in mats), width), dtype=np.uint8)
    row = 0
    for m in mats:
        mat[row : row + m.shape[0], : m.shape[1]] = m
        row += m.shape[0]
    mat = mat[order]
    lengths = np.concatenate(lens)[order]
    value = mat[np.arange(width)[None, :] < lengths[:, None]]
    voff = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=voff[1:])
    return value, voff


def generate_register(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = n // 3, n // 3
    c = n - a - b
    parts = [_imeis(rng, a), _alnum(rng, b), _mixed(rng, c)]
    order = rng.permutation(n)
    value, voff = _pack([p[0] for p in parts], [p[1] for p in parts], order)
    kind = np.concatenate([np.zeros(a, np.uint8), np.ones(b + c, np.uint8)])[order]
    return {
        "value": value,
        "voff": voff,
        "kind": kind,
        "status": rng.integers(0, 4, size=n).astype(np.uint8),
    }


def identifier(reg: dict[str, np.ndarray], slot: int) -> str:
    return bytes(reg["value"][reg["voff"][slot] : reg["voff"][slot + 1]]).decode()


def _edit(rng: np.random.Generator, s: str) -> str:
    """One reading error: a confusion half the time, else substitution, insertion, deletion."""
    alphabet = ALNUM.tobytes().decode()
    r = rng.random()
    if r < 0.5:
        spots = [
            (p, g) for p, ch in enumerate(s) for g in CONFUSION_GROUPS if ch in g and len(g) > 1
        ]
        if spots:
            p, g = spots[rng.integers(len(spots))]
            other = [c for c in g if c != s[p]]
            return s[:p] + other[rng.integers(len(other))] + s[p + 1 :]
        r = 0.6
    p = int(rng.integers(len(s)))
    if r < 0.7:
        group = next((g for g in CONFUSION_GROUPS if s[p] in g), s[p])
        choices = [c for c in alphabet if c not in group]
        return s[:p] + choices[rng.integers(len(choices))] + s[p + 1 :]
    if r < 0.85:
        return s[:p] + alphabet[rng.integers(36)] + s[p:]
    return s[:p] + s[p + 1 :]


def generate_queries(
    reg: dict[str, np.ndarray], count: int, seed: int, limit: int | None = None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Queries, the entry id each came from (0 = absent) and the edits applied (-1 = absent)."""
    rng = np.random.default_rng(seed)
    n = reg["voff"].size - 1 if limit is None else limit
    kinds = rng.choice(list(MIX), size=count, p=list(MIX.values()))
    fresh = generate_register(max(count, 3), seed + 999)
    queries: list[str] = []
    truth = np.zeros(count, dtype=np.int64)
    edits = np.zeros(count, dtype=np.int64)
    for i, kind in enumerate(kinds):
        e = EDITS_OF[str(kind)]
        edits[i] = e
        if e < 0:
            queries.append(identifier(fresh, i % (fresh["voff"].size - 1)))
            continue
        slot = int(rng.integers(n))
        s = identifier(reg, slot)
        for _ in range(e):
            s = _edit(rng, s)
        queries.append(s)
        truth[i] = slot + 1
    return queries, truth, edits


# -- phases ---------------------------------------------------------------------------------------


def phase_build(args: argparse.Namespace) -> dict[str, Any]:
    from station.matcher.arrays import ArrayIndex
    from station.matcher.index import RegisterIndex

    t0 = time.perf_counter()
    reg = generate_register(args.entries, args.seed)
    gen_s = time.perf_counter() - t0
    n = reg["voff"].size - 1
    t0 = time.perf_counter()
    base = ArrayIndex.from_buffers(
        reg["value"],
        reg["voff"],
        np.arange(1, n + 1, dtype=np.int64),
        reg["kind"],
        ["imei", "serial"],
        reg["status"],
        ["stolen", "lost", "registered-owner", "recovered"],
        np.ones(n, dtype=np.uint16),
        ["", "bench"],
        np.zeros(0, dtype=np.uint8),
        np.zeros(n + 1, dtype=np.int64),
        2,
    )
    build_s = time.perf_counter() - t0
    index = RegisterIndex.from_arrays(base)
    out = Path(args.workdir) / "index"
    t0 = time.perf_counter()
    index.save(out)
    save_s = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {
        "entries": n,
        "generate_s": gen_s,
        "build_s": build_s,
        "save_s": save_s,
        "disk_mb": size / 2**20,
        "build_peak_rss_mb": peak_rss_mb(),
    }


def _recall(hits_q: np.ndarray, hits_e: np.ndarray, truth: np.ndarray, edits: np.ndarray) -> dict:
    key = hits_q.astype(np.int64) * (1 << 32) + hits_e
    want = np.arange(truth.size, dtype=np.int64) * (1 << 32) + truth
    found = np.isin(want, key)
    out: dict[str, Any] = {}
    for e in (0, 1, 2):
        sel = edits == e
        out[f"recall_d{e}"] = float(found[sel].mean()) if sel.any() else float("nan")
    per_query = np.bincount(hits_q, minlength=truth.size)
    present = truth > 0
    out["extra_candidates_per_query"] = float(
        (per_query[present] - found[present]).mean() if present.any() else 0.0
    )
    out["absent_with_candidates"] = float((per_query[~present] > 0).mean())
    return out


#: identifier classes the recall is reported for (by the edit budget of the true entry)
CLASSES = ("imei", "budget2", "budget1", "budget0")
CLASS_LABELS = {
    "imei": "IMEIs (Luhn readings, no edit budget)",
    "budget2": "long alphanumeric (2 edits)",
    "budget1": "middle (1 edit)",
    "budget0": "short / mostly digits (exact)",
}


def entry_class(identifier_text: str) -> str:
    """The matcher's class of a register identifier: which tolerance applies to it."""
    from station.matcher.budget import edit_budget, imei_shaped
    from station.matcher.normalise import canonical

    c = canonical(identifier_text)
    if imei_shaped(c):
        return "imei"
    return f"budget{edit_budget(c, 2)}"


def _recall_by_class(
    hits_q: np.ndarray,
    hits_e: np.ndarray,
    truth: np.ndarray,
    edits: np.ndarray,
    classes: list[str],
) -> dict[str, Any]:
    cls = np.array(classes)
    out: dict[str, Any] = {}
    for name in CLASSES:
        sel = cls == name
        if not sel.any():
            continue
        rows = np.flatnonzero(sel)
        keep = np.isin(hits_q, rows)
        rec = _recall(hits_q[keep], hits_e[keep], truth * sel, np.where(sel, edits, -9))
        rec["queries"] = int(sel.sum())
        out[name] = rec
    return out


def phase_serve(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    from station.matcher.index import RegisterIndex

    index = RegisterIndex.load(Path(args.workdir) / "index")
    index.lookup("356938035643809")
    cold_s = time.perf_counter() - t0
    reg = {
        k: np.load(Path(args.workdir) / "index" / "base" / f"{k}.npy", mmap_mode="r")
        for k in ("value", "voff")
    }
    queries, truth, edits = generate_queries(reg, args.queries, args.seed + 1)
    classes = [entry_class(identifier(reg, int(t) - 1)) if t else "absent" for t in truth.tolist()]
    del reg
    single = queries[: args.single]
    lat = []
    for q in single:
        t = time.perf_counter()
        index.lookup(q)
        lat.append(time.perf_counter() - t)
    lat_ms = np.array(lat) * 1000
    from station.matcher.index import search_forms
    from station.matcher.normalise import normalise
    from station.matcher.probe import probes

    plan = [
        sum(len(probes(len(f.text), f.edits, 2)) for f in search_forms(normalise(q), 2))
        for q in queries[:10000]
    ]
    base, dead = index._state.base, index._state.dead
    forms = [search_forms(normalise(q), 2)[0] for q in single]
    paths: dict[str, list[float]] = {"numpy": [], "compiled": []}
    base.fuzzy_compiled(forms[0][0].encode(), 2, dead, 64)
    for form, kq, _assumed in forms:
        for name, fn in (("numpy", base.fuzzy), ("compiled", base.fuzzy_compiled)):
            t = time.perf_counter()
            fn(form.encode(), kq, dead, 64)
            paths[name].append(time.perf_counter() - t)
    probe_ms = {k: np.array(v) * 1000 for k, v in paths.items()}
    index.search_many(queries[:1000])  # warm the parallel kernel's thread pool
    t = time.perf_counter()
    cpu = time.process_time()
    hits = index.search_many(queries)
    bulk_s = time.perf_counter() - t
    bulk_cpu = time.process_time() - cpu
    t = time.perf_counter()
    results = index.lookup_many(queries[: args.explained])
    explained_s = time.perf_counter() - t
    verdicts: dict[str, int] = {}
    for r in results:
        verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
    out = {
        "cold_start_s": cold_s,
        "single_p50_ms": float(np.percentile(lat_ms, 50)),
        "single_p99_ms": float(np.percentile(lat_ms, 99)),
        "single_max_ms": float(lat_ms.max()),
        "probe_numpy_p50_ms": float(np.percentile(probe_ms["numpy"], 50)),
        "probe_numpy_p99_ms": float(np.percentile(probe_ms["numpy"], 99)),
        "probe_compiled_p50_ms": float(np.percentile(probe_ms["compiled"], 50)),
        "probe_compiled_p99_ms": float(np.percentile(probe_ms["compiled"], 99)),
        "bulk_queries": len(queries),
        "bulk_qps": len(queries) / bulk_s,
        "bulk_cpu_us_per_query": bulk_cpu / len(queries) * 1e6,
        "probes_per_query": float(np.mean(plan)),
        "load_average": os.getloadavg()[0],
        "explained_queries": len(results),
        "explained_qps": len(results) / explained_s,
        "verdicts": verdicts,
        "serve_peak_rss_mb": peak_rss_mb(),
    }
    out.update(_recall(hits.query_index, hits.entry_id, truth, edits))
    out["recall_by_class"] = _recall_by_class(
        hits.query_index, hits.entry_id, truth, edits, classes
    )
    return out


def phase_compare(args: argparse.Namespace) -> dict[str, Any]:
    """Same queries through our index, rapidfuzz brute force and symspellpy on a sub-register."""
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    from station.matcher.arrays import ArrayIndex
    from station.matcher.index import RegisterIndex

    reg_full = {
        k: np.load(Path(args.workdir) / "index" / "base" / f"{k}.npy", mmap_mode="r")
        for k in ("value", "voff")
    }
    m = min(args.compare_register, reg_full["voff"].size - 1)
    words = [identifier(reg_full, s) for s in range(m)]
    queries, truth, edits = generate_queries(reg_full, args.compare_queries, args.seed + 2, m)
    out: dict[str, Any] = {"compare_register": m, "compare_queries": len(queries)}

    t = time.perf_counter()
    ours = RegisterIndex.from_arrays(
        ArrayIndex.from_columns(
            words, np.arange(1, m + 1), ["serial"] * m, ["stolen"] * m, [None] * m, [None] * m, 2
        )
    )
    out["ours_build_s"] = time.perf_counter() - t
    ours.search_many(queries[:100])
    t = time.perf_counter()
    hits = ours.search_many(queries)
    out["ours_qps"] = len(queries) / (time.perf_counter() - t)
    out["ours_recall"] = _recall(hits.query_index, hits.entry_id, truth, edits)

    sample = queries[: args.extract_sample]
    t = time.perf_counter()
    rf_hits_q, rf_hits_e = [], []
    for i, q in enumerate(sample):
        for _choice, _dist, idx in process.extract(
            q, words, scorer=Levenshtein.distance, score_cutoff=2, limit=None
        ):
            rf_hits_q.append(i)
            rf_hits_e.append(idx + 1)
    out["rapidfuzz_qps"] = len(sample) / (time.perf_counter() - t)
    out["rapidfuzz_recall"] = _recall(
        np.array(rf_hits_q, dtype=np.int64),
        np.array(rf_hits_e, dtype=np.int64),
        truth[: len(sample)],
        edits[: len(sample)],
    )

    try:
        from symspellpy import SymSpell, Verbosity
    except ImportError:
        out["symspell"] = "not installed (pip install '.[bench]')"
        return out
    rss0 = peak_rss_mb()
    t = time.perf_counter()
    sym = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
    slot_of: dict[str, int] = {}
    for i, w in enumerate(words):
        sym.create_dictionary_entry(w.lower(), 1)
        slot_of.setdefault(w.lower(), i + 1)
    out["symspell_build_s"] = time.perf_counter() - t
    out["symspell_build_rss_growth_mb"] = peak_rss_mb() - rss0
    sq, se = [], []
    t = time.perf_counter()
    for i, q in enumerate(sample):
        for item in sym.lookup(q.lower(), Verbosity.ALL, max_edit_distance=2):
            sq.append(i)
            se.append(slot_of[item.term])
    out["symspell_qps"] = len(sample) / (time.perf_counter() - t)
    out["symspell_recall"] = _recall(
        np.array(sq, dtype=np.int64),
        np.array(se, dtype=np.int64),
        truth[: len(sample)],
        edits[: len(sample)],
    )
    return out


def phase_import(args: argparse.Namespace) -> dict[str, Any]:
    """A register CSV through parse_register_file and the record-by-record index build."""
    from station.matcher.index import RegisterIndex
    from station.matcher.records import RegisterRecord
    from station.register.importer import parse_register_file

    reg = generate_register(args.import_rows, args.seed + 5)
    path = Path(args.workdir) / "register.csv"
    statuses = ["stolen", "lost", "registered-owner", "recovered"]
    with path.open("w", encoding="utf-8") as fh:
        fh.write("identifier,kind,status,category,brand,model,crime_ref,force,reported_on\n")
        for slot in range(args.import_rows):
            kind = "imei" if reg["kind"][slot] == 0 else "serial"
            fh.write(
                f"{identifier(reg, slot)},{kind},{statuses[reg['status'][slot]]},laptop,Dell,"
                f"XPS 13,CR/{slot}/24,Met,2024-01-02\n"
            )
    t, cpu = time.perf_counter(), time.process_time()
    parsed = parse_register_file(path, source="bench")
    parse_s, parse_cpu = time.perf_counter() - t, time.process_time() - cpu
    t = time.perf_counter()
    RegisterIndex.build(
        RegisterRecord(i + 1, r.identifier, r.kind, r.status or "", r.crime_ref, "bench")
        for i, r in enumerate(parsed.rows)
    )
    return {
        "import_rows": len(parsed.rows),
        "import_parse_s": parse_s,
        "import_parse_cpu_s": parse_cpu,
        "import_index_build_s": time.perf_counter() - t,
        "import_peak_rss_mb": peak_rss_mb(),
    }


def phase_full_extract(args: argparse.Namespace) -> dict[str, Any]:
    """rapidfuzz brute force over the whole register for a handful of queries."""
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    reg = {
        k: np.load(Path(args.workdir) / "index" / "base" / f"{k}.npy", mmap_mode="r")
        for k in ("value", "voff")
    }
    n = reg["voff"].size - 1
    words = bytes(reg["value"]).decode()
    voff = reg["voff"].tolist()
    choices = [words[voff[i] : voff[i + 1]] for i in range(n)]
    queries, _truth, _edits = generate_queries(reg, args.full_extract, args.seed + 3)
    t = time.perf_counter()
    for q in queries:
        process.extract(q, choices, scorer=Levenshtein.distance, score_cutoff=2, limit=None)
    return {
        "full_extract_queries": len(queries),
        "full_extract_s_per_query": (time.perf_counter() - t) / len(queries),
    }


# -- driver ---------------------------------------------------------------------------------------


# -- realistic registers: shared TACs, short mostly-digit serials -------------------------------


def _tac_imeis(rng: np.random.Generator, n: int, tacs: np.ndarray) -> np.ndarray:
    """IMEIs (15 digits, valid Luhn) whose first 8 digits are drawn from ``tacs`` (Zipf-ish)."""
    weights = 1.0 / np.arange(1, tacs.shape[0] + 1)
    pick = rng.choice(tacs.shape[0], size=n, p=weights / weights.sum())
    body = np.concatenate([tacs[pick], rng.integers(0, 10, size=(n, 6), dtype=np.int64)], axis=1)
    doubled = body[:, 1::2] * 2
    total = body[:, 0::2].sum(axis=1) + (doubled // 10 + doubled % 10).sum(axis=1)
    check = (10 - total % 10) % 10
    return (np.concatenate([body, check[:, None]], axis=1) + 48).astype(np.uint8)


def _short_serials(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """6-8 characters, mostly digits: a letter in 1 of 5 places, a letter prefix on a third."""
    lengths = rng.integers(6, 9, size=n)
    mat = ALNUM[rng.integers(0, 10, size=(n, 8))]
    letters = ALNUM[rng.integers(10, 36, size=(n, 8))]
    mat = np.where(rng.random((n, 8)) < 0.2, letters, mat)
    prefixed = rng.random(n) < 0.33
    mat[prefixed, 0] = letters[prefixed, 0]
    return mat, lengths


def _maker_serials(
    rng: np.random.Generator, n: int, vocabulary: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """12 characters laid out as big makers lay them out: a 4-character factory prefix, 4
    characters of date and unit, a 4-character model code, the prefixes and model codes drawn
    Zipf-like from a few dozen and a few hundred (so the first and last segments are each
    shared by a large share of the register)."""
    vocab = np.random.default_rng(vocabulary)  # the same makers and models in every draw
    prefixes = ALNUM[vocab.integers(0, 36, size=(40, 4))]
    models = ALNUM[vocab.integers(0, 36, size=(300, 4))]

    def zipf(k: int) -> np.ndarray:
        w = 1.0 / np.arange(1, k + 1)
        return rng.choice(k, size=n, p=w / w.sum())

    middle = ALNUM[rng.integers(0, 36, size=(n, 4))]
    mat = np.concatenate([prefixes[zipf(40)], middle, models[zipf(300)]], axis=1)
    return mat, np.full(n, 12, np.int64)


def realistic_register(
    n: int, tacs: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """40 % IMEIs, 30 % short serials, 30 % maker-laid-out serials; value, offsets, kind code
    (0 IMEI, 1 serial) and class (0 IMEI, 1 short serial, 2 maker serial)."""
    rng = np.random.default_rng(seed)
    a = n * 4 // 10
    b = n * 3 // 10
    imeis = _tac_imeis(rng, a, tacs)
    serials, slen = _short_serials(rng, b)
    makers, mlen = _maker_serials(rng, n - a - b)
    order = rng.permutation(n)
    value, voff = _pack([imeis, serials, makers], [np.full(a, 15, np.int64), slen, mlen], order)
    cls = np.concatenate(
        [np.zeros(a, np.uint8), np.ones(b, np.uint8), np.full(n - a - b, 2, np.uint8)]
    )[order]
    kind = np.minimum(cls, 1)
    return value, voff, kind, cls


def phase_realistic(args: argparse.Namespace) -> dict[str, Any]:
    """Single look-ups on a register shaped like real ones, and how often strangers match."""
    from station.matcher.arrays import ArrayIndex
    from station.matcher.index import RegisterIndex

    n = args.entries
    rng = np.random.default_rng(args.seed + 7)
    tacs = rng.integers(0, 10, size=(args.tacs, 8), dtype=np.int64)
    tacs[:, 0:2] = [3, 5]  # real TACs mostly start 35 or 86
    tacs[args.tacs // 3 :, 0:2] = [8, 6]
    value, voff, kind, classes = realistic_register(n, tacs, args.seed + 8)
    t0 = time.perf_counter()
    base = ArrayIndex.from_buffers(
        value,
        voff,
        np.arange(1, n + 1, dtype=np.int64),
        kind,
        ["imei", "serial"],
        np.zeros(n, dtype=np.uint8),
        ["stolen", "lost", "registered-owner", "recovered"],
        np.ones(n, dtype=np.uint16),
        ["", "bench"],
        np.zeros(0, dtype=np.uint8),
        np.zeros(n + 1, dtype=np.int64),
        2,
    )
    build_s = time.perf_counter() - t0
    index = RegisterIndex.from_arrays(base)
    members = {bytes(value[voff[i] : voff[i + 1]]) for i in range(n)}
    reg = {"value": value, "voff": voff}
    qrng = np.random.default_rng(args.seed + 9)
    m = args.single
    # present queries: members with 0-2 reading errors (the MIX of the main benchmark)
    groups: dict[str, list[tuple[str, int]]] = {}
    for _ in range(m):
        slot = int(qrng.integers(n))
        s = identifier(reg, slot)
        e = int(qrng.choice([0, 1, 2], p=[0.5, 0.375, 0.125]))
        for _ in range(e):
            s = _edit(qrng, s)
        cls = ("imei", "serial", "maker")[int(classes[slot])]
        groups.setdefault(f"{cls}_d{e}", []).append((s, slot + 1))
    # strangers: the same shapes, not in the register (a handset of a common model, a serial)
    strangers: dict[str, list[tuple[str, int]]] = {
        "stranger_imei": [],
        "stranger_serial": [],
        "stranger_maker": [],
    }
    fresh_imeis = _tac_imeis(qrng, 4 * m, tacs)
    fresh_serials, flen = _short_serials(qrng, 4 * m)
    fresh_makers, _mlen = _maker_serials(qrng, 4 * m)
    for i in range(4 * m):
        im = fresh_imeis[i].tobytes()
        if im not in members and len(strangers["stranger_imei"]) < m:
            strangers["stranger_imei"].append((im.decode(), 0))
        se = fresh_serials[i, : flen[i]].tobytes()
        if se not in members and len(strangers["stranger_serial"]) < m:
            strangers["stranger_serial"].append((se.decode(), 0))
        mk = fresh_makers[i].tobytes()
        if mk not in members and len(strangers["stranger_maker"]) < m:
            strangers["stranger_maker"].append((mk.decode(), 0))
    groups.update(strangers)
    out: dict[str, Any] = {"realistic_entries": n, "realistic_tacs": args.tacs}
    out["realistic_build_s"] = build_s
    out["rl_groups"] = {}
    from station.matcher import jit

    for path in ("numpy", "compiled"):
        if path == "compiled":
            jit.warm()  # what a server does at start: single look-ups take the compiled kernel
        index.lookup(groups["imei_d0"][0][0])
        every: list[float] = []
        every_cpu: list[float] = []
        for name in sorted(groups):
            lat, cands, cpu = [], [], []
            verdicts = {"match": 0, "possible_match": 0, "no_match": 0}
            found = wrong = 0
            for q, truth in groups[name]:
                c0 = time.thread_time()
                t = time.perf_counter()
                r = index.lookup(q)
                lat.append(time.perf_counter() - t)
                cpu.append(time.thread_time() - c0)
                cands.append(len(r.candidates))
                verdicts[r.verdict] += 1
                ids = [c.entry_id for c in r.candidates]
                found += truth in ids
                # another entry with the very same identifier (a duplicate) is no wrong match
                wrong += r.verdict == "match" and r.candidates[0].identifier != (
                    identifier(reg, truth - 1) if truth else ""
                )
            every.extend(lat)
            every_cpu.extend(cpu)
            if path != "numpy":
                continue
            lat_ms = np.array(lat) * 1000
            c = np.array(cands)
            out["rl_groups"][name] = {
                "queries": len(lat),
                "p50_ms": float(np.percentile(lat_ms, 50)),
                "p99_ms": float(np.percentile(lat_ms, 99)),
                "cpu_p99_ms": float(np.percentile(np.array(cpu) * 1000, 99)),
                "cand_mean": float(c.mean()),
                "cand_p99": float(np.percentile(c, 99)),
                "cand_max": int(c.max()),
                "verdicts": {k: v / len(lat) for k, v in verdicts.items()},
                "found": found / len(lat),
                "wrong_match": wrong / len(lat),
            }
        all_ms = np.array(every) * 1000
        cpu_ms = np.array(every_cpu) * 1000
        out[f"rl_all_{path}"] = {
            "cpu_p50_ms": float(np.percentile(cpu_ms, 50)),
            "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
            "cpu_max_ms": float(cpu_ms.max()),
            "queries": int(all_ms.size),
            "p50_ms": float(np.percentile(all_ms, 50)),
            "p99_ms": float(np.percentile(all_ms, 99)),
            "max_ms": float(all_ms.max()),
        }
    out["realistic_load_average"] = os.getloadavg()[0]
    return out


def run_phase(args: argparse.Namespace, phase: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, *args.passthrough]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=100_000)
    ap.add_argument("--single", type=int, default=5000, help="queries timed one by one")
    ap.add_argument("--explained", type=int, default=20_000, help="bulk queries with explanations")
    ap.add_argument("--compare-register", type=int, default=100_000)
    ap.add_argument("--compare-queries", type=int, default=5000)
    ap.add_argument("--extract-sample", type=int, default=200)
    ap.add_argument("--full-extract", type=int, default=5, help="0 skips brute force on all")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--workdir", default="/tmp/station-matcher-bench")
    ap.add_argument("--keep", action="store_true", help="keep the built index in --workdir")
    ap.add_argument("--import-rows", type=int, default=1_000_000, help="0 skips the CSV import")
    ap.add_argument("--tacs", type=int, default=300, help="type allocation codes (realistic)")
    ap.add_argument("--realistic", type=int, default=1, help="0 skips the realistic register")
    ap.add_argument("--only-realistic", action="store_true", help="run the realistic phase alone")
    ap.add_argument(
        "--phase", choices=["build", "serve", "compare", "full_extract", "import", "realistic"]
    )
    args = ap.parse_args()
    phases = {
        "build": phase_build,
        "serve": phase_serve,
        "compare": phase_compare,
        "full_extract": phase_full_extract,
        "import": phase_import,
        "realistic": phase_realistic,
    }
    if args.phase:
        print(json.dumps(phases[args.phase](args)))
        return
    args.passthrough = [a for a in sys.argv[1:] if a != "--keep"]
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"cores": os.cpu_count()}
    try:
        phases_run = ["build", "serve", "compare"]
        phases_run += ["full_extract"] if args.full_extract else []
        phases_run += ["import"] if args.import_rows else []
        if args.only_realistic:
            phases_run = []
        phases_run += ["realistic"] if args.realistic else []
        for phase in phases_run:
            print(f"... {phase}", file=sys.stderr, flush=True)
            results.update(run_phase(args, phase))
    finally:
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    print_table(results)


def print_table(r: dict[str, Any]) -> None:
    def row(name: str, value: Any, unit: str = "") -> None:
        text = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"  {name:<44} {text:>16} {unit}")

    print("command: " + " ".join(sys.argv))
    if "entries" in r:
        print_main(r)
    print_realistic(r)


def print_main(r: dict[str, Any]) -> None:
    def row(name: str, value: Any, unit: str = "") -> None:
        text = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"  {name:<44} {text:>16} {unit}")

    print(f"\nRegister matcher benchmark: {r['entries']:,} entries, {r['cores']} cores")
    print("  index (Pass-Join segments on the confusion-folded form; bulk: numba kernels,")
    print("  single look-ups: numpy probes, no compiled code)")
    row("build from packed columns", r["build_s"], "s")
    row("save", r["save_s"], "s")
    row("index size on disk", r["disk_mb"], "MB")
    row("peak RSS while generating + building", r["build_peak_rss_mb"], "MB")
    row("cold start (load + first look-up)", r["cold_start_s"], "s")
    row("peak RSS while serving", r["serve_peak_rss_mb"], "MB")
    row("single look-up p50 (full explained result)", r["single_p50_ms"], "ms")
    row("single look-up p99", r["single_p99_ms"], "ms")
    row("single look-up max", r["single_max_ms"], "ms")
    row("  fuzzy probe alone, numpy p50 / p99", r["probe_numpy_p50_ms"], "ms")
    row("", r["probe_numpy_p99_ms"], "ms")
    row("  fuzzy probe alone, compiled kernel p50 / p99", r["probe_compiled_p50_ms"], "ms")
    row("", r["probe_compiled_p99_ms"], "ms")
    row(f"bulk search, {r['bulk_queries']:,} queries", r["bulk_qps"], "queries/s")
    row("  CPU time per bulk query (all threads)", r["bulk_cpu_us_per_query"], "us")
    row("  probes (hash-table reads) per query", r["probes_per_query"])
    row("  machine load average during the run", r["load_average"])
    row(f"bulk with explanations, {r['explained_queries']:,}", r["explained_qps"], "queries/s")
    for e in (0, 1, 2):
        row(f"recall, queries with {e} edit(s)", r[f"recall_d{e}"])
    row("extra candidates per present query", r["extra_candidates_per_query"])
    row("absent queries with any candidate", r["absent_with_candidates"])
    row("verdicts (explained sample)", json.dumps(r["verdicts"]))
    print(f"  {'recall by class of the true entry':<44}{'queries':>10}{'d0/d1/d2':>22}")
    for name, rec in r.get("recall_by_class", {}).items():
        recall = "/".join(f"{rec[f'recall_d{e}']:.4f}" for e in (0, 1, 2))
        print(f"    {CLASS_LABELS[name]:<42}{rec['queries']:>10,}{recall:>22}")
    print(
        f"\n  same queries on a {r['compare_register']:,}-entry sub-register "
        f"({r['compare_queries']:,} queries; brute-force tools on a sample)"
    )
    print(f"  {'tool':<22}{'build s':>10}{'queries/s':>14}{'recall d0/d1/d2':>22}")
    for name, key in (
        ("this index", "ours"),
        ("rapidfuzz extract", "rapidfuzz"),
        ("symspellpy", "symspell"),
    ):
        if f"{key}_qps" not in r:
            continue
        rec = r[f"{key}_recall"]
        recall = "/".join(f"{rec[f'recall_d{e}']:.3f}" for e in (0, 1, 2))
        build = r.get(f"{key}_build_s")
        build_txt = f"{build:10.2f}" if build is not None else f"{'-':>10}"
        print(f"  {name:<22}{build_txt}{r[f'{key}_qps']:>14,.1f}{recall:>22}")
    if "symspell_build_rss_growth_mb" in r:
        row("symspellpy memory growth while building", r["symspell_build_rss_growth_mb"], "MB")
    if "ours_qps" in r and "rapidfuzz_qps" in r:
        row(
            "speed-up over rapidfuzz extract (sub-register)",
            r["ours_qps"] / r["rapidfuzz_qps"],
            "x",
        )
    if "symspell_qps" in r:
        row("speed-up over symspellpy (sub-register)", r["ours_qps"] / r["symspell_qps"], "x")
    if "full_extract_s_per_query" in r:
        row(
            f"rapidfuzz extract over all {r['entries']:,}", r["full_extract_s_per_query"], "s/query"
        )
        row("speed-up over it at full size", r["bulk_qps"] * r["full_extract_s_per_query"], "x")
    if "import_rows" in r:
        print(f"\n  register CSV import, {r['import_rows']:,} rows")
        row("parse + validate every row (wall)", r["import_parse_s"], "s")
        row("parse + validate every row (CPU)", r["import_parse_cpu_s"], "s")
        row("index build from the parsed rows", r["import_index_build_s"], "s")
        row("peak RSS", r["import_peak_rss_mb"], "MB")


def print_realistic(r: dict[str, Any]) -> None:
    def row(name: str, value: Any, unit: str = "") -> None:
        text = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"  {name:<44} {text:>16} {unit}")

    if "realistic_entries" in r:
        print(
            f"\n  realistic register, {r['realistic_entries']:,} entries: 40 % IMEIs from "
            f"{r['realistic_tacs']} TACs (first 8 digits shared),"
        )
        print("  30 % 6-8 character mostly-digit serials, 30 % maker serials (shared 4-character")
        print("  factory prefix and model code); single look-ups, explained results")
        print("  (numpy path, as a one-shot command; found = the true entry is a candidate;")
        print("  wrong = a 'match' verdict whose best candidate is another entry)")
        print("  (p99 cpu: the look-up's own CPU time, which a loaded machine does not inflate)")
        print(
            f"  {'queries':<20}{'n':>6}{'p50 ms':>8}{'p99 ms':>8}{'p99 cpu':>8}"
            f"{'cands mean/p99/max':>19}"
            f"{'match':>7}{'possible':>9}{'no_match':>9}{'found':>7}{'wrong':>7}"
        )
        for key, q in r["rl_groups"].items():
            v = q["verdicts"]
            cands = f"{q['cand_mean']:.2f}/{q['cand_p99']:.0f}/{q['cand_max']}"
            label = key.replace("_d", ", edits ") if not key.startswith("stranger") else key
            print(
                f"  {label:<20}{q['queries']:>6}{q['p50_ms']:>8.3f}{q['p99_ms']:>8.3f}"
                f"{q['cpu_p99_ms']:>8.3f}{cands:>19}"
                f"{v['match']:>7.3f}{v['possible_match']:>9.3f}{v['no_match']:>9.3f}"
                f"{q['found']:>7.3f}{q['wrong_match']:>7.3f}"
            )
        for path in ("numpy", "compiled"):
            a = r[f"rl_all_{path}"]
            print(
                f"  all {a['queries']:,} look-ups, {path:<9} wall p50/p99/max "
                f"{a['p50_ms']:.3f}/{a['p99_ms']:.3f}/{a['max_ms']:.3f} ms, "
                f"CPU {a['cpu_p50_ms']:.3f}/{a['cpu_p99_ms']:.3f}/{a['cpu_max_ms']:.3f} ms"
            )
        row("build (realistic register)", r["realistic_build_s"], "s")
        row("machine load average during the run", r["realistic_load_average"])


if __name__ == "__main__":
    main()
