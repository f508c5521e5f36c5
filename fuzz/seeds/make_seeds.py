#!/usr/bin/env python3
"""Writes the hand-made seeds into fuzz/corpus/<target>/seed-*.

The byte layouts are documented at the top of tests/fuzz_checks/splitter.rs
tests/fuzz_checks/output.rs and tests/fuzz_checks/tls.rs. Run from anywhere: python3 fuzz/seeds/make_seeds.py
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")

# ---------------------------------------------------------------- splitter
RAW = 7  # alphabet byte: raw bytes
NONE = [0]


def tbytes(b):
    return [2, len(b)] + list(b)


def count(n):
    return [1, n]


DEFAULT_LIMIT, UNLIMITED = 0, 1


def limit(n):
    return n + 2


def splitter(term, stream, *, alphabet=RAW, lim=DEFAULT_LIMIT, chunking=4,
             max_chunk=3, seed=1, flags=0, rule=()):
    out = [alphabet] + term + [lim, chunking, max_chunk]
    out += list(struct.pack("<Q", seed))
    out += [flags, len(rule)]
    for r in rule:
        out += [0] if r is None else [1] + r
    return bytes(out) + stream


SPLITTER = {
    # Spec 3.1 worked examples.
    "crlf-across-reads": splitter(tbytes(b"\r\n"), b"ab\r\ncd\r\n\r\nef\r"),
    "held-prefix-not-terminator": splitter(tbytes(b"qqq"), b"xqqyqqqz", chunking=0),
    "count-then-everything": splitter(count(3), b"abcdefgh", chunking=1),
    "switch-to-count-and-back": splitter(
        tbytes(b"\n"), b"hdr\nBODYrest\nx", rule=[count(4), tbytes(b"\n")], flags=1),
    "empty-records": splitter(tbytes(b"\n"), b"hello world\n\nI'm not dead yet!\n", chunking=2),
    "smtp-data-terminator": splitter(
        tbytes(b"\r\n.\r\n"), b"body\r\n.\r\nmore\r\n.\r", chunking=0),
    "overlapping-prefix": splitter(tbytes(b"aab"), b"aaaabaab", chunking=0),
    # Falsy terminators.
    "none": splitter(NONE, b"everything is data\r\n"),
    "empty-bytes": splitter([2, 0], b"also all data"),
    "count-zero": splitter(count(0), b"data"),
    # Record limit.
    "too-long-found": splitter(tbytes(b"\n"), b"123456789\n", lim=limit(8), chunking=0),
    "too-long-streamed": splitter(tbytes(b"\n"), b"12345" + b"6789abcdef", lim=limit(8)),
    "limit-exact": splitter(tbytes(b"\n"), b"abc\nabcd\n", lim=limit(3)),
    "limit-zero": splitter(tbytes(b"\r\n"), b"\r\n\r\nx\r\n", lim=limit(0)),
    "unlimited": splitter(tbytes(b"\n"), b"x" * 300 + b"\n", lim=UNLIMITED, chunking=3),
    "count-not-limited": splitter(count(20), b"0123456789abcdefghij\n", lim=limit(4)),
    "too-long-after-switch": splitter(
        count(2), b"ab" + b"c" * 12 + b"\n", lim=limit(5), rule=[tbytes(b"\n")]),
    # Rules cycling through every kind, narrow alphabet.
    "rule-cycle-narrow": splitter(
        tbytes(b"\n"), bytes(range(200)), alphabet=3,
        rule=[None, count(3), tbytes(b"ab"), NONE, tbytes(b"")], max_chunk=9, seed=7),
    "rule-to-none": splitter(tbytes(b"a"), b"xaybzazz", alphabet=RAW, rule=[NONE]),
    "random-chunks-with-empties": splitter(
        tbytes(b"\r\n"), b"a\r\nbb\r\nccc\r\n" * 8, max_chunk=4, seed=42, flags=2),
}

# ------------------------------------------------------------------ output
def wm_small(n):  # 0..=63
    return n * 4


def wm_256(n):  # n * 256
    return n * 4 + 1


WM_DEFAULT, WM_UNLIMITED = 2, 3
BLOCK, INTR = 0, 255


def budgets(*b):
    return [len(b) - 1] + list(b)


def push(n):
    return [0, n]


def push_big(n):
    return [1] + list(struct.pack("<H", n))


def push_simple(len_byte, mult, bufsize, mark):
    return [2, len_byte, mult - 1, bufsize, mark]


def push_vec(n, mark):
    return [3, n, mark]


CLOSE, DISCARD, FLUSH = [4], [5], [7]


def refill(mark):
    return [6, mark]


def write_event(mark):
    return [8, mark]


def socket(*b):
    return [9] + budgets(*b)


def output(ops, *, high=WM_DEFAULT, low=WM_DEFAULT, drain=WM_DEFAULT, sock=(3,)):
    out = [high, low, drain] + budgets(*sock)
    for op in ops:
        out += op
    return bytes(out)


OUTPUT = {
    "push-partial-writes": output([push(10), FLUSH, push(5), FLUSH, FLUSH]),
    "would-block-then-drain": output(
        [push(10), push(20), FLUSH, socket(100), FLUSH], sock=(BLOCK,)),
    "interrupted-writes": output([push(40), FLUSH, push(40), FLUSH], sock=(INTR, 5)),
    "producers-behind-mark": output(
        [push_simple(100, 1, 7, wm_small(16)), push(3), push_vec(5, wm_small(16)),
         write_event(wm_small(16)), write_event(wm_small(16)), write_event(wm_small(16))],
        sock=(4, BLOCK)),
    "close-after-producer": output(
        [push(5), push_simple(50, 1, 8, wm_small(4)), CLOSE, push(9),
         push_vec(3, wm_small(4)), write_event(wm_small(4)), FLUSH], sock=(6,)),
    "discard-drops-close-in-fifo": output(
        [push_simple(200, 2, 16, wm_small(8)), CLOSE, DISCARD, push(7), FLUSH],
        sock=(BLOCK,)),
    "discard-keeps-close-at-sink": output(
        [push(10), CLOSE, DISCARD, push(3), FLUSH], sock=(BLOCK,)),
    "close-with-nothing-queued": output([CLOSE, push(4), push_simple(10, 1, 3, 2)]),
    "double-close": output([push_simple(30, 1, 5, wm_small(2)), CLOSE, CLOSE, refill(3)]),
    "empty-pushes": output(
        [push(0), push_vec(0, 2), push_simple(0, 1, 0, 2), push(0), FLUSH], sock=(BLOCK,)),
    "big-push-watermarks": output(
        [push_big(40000), FLUSH, push_big(30000), FLUSH, FLUSH, FLUSH, FLUSH],
        high=wm_256(40), low=wm_256(10), sock=(200, 1)),
    "coalesce-boundary": output(
        [push(200)] * 100 + [push_big(16384), push(1), FLUSH], sock=(BLOCK,)),
    "watermarks-clamped": output(
        [push(50), FLUSH, push(50), FLUSH], high=wm_small(0), low=wm_small(40), sock=(10,)),
    "refill-unlimited-mark": output(
        [push_simple(255, 16, 1, WM_UNLIMITED), refill(WM_UNLIMITED), FLUSH], sock=(BLOCK, 100)),
    "refill-zero-mark": output(
        [push_simple(20, 1, 4, wm_small(0)), refill(wm_small(0)), FLUSH], sock=(1,)),
}


# -------------------------------------------------------------- tls_server
HELLO, STAY_OPEN = 1, 2


def tls_server(flags, *chunks):
    out = [flags]
    for c in chunks:
        out += [len(c)] + list(c)
    return bytes(out)


TLS_SERVER = {
    "http-instead-of-hello": tls_server(0, b"GET / HTTP/1.0\r\n\r\n"),
    "hello-then-close": tls_server(HELLO),
    "hello-then-garbage": tls_server(HELLO, bytes(range(0, 255, 3))),
    "silent-peer": tls_server(STAY_OPEN),
    "hello-then-silent": tls_server(HELLO | STAY_OPEN),
    # A handshake record header announcing 64 KiB, then a trickle.
    "huge-record-header": tls_server(0, b"\x16\x03\x01\xff\xff", b"\x01" * 40),
    # A fatal alert (handshake_failure) as the first record.
    "alert-first": tls_server(0, b"\x15\x03\x03\x00\x02\x02\x28"),
    # Change-cipher-spec and application data before any handshake.
    "data-before-hello": tls_server(0, b"\x14\x03\x03\x00\x01\x01", b"\x17\x03\x03\x00\x05hello"),
    # A ClientHello split one byte per chunk, then a reset-like end.
    "dribbled-header": tls_server(0, b"\x16", b"\x03", b"\x01", b"\x00", b"\x05", b"\x01"),
}


def write(target, seeds):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(data)


write("splitter", SPLITTER)
write("output", OUTPUT)
write("tls_server", TLS_SERVER)
