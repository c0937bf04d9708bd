//! The bytes of a message for the fast path ([`super::Scan`]): a cursor that reads strings
//! without escapes eight bytes at a time (SWAR), numbers, literals and flat objects of
//! strings, and the names of the fields ingest knows.

use super::Span;

/// Bytes that end the fast scan of a string: the closing quote, an escape, a control
/// character (which JSON forbids unescaped: serde_json reports it), or a byte of a multi-byte
/// character (whose string is then checked for valid UTF-8).
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = b < 0x20 || b >= 0x80 || b == b'"' as usize || b == b'\\' as usize;
        b += 1;
    }
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit set in the bytes of `word` that stop the fast scan of a string (see [`STOP`]):
/// exact for the lowest one; higher ones may be false alarms (a borrow from a lower byte),
/// which do not matter since only the lowest is used.
fn stops(word: u64) -> u64 {
    // A byte below 0x20, or equal to `"` or `\` (once XORed away), wraps around when
    // subtracted from; bytes from 0x80 up have their high bit set already.
    let below_space = word.wrapping_sub(ONES * 0x20);
    let quote = (word ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
    let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    (below_space | quote | backslash | word) & HIGHS
}

// The fields of an event, as indexes (bits in the masks of `Scan::read`).
pub(super) const EVENT_ID: usize = 0;
pub(super) const EVENT_TYPE: usize = 1;
pub(super) const EXPERIMENT_ID: usize = 2;
pub(super) const VARIANT: usize = 3;
pub(super) const USER_ID: usize = 4;
pub(super) const EVENT_NAME: usize = 5;
pub(super) const EVENT_VALUE: usize = 6;
pub(super) const TIMESTAMP: usize = 7;
pub(super) const METADATA: usize = 8;
/// Any other key (ignored, like serde_json ignores unknown fields).
pub(super) const OTHER: usize = 9;

/// Whether `bytes` are `name` (compared as a fixed-size array: a few integer comparisons, no
/// `memcmp` call).
#[inline]
pub(super) fn is<const N: usize>(bytes: &[u8], name: &[u8; N]) -> bool {
    <&[u8; N]>::try_from(bytes).is_ok_and(|b| b == name)
}

/// The field a key names.
pub(super) fn field_of(key: &[u8]) -> usize {
    match key.len() {
        7 if is(key, b"user_id") => USER_ID,
        7 if is(key, b"variant") => VARIANT,
        8 if is(key, b"event_id") => EVENT_ID,
        8 if is(key, b"metadata") => METADATA,
        9 if is(key, b"timestamp") => TIMESTAMP,
        10 if is(key, b"event_type") => EVENT_TYPE,
        10 if is(key, b"event_name") => EVENT_NAME,
        11 if is(key, b"event_value") => EVENT_VALUE,
        13 if is(key, b"experiment_id") => EXPERIMENT_ID,
        _ => OTHER,
    }
}

const fn word(bytes: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*bytes)
}

/// The field a key names and the length of the key, read from the sixteen bytes after its
/// opening quote: the names ingest knows followed by `":` (compared as two words, without
/// searching for the quote); `None` for other keys, whitespace before the colon, or near the
/// end of the message.
#[inline]
pub(super) fn known_key(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let chunk: &[u8; 16] = bytes.get(at..at + 16)?.try_into().ok()?;
    let (head, tail) = chunk.split_at(8);
    let first = u64::from_le_bytes(head.try_into().ok()?);
    let second = u64::from_le_bytes(tail.try_into().ok()?);
    // The key's bytes past the first eight, then `":`, as a word and a mask.
    const fn rest(tail: &[u8]) -> (u64, u64) {
        let mut word = 0u64;
        let mut i = 0;
        while i < tail.len() {
            word |= (tail[i] as u64) << (8 * i);
            i += 1;
        }
        (word, u64::MAX >> (64 - 8 * tail.len()))
    }
    const USER_ID_: u64 = word(b"user_id\"");
    const VARIANT_: u64 = word(b"variant\"");
    const EVENT_ID: u64 = word(b"event_id");
    const METADATA: u64 = word(b"metadata");
    const TIMESTAM: u64 = word(b"timestam");
    const EVENT_TY: u64 = word(b"event_ty");
    const EVENT_NA: u64 = word(b"event_na");
    const EVENT_VA: u64 = word(b"event_va");
    const EXPERIME: u64 = word(b"experime");
    const COLON: (u64, u64) = rest(b":");
    const QUOTE: (u64, u64) = rest(b"\":");
    const P: (u64, u64) = rest(b"p\":");
    const PE: (u64, u64) = rest(b"pe\":");
    const ME: (u64, u64) = rest(b"me\":");
    const LUE: (u64, u64) = rest(b"lue\":");
    const NT_ID: (u64, u64) = rest(b"nt_id\":");
    let (field, (expected, mask), len) = match first {
        USER_ID_ => (self::USER_ID, COLON, 7),
        VARIANT_ => (self::VARIANT, COLON, 7),
        EVENT_ID => (self::EVENT_ID, QUOTE, 8),
        METADATA => (self::METADATA, QUOTE, 8),
        TIMESTAM => (TIMESTAMP, P, 9),
        EVENT_TY => (EVENT_TYPE, PE, 10),
        EVENT_NA => (EVENT_NAME, ME, 10),
        EVENT_VA => (EVENT_VALUE, LUE, 11),
        EXPERIME => (EXPERIMENT_ID, NT_ID, 13),
        _ => return None,
    };
    (second & mask == expected).then_some((field, len))
}

/// A cursor over a message's bytes.
pub(super) struct Scanner<'a> {
    pub bytes: &'a [u8],
    pub at: usize,
}

impl Scanner<'_> {
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline]
    pub fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace (one comparison when there is none).
    #[inline]
    pub fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        if b > b' ' {
            return Some(b);
        }
        self.ws();
        self.peek()
    }

    /// Moves past `byte`, which must be next after any whitespace.
    #[inline]
    pub fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then(|| self.at += 1)
    }

    /// A string without escapes, the cursor just past its opening quote: moves past its
    /// closing quote and returns its contents.
    #[inline]
    pub fn string(&mut self) -> Option<Span> {
        let start = self.at;
        let rest = self.bytes.get(start..)?;
        let mut chunks = rest.chunks_exact(8);
        let mut len = 0;
        // Eight bytes at a time while none of them stops the scan (SWAR, see `stops`).
        let end = loop {
            let Some(chunk) = chunks.next() else {
                let tail = chunks.remainder();
                let n = tail.iter().take_while(|&&b| !STOP[b as usize]).count();
                break len + n;
            };
            let stop = stops(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
            if stop != 0 {
                // The lowest flagged byte is exact: the first stop byte.
                break len + (stop.trailing_zeros() / 8) as usize;
            }
            len += 8;
        };
        match rest.get(end)? {
            b'"' => {
                self.at = start + end + 1;
                Some((start, start + end))
            }
            0x80.. => self.non_ascii_string(start),
            _ => None,
        }
    }

    /// [`Scanner::string`] of a string with a multi-byte character: its bytes must be valid
    /// UTF-8 (then so is the whole message, all else in it being ASCII).
    #[cold]
    fn non_ascii_string(&mut self, start: usize) -> Option<Span> {
        let rest = self.bytes.get(start..)?;
        let end = rest
            .iter()
            .position(|&b| b < 0x20 || b == b'"' || b == b'\\')?;
        if rest[end] != b'"' {
            return None;
        }
        std::str::from_utf8(&rest[..end]).ok()?;
        self.at = start + end + 1;
        Some((start, start + end))
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    /// A JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    #[inline]
    pub fn number(&mut self) -> Option<Span> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            (self.digits() > 0).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        Some((start, self.at))
    }

    #[inline]
    pub fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// A flat object of strings (the cursor on `{`): appends its pairs in document order.
    #[inline]
    pub fn pairs(&mut self, out: &mut Vec<(Span, Span)>) -> Option<()> {
        self.at += 1;
        if self.next()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.expect(b'"')?;
            let key = self.string()?;
            self.expect(b':')?;
            self.expect(b'"')?;
            let value = self.string()?;
            out.push((key, value));
            match self.next()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}
