//! The splitter on hand-worked cases (Python's notation: `C data`, `F`), its
//! record limit, and borrowed input decoding as fed input does.

use super::*;
use crate::error::Error;

/// Collected pieces in Python's test notation: `C <data>` and `F`.
fn drain(s: &mut Splitter, t: &mut Terminator, out: &mut Vec<String>) {
    while let Some(piece) = s.next_piece(t).unwrap() {
        match piece {
            Piece::Data(d) => out.push(format!("C {}", String::from_utf8_lossy(d))),
            Piece::Terminator => out.push("F".into()),
        }
    }
}

fn run(t: impl Into<Terminator>, reads: &[&[u8]]) -> (Vec<String>, Terminator, Vec<u8>) {
    let mut s = Splitter::new();
    let mut t = t.into();
    let mut out = Vec::new();
    for r in reads {
        s.feed(r);
        drain(&mut s, &mut t, &mut out);
    }
    (out, t, s.buffered().to_vec())
}

#[test]
fn crlf_split_across_reads() {
    let (out, _, held) = run("\r\n", &[b"ab\r", b"\ncd\r\n\r\nef", b"\r"]);
    assert_eq!(out, ["C ab", "F", "C cd", "F", "F", "C ef"]);
    assert_eq!(held, b"\r");
}

#[test]
fn held_prefix_that_is_not_a_terminator() {
    let (out, _, _) = run("qqq", &[b"xq", b"q", b"yqqqz"]);
    assert_eq!(out, ["C x", "C qqy", "F", "C z"]);
}

#[test]
fn count_counts_down_then_collects_everything() {
    let (out, t, _) = run(3usize, &[b"ab", b"cdef", b"gh"]);
    assert_eq!(out, ["C ab", "C c", "F", "C def", "C gh"]);
    assert_eq!(t, Terminator::Count(0));
}

#[test]
fn terminator_changed_between_pieces_applies_to_buffered_bytes() {
    let mut s = Splitter::new();
    let mut t = Terminator::from("\n");
    let mut out = Vec::new();
    s.feed(b"hdr\nBODYrest\nx");
    while let Some(piece) = s.next_piece(&mut t).unwrap() {
        match piece {
            Piece::Data(d) => out.push(format!("C {}", String::from_utf8_lossy(d))),
            Piece::Terminator => {
                out.push("F".into());
                // found_terminator switches to a count of 4, then back.
                t = if t == Terminator::from("\n") {
                    Terminator::Count(4)
                } else {
                    Terminator::from("\n")
                };
            }
        }
    }
    assert_eq!(out, ["C hdr", "F", "C BODY", "F", "C rest", "F", "C x"]);
}

#[test]
fn record_too_long_is_an_error_with_the_numbers() {
    let mut s = Splitter::new();
    s.set_max_record_len(Some(8));
    let mut t = Terminator::from("\n");
    s.feed(b"12345");
    assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Data(b"12345")));
    s.feed(b"6789\n");
    let err = s.next_piece(&mut t).unwrap_err();
    assert_eq!(
        err.to_string(),
        "record too long: 9 bytes without a terminator (limit 8)"
    );
    // A record exactly at the limit is fine; counts are not limited.
    let mut s = Splitter::new();
    s.set_max_record_len(Some(3));
    s.feed(b"abc\n");
    assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Data(b"abc")));
    let mut count = Terminator::Count(10);
    s.feed(b"0123456789");
    assert_eq!(s.next_piece(&mut count).unwrap(), Some(Piece::Terminator));
    assert_eq!(
        s.next_piece(&mut count).unwrap(),
        Some(Piece::Data(b"0123456789"))
    );
}

#[test]
fn empty_record_has_no_data_piece() {
    let (out, _, _) = run("\n", &[b"hello world\n\nI'm not dead yet!\n"]);
    assert_eq!(out, ["C hello world", "F", "F", "C I'm not dead yet!", "F"]);
}

#[test]
fn take_buffered_returns_the_held_back_bytes() {
    let mut s = Splitter::new();
    let mut t = Terminator::from("\r\n.\r\n");
    s.feed(b"body\r\n.");
    assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Data(b"body")));
    assert_eq!(s.next_piece(&mut t).unwrap(), None);
    assert_eq!(s.take_buffered(), b"\r\n.");
    assert!(s.buffered().is_empty());
}

/// The borrowed-input path: pieces straight from each read, the rest
/// fed, buffered bytes first.
fn run_borrowed(t: impl Into<Terminator>, reads: &[&[u8]]) -> (Vec<String>, Vec<u8>) {
    let mut s = Splitter::new();
    let mut t = t.into();
    let mut out = Vec::new();
    for r in reads {
        let mut input: &[u8] = r;
        while let Some(piece) = s.next_piece_in(&mut input, &mut t).unwrap() {
            match piece {
                Piece::Data(d) => out.push(format!("C {}", String::from_utf8_lossy(d))),
                Piece::Terminator => out.push("F".into()),
            }
        }
        s.feed(input);
        drain(&mut s, &mut t, &mut out);
    }
    (out, s.buffered().to_vec())
}

#[test]
fn borrowed_input_decodes_as_fed_input_does() {
    let input: &[u8] = b"ab\r\ncd\r\n\r\nef\rgh\r\r\n\r";
    for terminator in ["\r\n", "\n", "qqq"] {
        for chunk in 1..=input.len() {
            let reads: Vec<&[u8]> = input.chunks(chunk).collect();
            let (fed, _, fed_held) = run(terminator, &reads);
            let (borrowed, held) = run_borrowed(terminator, &reads);
            assert_eq!(borrowed, fed, "terminator {terminator:?}, chunk {chunk}");
            assert_eq!(held, fed_held, "terminator {terminator:?}, chunk {chunk}");
        }
    }
    // Counts too, ending in a byte terminator.
    let mut s = Splitter::new();
    let mut t = Terminator::Count(3);
    let mut input: &[u8] = b"abcdef";
    assert_eq!(
        s.next_piece_in(&mut input, &mut t).unwrap(),
        Some(Piece::Data(b"abc"))
    );
    assert_eq!(
        s.next_piece_in(&mut input, &mut t).unwrap(),
        Some(Piece::Terminator)
    );
    t = Terminator::from("\n");
    assert_eq!(
        s.next_piece_in(&mut input, &mut t).unwrap(),
        Some(Piece::Data(b"def"))
    );
    assert!(input.is_empty());
}

#[test]
fn borrowed_input_waits_for_buffered_bytes() {
    let mut s = Splitter::new();
    let mut t = Terminator::from("\r\n");
    s.feed(b"x\r");
    assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Data(b"x")));
    let mut input: &[u8] = b"\ny";
    // "\r" is buffered: it must be decoded before the new bytes.
    assert_eq!(s.next_piece_in(&mut input, &mut t).unwrap(), None);
    assert_eq!(input, b"\ny");
    s.feed(input);
    assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Terminator));
    assert_eq!(s.next_piece(&mut t).unwrap(), Some(Piece::Data(b"y")));
}

#[test]
fn borrowed_input_enforces_the_record_limit() {
    let mut s = Splitter::new();
    s.set_max_record_len(Some(4));
    let mut t = Terminator::from("\n");
    let mut input: &[u8] = b"abc";
    assert_eq!(
        s.next_piece_in(&mut input, &mut t).unwrap(),
        Some(Piece::Data(b"abc"))
    );
    let mut more: &[u8] = b"de\n";
    assert!(matches!(
        s.next_piece_in(&mut more, &mut t),
        Err(Error::RecordTooLong {
            length: 5,
            limit: 4
        })
    ));
}
