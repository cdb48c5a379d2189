//! The byte-range headers of the file door, parsed strictly: `Range` of a
//! download (RFC 9110 §14.2, one range only), `Content-Range` of a `PUT`
//! chunk (§14.4) and tus's `Upload-Offset` of a `PATCH` chunk.
//!
//! Parsers return `None` for anything malformed; the handlers answer 400
//! (or, for a `Range` the file cannot satisfy, 416).

/// An inclusive byte range `first..=last` within a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteRange {
    /// First byte.
    pub(crate) first: u64,
    /// Last byte (inclusive).
    pub(crate) last: u64,
}

impl ByteRange {
    /// Bytes in the range.
    pub(crate) fn len(self) -> u64 {
        self.last - self.first + 1
    }

    /// The `Content-Range` value of a 206 answer for a file of `size` bytes.
    pub(crate) fn content_range(self, size: u64) -> String {
        format!("bytes {}-{}/{size}", self.first, self.last)
    }
}

/// What a download's `Range` header asks of a file of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// No (usable) range: the whole file, 200.
    Whole,
    /// One satisfiable range: 206.
    Part(ByteRange),
    /// A well-formed range outside the file: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header value for a file of `size` bytes. A header
/// that is not one `bytes=` range (several ranges, other units, garbage)
/// is ignored as RFC 9110 allows: the whole file is sent.
pub(crate) fn wanted(header: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    match (number(first), number(last), first.is_empty()) {
        // bytes=-N: the last N bytes.
        (None, Some(n), true) => suffix(n, size),
        // bytes=A- : from A to the end.
        (Some(a), None, false) if last.is_empty() => from_to(a, u64::MAX, size),
        (Some(a), Some(b), false) if a <= b => from_to(a, b, size),
        _ => Wanted::Whole,
    }
}

fn suffix(n: u64, size: u64) -> Wanted {
    if n == 0 || size == 0 {
        return Wanted::Unsatisfiable;
    }
    let first = size.saturating_sub(n);
    Wanted::Part(ByteRange {
        first,
        last: size - 1,
    })
}

fn from_to(first: u64, last: u64, size: u64) -> Wanted {
    if first >= size {
        return Wanted::Unsatisfiable;
    }
    let last = last.min(size - 1);
    Wanted::Part(ByteRange { first, last })
}

/// A decimal number of at most 19 digits (no sign, no spaces inside).
fn number(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

/// A chunk's place in an upload: `Content-Range: bytes A-B/TOTAL` (the
/// total may be `*`). `None` when malformed or `A > B`.
pub(crate) fn content_range(header: &str) -> Option<(ByteRange, Option<u64>)> {
    let rest = header.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last) = (number(first)?, number(last)?);
    if first > last {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(number(t)?),
    };
    Some((ByteRange { first, last }, total))
}

/// tus's `Upload-Offset: N`.
pub(crate) fn upload_offset(header: &str) -> Option<u64> {
    number(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(first: u64, last: u64) -> Wanted {
        Wanted::Part(ByteRange { first, last })
    }

    #[test]
    fn ranges_of_a_download() {
        assert_eq!(wanted(None, 10), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-3"), 10), part(0, 3));
        assert_eq!(wanted(Some("bytes=4-"), 10), part(4, 9));
        assert_eq!(wanted(Some("bytes=4-100"), 10), part(4, 9), "clamped");
        assert_eq!(wanted(Some("bytes=-3"), 10), part(7, 9));
        assert_eq!(wanted(Some("bytes=-30"), 10), part(0, 9));
        assert_eq!(wanted(Some("bytes=9-9"), 10), part(9, 9));
        assert_eq!(wanted(Some("bytes=10-"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-"), 0), Wanted::Unsatisfiable);
    }

    #[test]
    fn odd_range_headers_mean_the_whole_file() {
        for h in [
            "bytes=5-2",
            "bytes=0-1,4-5",
            "items=0-1",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=99999999999999999999-",
            "bytes=1",
        ] {
            assert_eq!(wanted(Some(h), 10), Wanted::Whole, "{h}");
        }
    }

    #[test]
    fn content_ranges_of_an_upload() {
        let r = |first, last| ByteRange { first, last };
        assert_eq!(content_range("bytes 0-99/200"), Some((r(0, 99), Some(200))));
        assert_eq!(content_range("bytes 100-199/*"), Some((r(100, 199), None)));
        assert_eq!(r(100, 199).len(), 100);
        assert_eq!(r(3, 4).content_range(10), "bytes 3-4/10");
        for bad in [
            "bytes 5-4/10",
            "bytes 0-1",
            "0-1/2",
            "bytes -1-2/3",
            "bytes 0-1/x",
        ] {
            assert_eq!(content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn upload_offsets() {
        assert_eq!(upload_offset("0"), Some(0));
        assert_eq!(upload_offset(" 1048576 "), Some(1_048_576));
        for bad in ["", "-1", "1.5", "0x10", "18446744073709551616"] {
            assert_eq!(upload_offset(bad), None, "{bad}");
        }
    }
}
