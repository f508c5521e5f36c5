//! What ends a record in a chat channel.

/// What ends a record (Python's `set_terminator` argument).
///
/// # Examples
///
/// ```
/// use asyncore::chat::Terminator;
///
/// assert_eq!(Terminator::from("\r\n"), Terminator::Bytes(b"\r\n".to_vec()));
/// assert_eq!(Terminator::from(4usize), Terminator::Count(4));
/// assert!(Terminator::Count(0).is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Terminator {
    /// No terminator: every byte is data and `found_terminator` is never
    /// called (Python's `None`).
    #[default]
    None,
    /// A byte string of any length, e.g. `b"\r\n"`; it is removed from the
    /// data. An empty string behaves like [`Terminator::None`].
    Bytes(Vec<u8>),
    /// A byte count: the next `n` bytes are a record. It counts down as
    /// bytes arrive and ends at `Count(0)`, which, as in Python, behaves
    /// like [`Terminator::None`] until a new terminator is set.
    Count(usize),
}

impl Terminator {
    /// Returns `true` if this terminator never ends a record: `None`, an
    /// empty byte string or a count of zero (Python's "falsy" terminators).
    pub fn is_none(&self) -> bool {
        match self {
            Terminator::None => true,
            Terminator::Bytes(t) => t.is_empty(),
            Terminator::Count(n) => *n == 0,
        }
    }
}

impl From<&[u8]> for Terminator {
    fn from(bytes: &[u8]) -> Self {
        Terminator::Bytes(bytes.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for Terminator {
    fn from(bytes: &[u8; N]) -> Self {
        Terminator::Bytes(bytes.to_vec())
    }
}

impl From<&str> for Terminator {
    fn from(s: &str) -> Self {
        Terminator::Bytes(s.as_bytes().to_vec())
    }
}

impl From<usize> for Terminator {
    fn from(n: usize) -> Self {
        Terminator::Count(n)
    }
}

/// Returns the length of the longest proper prefix of `needle` that ends
/// `haystack` (Python's `asynchat.find_prefix_at_end`), 0 if none.
///
/// # Examples
///
/// ```
/// use asyncore::chat::find_prefix_at_end;
///
/// assert_eq!(find_prefix_at_end(b"qwerty\r", b"\r\n"), 1);
/// assert_eq!(find_prefix_at_end(b"qwertydkjf", b"\r\n"), 0);
/// assert_eq!(find_prefix_at_end(b"abc\r\n", b"\r\n.\r\n"), 2);
/// ```
pub fn find_prefix_at_end(haystack: &[u8], needle: &[u8]) -> usize {
    let longest = needle.len().saturating_sub(1).min(haystack.len());
    (1..=longest)
        .rev()
        .find(|&k| haystack.ends_with(&needle[..k]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_at_end_cases_from_python() {
        assert_eq!(find_prefix_at_end(b"qwerty\r", b"\r\n"), 1);
        assert_eq!(find_prefix_at_end(b"qwertydkjf", b"\r\n"), 0);
        assert_eq!(find_prefix_at_end(b"\r\n\r", b"\r\n.\r\n"), 1);
        assert_eq!(find_prefix_at_end(b"abc\r\n", b"\r\n.\r\n"), 2);
        assert_eq!(find_prefix_at_end(b"", b"\r\n"), 0);
        assert_eq!(find_prefix_at_end(b"q", b"q"), 0, "only proper prefixes");
    }

    #[test]
    fn falsy_terminators() {
        assert!(Terminator::None.is_none());
        assert!(Terminator::Bytes(Vec::new()).is_none());
        assert!(Terminator::Count(0).is_none());
        assert!(!Terminator::from("\n").is_none());
        assert!(!Terminator::Count(1).is_none());
    }
}
