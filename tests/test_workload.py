"""Request generation: Poisson arrivals, weights, diurnal shape, flash crowds, chunking, traces."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from cdn import workload
from cdn.catalog import Catalog
from cdn.scenario import Workload
from cdn.workload import (
    TRACE_HEADER,
    FlashCrowd,
    Generator,
    Population,
    Requests,
    TraceError,
    _parse_row,
    read_trace,
    rechunk,
    scan_trace,
    time_order,
    utc_offset_hours,
)


def population(weights=(1.0,), offsets=None, hosts=8, shares=(1.0,)) -> Population:
    n = len(weights)
    return Population(
        weights=np.array(weights, dtype=float),
        utc_offset_h=np.array(offsets if offsets is not None else [0.0] * n, dtype=float),
        continents=("EU",) * n,
        countries=("DE",) * n,
        group_shares=np.array(shares),
        hosts=hosts,
    )


CATALOG = Catalog(Workload(catalog_size=500, zipf_alpha=0.8), seed=3)


def all_requests(gen: Generator, **kw) -> Requests:
    return Requests.concat(list(gen.blocks(**kw)))


def test_poisson_count_and_exponential_gaps():
    gen = Generator(population(), CATALOG, rate=20000.0, seed=1)
    r = all_requests(gen, duration=20.0, requests=None)
    expected = 20000 * 20
    assert abs(len(r) - expected) < 5 * np.sqrt(expected)
    assert np.all(np.diff(r.t) >= 0) and r.t[0] >= 0 and r.t[-1] < 20.0
    gaps = np.diff(r.t)
    assert gaps.mean() == pytest.approx(1 / 20000, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.03)  # exponential: CV 1


def test_places_groups_and_objects_follow_their_weights():
    gen = Generator(population((1.0, 3.0, 6.0), shares=(0.7, 0.3)), CATALOG, rate=50000.0,
                    seed=2, keepalive=0.25)  # fmt: skip
    r = all_requests(gen, duration=None, requests=200_000)
    assert len(r) == 200_000
    share = np.bincount(r.place, minlength=3) / len(r)
    np.testing.assert_allclose(share, [0.1, 0.3, 0.6], atol=0.005)
    assert np.mean(r.group == 1) == pytest.approx(0.3, abs=0.005)
    assert np.mean(r.reuse) == pytest.approx(0.25, abs=0.005)
    freq = np.bincount(r.obj, minlength=CATALOG.n) / len(r)
    assert freq[0] == pytest.approx(CATALOG.popularity(0), rel=0.05)
    np.testing.assert_array_equal(r.size, CATALOG.sizes[r.obj])
    assert r.host.min() >= 0 and r.host.max() < 8


def test_diurnal_shape_follows_local_time():
    # Two equal places 12 hours apart; at 21:00 UTC one is at its evening peak.
    gen = Generator(population((1.0, 1.0), offsets=(0.0, 12.0)), CATALOG, rate=20000.0,
                    seed=3, diurnal=0.5, start_hour_utc=21.0)  # fmt: skip
    r = all_requests(gen, duration=10.0, requests=None)
    peak, trough = np.bincount(r.place, minlength=2)
    assert peak / trough == pytest.approx(1.5 / 0.5, rel=0.05)
    with pytest.raises(Exception, match="allowed"):
        Generator(population(), CATALOG, rate=1.0, seed=1, diurnal_shape="square")


def test_flash_crowd_multiplies_one_object():
    obj = 400  # an unpopular object
    fc = FlashCrowd(at=5.0, duration=5.0, factor=200.0, obj=obj)
    gen = Generator(population(), CATALOG, rate=20000.0, seed=4, flash_crowds=[fc])
    r = all_requests(gen, duration=15.0, requests=None)
    base = 20000 * CATALOG.popularity(obj)
    inside = np.sum((r.obj == obj) & (r.t >= 5) & (r.t < 10)) / 5.0
    assert inside == pytest.approx(200 * base, rel=0.1)
    assert np.all(np.diff(r.t) >= 0)


def test_chunking_never_changes_the_stream():
    gen = Generator(population((1.0, 2.0)), CATALOG, rate=30000.0, seed=5, diurnal=0.3)
    whole = all_requests(gen, duration=5.0, requests=None)
    for chunk in (1, 999, 65536, 10**7):
        if chunk == 1:
            parts = list(rechunk(gen.blocks(duration=0.01, requests=None), 1))
            assert all(len(p) == 1 for p in parts)
            continue
        parts = list(rechunk(gen.blocks(duration=5.0, requests=None), chunk))
        assert all(len(p) == chunk for p in parts[:-1])
        again = Requests.concat(parts)
        for name in ("t", "place", "obj", "size", "host", "reuse", "service", "u"):
            np.testing.assert_array_equal(getattr(again, name), getattr(whole, name))


def test_utc_offsets():
    assert utc_offset_hours("Asia/Tokyo", 0.0) == 9.0
    assert utc_offset_hours("America/New_York", 0.0) == -5.0  # standard time
    assert utc_offset_hours("", 90.0) == 6.0  # solar time from the longitude
    assert utc_offset_hours("Not/AZone", -45.0) == -3.0


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("when,who,what,size\n", "line 1", "header"),
        ("time,client,key,size\n1,London,/a,10\n0.5,London,/b,10\n", "line 3", "time order"),
        ("time,client,key,size\n1,London,/a\n", "line 2", "4 fields"),
        ("time,client,key,size\n1,London,/a,10\nsoon,London,/b,1\n", "line 3", "soon"),
        ("time,client,key,size\n1,,/a,10\n", "line 2", "client"),
        ("time,client,key,size\n1,London,/a,-5\n", "line 2", "-5"),
        ("time,client,key,size\n1,London,/a,9223372036854775808\n", "line 2", "2**63"),
        ("time,client,key,size\n", "no requests", ""),
    ],
)
def test_bad_traces_name_the_line(tmp_path, text, line, what):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(TraceError) as err:
        scan_trace(path)
    assert line in str(err.value) and what in str(err.value)


def test_trace_scan_collects_clients_and_keys(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("time,client,key,size\n0,London,/a,10\n1,Paris,/b,20\n\n2,London,/a,10\n")
    tr = scan_trace(path)
    assert tr.clients == ["London", "Paris"]
    assert tr.keys == {"/a": 0, "/b": 1}
    assert tr.rows == 3 and tr.duration == 2.0
    with pytest.raises(TraceError, match="cannot read"):
        scan_trace(tmp_path / "missing.csv")


def test_time_order_is_a_stable_argsort():
    rng = np.random.default_rng(8)
    t0, t1 = 1234.5, 1260.25
    t = rng.uniform(t0, t1, 50_000)
    t[1000:1200] = t[7]  # ties keep their original order
    t[2000:2100] = np.nextafter(t[3], np.inf)
    t[:10] = t0
    t[10:20] = np.nextafter(t1, 0)
    np.testing.assert_array_equal(time_order(t, t0, t1), np.argsort(t, kind="stable"))
    for small in (t[:0], t[:1], np.array([3.0, 1.0, 2.0])):
        np.testing.assert_array_equal(time_order(small, 0.0, 4.0), np.argsort(small))


@pytest.mark.parametrize("shape", ["sine", "evening", "flat"])
def test_thinning_shortcut_never_changes_a_decision(shape):
    # Places all around the clock; windows from a second to two days (wrapping midnight).
    offsets = np.linspace(-12.0, 14.0, 27)
    gen = Generator(population(np.ones(27), offsets=offsets), CATALOG, rate=1000.0, seed=6,
                    diurnal=0.8, diurnal_shape=shape, start_hour_utc=23.5)  # fmt: skip
    rng = np.random.default_rng(7)
    for t0, t1 in [(0.0, 1.0), (1800.0, 5400.0), (0.0, 172_800.0)]:
        n = 200_000
        t = rng.uniform(t0, t1, n)
        place = rng.integers(0, 27, n)
        level = gen._level(t, place)
        draw = rng.random(n) * 1.8
        draw[::3] = level[::3]  # on the threshold, and one step either side
        draw[1::3] = np.nextafter(level[1::3], 0)
        draw[2::9] = np.nextafter(level[2::9], 2)
        np.testing.assert_array_equal(gen._keep(t, place, draw, t0, t1), draw < level)
    # and whole streams agree with the shape evaluated for every candidate
    fast = all_requests(gen, duration=200.0, requests=None)
    gen.slope = None
    slow = all_requests(gen, duration=200.0, requests=None)
    np.testing.assert_array_equal(fast.t, slow.t)
    np.testing.assert_array_equal(fast.place, slow.place)


def test_rechunk_cuts_exact_batches_from_any_block_sizes():
    rng = np.random.default_rng(10)

    def block(n, first):
        a = np.arange(first, first + n)
        i32 = a.astype(np.int32)
        return Requests(a.astype(float), i32, i32, i32, a, a, i32, a % 2 == 0, a * 1.0, a * 1.0)

    for _ in range(200):
        sizes = rng.integers(0, 50, rng.integers(0, 12)).tolist()
        starts = np.cumsum([0, *sizes])
        blocks = [block(n, int(s)) for n, s in zip(sizes, starts, strict=False)]
        chunk = int(rng.integers(1, 60))
        out = list(rechunk(iter(blocks), chunk))
        total = int(starts[-1])
        assert [len(o) for o in out] == [chunk] * (total // chunk) + [total % chunk] * (
            total % chunk > 0
        )
        rows = Requests.concat(out).obj if out else np.zeros(0, dtype=np.int64)
        np.testing.assert_array_equal(rows, np.arange(total))


# --- trace files: the block parser gives exactly what the row-by-row csv reading gave ---


def reference_scan(path):
    """The trace scan as it was before the block parser (csv module, one row at a time)."""
    path = Path(path)
    clients, keys, rows, last = {}, {}, 0, -math.inf
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or tuple(h.strip().lower() for h in header) != TRACE_HEADER:
            raise TraceError(
                f"{path} line 1: expected the header {','.join(TRACE_HEADER)}, got "
                f"{','.join(header or [])!r}"
            )
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            t, client, key, _ = _parse_row(path, line, row)
            if t < last:
                raise TraceError(
                    f"{path} line {line}: time {t} is before the previous row's {last}; "
                    "rows must be in time order"
                )
            last = t
            clients.setdefault(client, None)
            if key not in keys:
                keys[key] = len(keys)
            rows += 1
    if rows == 0:
        raise TraceError(f"{path}: no requests after the header")
    return list(clients), keys, rows, max(last, 0.0)


def reference_rows(path, keys, clients):
    """(t, client id, object id, size) of every row, read as before (csv, one row at a time)."""
    cindex = {c: i for i, c in enumerate(clients)}
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            t, client, key, size = _parse_row(Path(path), reader.line_num, row)
            out.append((t, cindex[client], keys[key], size))
    return out


def replay(tr, block=7):
    nc, nk = len(tr.clients), len(tr.keys)
    return list(read_trace(tr, np.arange(nc) % 3, np.arange(nc) % 2, np.arange(nk) % 5,
                           seed=4, keepalive=0.5, hosts=3, block=block))  # fmt: skip


FIELD_TEXT = ["London", "Tokyo", "10.1.2.3", "fd00::1", "São Paulo", "New York", "/a", "/b/c.jpg",
              "/x y", "/ü", "k\x00z", "/a;b", "/" + "long" * 20]  # fmt: skip


def random_trace(rng, n, *, odd: bool) -> str:
    """A trace text of ``n`` rows; ``odd`` mixes in every form the csv module accepts."""
    end = rng.choice(["\n", "\r\n"])
    t = 0.0
    lines = ["time,client,key,size"]
    for _ in range(n):
        t = round(t + float(rng.choice([0.0, 0.001, 0.25, 1.0, rng.random()])), 3)
        ts = rng.choice([f"{t:.3f}", f"{t:.6f}", repr(t), f"{t * 1000:.0f}e-3"])
        client, key = rng.choice(FIELD_TEXT[:6]), rng.choice(FIELD_TEXT[6:])
        size = str(int(rng.integers(0, 10**7)))
        fields = [ts, client, key, size]
        if odd:
            k = int(rng.integers(0, 14))
            if k == 0:
                fields = [f" {f}\t" for f in fields]  # stripped, as _parse_row does
            elif k == 1:
                fields = [f'"{f}"' for f in fields]  # quoted
            elif k == 2:
                fields[2] = '"/multi\nline,key"'  # a quoted key over two lines
            elif k == 3:
                lines.append(rng.choice(["", "   ", "\t"]))  # blank lines are skipped
            elif k == 4:
                fields[0] = f"{t * 1e3:.0f}e-3"  # a time the digit parser leaves to float()
            elif k == 5:
                fields[3] = "00" + fields[3]
            elif k == 6:
                fields[0] = "0" * 16 + fields[0]  # longer than the digit parser takes
        lines.append(",".join(fields))
    text = end.join(lines)
    return text + end if rng.random() < 0.7 else text


@pytest.mark.parametrize("chars", [1 << 18, 300, 61])
def test_trace_block_parser_equals_row_by_row_csv(tmp_path, monkeypatch, chars):
    monkeypatch.setattr(workload, "TRACE_BLOCK_CHARS", chars)  # many blocks, cut anywhere
    rng = np.random.default_rng(chars)
    path = tmp_path / "t.csv"
    for case in range(30):
        text = random_trace(rng, int(rng.integers(1, 400)), odd=case % 3 > 0)
        path.write_bytes(text.encode("utf-8"))
        clients, keys, rows, duration = reference_scan(path)
        tr = scan_trace(path)
        assert (tr.clients, tr.keys, tr.rows, tr.duration) == (clients, keys, rows, duration)
        assert list(tr.keys.values()) == list(range(len(keys)))  # ids in first-seen order
        ref = reference_rows(path, keys, clients)
        got = Requests.concat(replay(tr))
        assert got.t.tolist() == [r[0] for r in ref]  # exact: == on floats
        assert got.obj.tolist() == [r[2] for r in ref]
        assert got.size.tolist() == [r[3] for r in ref]
        c = np.array([r[1] for r in ref])
        np.testing.assert_array_equal(got.place, c % 3)
        np.testing.assert_array_equal(got.group, c % 2)
        np.testing.assert_array_equal(got.host, c % 3)


def test_trace_blocks_keep_the_stream_and_its_random_numbers(tmp_path, monkeypatch):
    # The replay's blocks (and each block's random stream) do not depend on how
    # the file is read: the row-by-row path for every block gives the same.
    path = tmp_path / "t.csv"
    path.write_text(random_trace(np.random.default_rng(3), 3000, odd=False), encoding="utf-8")
    tr = scan_trace(path)
    fast = replay(tr, block=1000)
    monkeypatch.setattr(workload._TraceBody, "_fast", lambda self, text: None)
    slow = replay(tr, block=1000)
    assert [len(b) for b in fast] == [1000, 1000, 1000]
    for a, b in zip(fast, slow, strict=True):
        for f in ("t", "place", "group", "host", "obj", "size", "ctype", "reuse", "service", "u"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_plain_blocks_take_the_fast_path(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(random_trace(np.random.default_rng(5), 500, odd=False), encoding="utf-8")
    with open(path, newline="", encoding="utf-8") as fh:
        body = workload._TraceBody(fh, path, workload._Interner({}), workload._Interner({}))
        text = body._text()
        rows = body._fast(text)
    assert rows is not None and len(rows.t) == text.count("\n") >= 499


BAD_ROWS = [
    "soon,London,/b,1",
    "1e999,London,/b,1",
    "nan,London,/b,1",
    "-1,London,/b,1",
    "5,,/b,1",
    "5, ,/b,1",
    "5,London,,1",
    "5,London,/b,12x",
    "5,London,/b,-3",
    "5,London,/b,1.0",
    "5,London,/b",
    "5,London,/b,1,2",
    "0.0001,London,/b,1",  # before the previous row
    '"5",London,"/b,1',  # an unclosed quote runs to the end of the file
]


@pytest.mark.parametrize("bad", BAD_ROWS)
def test_bad_row_in_a_block_names_the_same_line(tmp_path, monkeypatch, bad):
    monkeypatch.setattr(workload, "TRACE_BLOCK_CHARS", 1000)
    rng = np.random.default_rng(11)
    for crlf in (False, True):
        end = "\r\n" if crlf else "\n"
        good = [f"{1 + i / 100:.2f},London,/k{i % 7},{i}" for i in range(300)]
        at = int(rng.integers(0, 300))
        text = end.join(["time,client,key,size", *good[:at], bad, *good[at:]]) + end
        path = tmp_path / "t.csv"
        path.write_text(text, encoding="utf-8", newline="")
        try:
            reference_scan(path)
            expected = None
        except TraceError as exc:
            expected = str(exc)
        if expected is None:  # the unclosed quote: accepted, as before
            assert scan_trace(path).rows == reference_scan(path)[2]
            continue
        with pytest.raises(TraceError) as err:
            scan_trace(path)
        assert str(err.value) == expected
        assert f"line {at + 2}:" in expected or "before" in expected or '"' in bad


def test_decimals_read_numbers_exactly_as_python(tmp_path):
    rng = np.random.default_rng(12)
    digits = list("0123456789")
    fields = ["9007199254740992", "9007199254740993", "900719925474099.3", ".5", "7.", ".",
              "", "0.1", "0.30000000000000004", "1234567890123456", "12345678901234567", "1..2",
              "+1", "1_0", "١٢", "0x1", " 1", "1e5"]  # fmt: skip
    for _ in range(20000):
        n = int(rng.integers(1, 19))
        s = "".join(rng.choice(digits, n))
        if rng.random() < 0.7:
            p = int(rng.integers(0, n + 1))
            s = s[:p] + "." + s[p:]
        fields.append(s)
    raw = ("," + ",".join(fields) + ",").encode()
    a = np.frombuffer(raw, dtype=np.uint8)
    seps = np.flatnonzero(a == 44)
    start, end = seps[:-1] + 1, seps[1:]
    for point, parse in ((True, float), (False, int)):
        values, done = workload._decimals(a, start, end, point=point)
        assert done.sum() > 5000
        for f, v, d in zip(fields, values.tolist(), done.tolist(), strict=True):
            if d:
                assert v == parse(f), f


def test_fields_sharing_a_hash_fall_back_to_strings(tmp_path, monkeypatch):
    # With a zero multiplier every field hashes alike: the byte comparison sees
    # it and the block's clients and keys come from str.split, same ids.
    path = tmp_path / "t.csv"
    path.write_text(random_trace(np.random.default_rng(9), 300, odd=False), encoding="utf-8")
    expected = scan_trace(path)
    monkeypatch.setattr(workload, "_MIX", np.uint64(0))
    raw = b"abc,xyz,abc,"
    a = np.frombuffer(raw, dtype=np.uint8)
    memory = workload._Interner({})
    assert memory.fields(raw, a, np.array([0, 4, 8]), np.array([3, 7, 11])) is None
    assert memory.fields(raw, a, np.array([0, 8]), np.array([3, 11])).tolist() == [0, 0]
    assert memory.fields(raw, a, np.array([4]), np.array([7])) is None  # "xyz" vs "abc"
    assert memory.strings(["xyz", "abc"]).tolist() == [1, 0]
    tr = scan_trace(path)
    assert (tr.clients, tr.keys, tr.rows) == (expected.clients, expected.keys, expected.rows)
