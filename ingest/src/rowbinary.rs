//! RowBinary encoding of events, written straight from a parsed [`Event`] into the batch's
//! buffer (no intermediate row, no per-field allocation), and decoding back into an
//! [`EventRow`] for the rare row that ClickHouse refuses and that goes to quarantine.
//!
//! The column order is [`EVENT_COLUMNS`]; `ingested_at` is left to the server's default.
//! RowBinary: `String` is a LEB128 length and the bytes, `Enum8` one byte, `Nullable(T)` a
//! null flag byte then `T` when present, `Array(T)` a LEB128 count then the items, numbers
//! little-endian.

use crate::event::{Event, EventRow};
use crate::scan::{slice, Scan, Span};

/// The columns of the `events` table that ingest writes, in RowBinary order.
pub const EVENT_COLUMNS: &str = "event_id, event_type, experiment_id, variant, user_id, \
    event_name, event_value, metadata_keys, metadata_values, timestamp_ms, kafka_topic, \
    kafka_partition, kafka_offset";

/// The `INSERT` statement for rows of [`encode_event`] into `table`.
pub fn insert_sql(table: &str) -> String {
    format!("INSERT INTO {table} ({EVENT_COLUMNS}) FORMAT RowBinary")
}

fn put_len(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_len(buf, s.len());
    buf.extend_from_slice(s.as_bytes());
}

/// Appends the row of `event` read from `topic`/`partition` at `offset` to `buf`.
pub fn encode_event(
    buf: &mut Vec<u8>,
    event: &Event<'_>,
    topic: &str,
    partition: i32,
    offset: i64,
) {
    // One capacity check for the row instead of one per field: strings, their lengths (up to
    // 3 bytes each at the enforced limits) and the fixed-size fields.
    let strings = event.event_id.len()
        + event.experiment_id.len()
        + event.variant.len()
        + event.user_id.len()
        + event.event_name.len()
        + topic.len()
        + event
            .metadata
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum::<usize>();
    buf.reserve(strings + 6 * 3 + 2 * 3 + 1 + 9 + 8 + 4 + 8);
    put_str(buf, &event.event_id);
    buf.push(event.event_type as u8);
    put_str(buf, &event.experiment_id);
    put_str(buf, &event.variant);
    put_str(buf, &event.user_id);
    put_str(buf, &event.event_name);
    match event.event_value {
        Some(v) => {
            buf.push(0);
            buf.extend_from_slice(&v.to_le_bytes());
        }
        None => buf.push(1),
    }
    put_len(buf, event.metadata.len());
    for (key, _) in event.metadata.iter() {
        put_str(buf, key);
    }
    put_len(buf, event.metadata.len());
    for (_, value) in event.metadata.iter() {
        put_str(buf, value);
    }
    buf.extend_from_slice(&event.timestamp_ms.to_le_bytes());
    put_str(buf, topic);
    buf.extend_from_slice(&partition.to_le_bytes());
    buf.extend_from_slice(&offset.to_le_bytes());
}

/// Writes a row into a buffer sized beforehand ([`encode_scanned`]); `fits` turns false if a
/// write would not fit (then nothing is written past the end).
struct Writer<'b> {
    out: &'b mut [u8],
    at: usize,
    fits: bool,
}

impl Writer<'_> {
    #[inline]
    fn byte(&mut self, b: u8) {
        match self.out.get_mut(self.at) {
            Some(d) => *d = b,
            None => self.fits = false,
        }
        self.at += 1;
    }

    #[inline]
    fn bytes(&mut self, src: &[u8]) {
        match self.out.get_mut(self.at..self.at + src.len()) {
            Some(d) => d.copy_from_slice(src),
            None => self.fits = false,
        }
        self.at += src.len();
    }

    #[inline]
    fn varint(&mut self, mut n: usize) {
        while n >= 0x80 {
            self.byte((n as u8) | 0x80);
            n >>= 7;
        }
        self.byte(n as u8);
    }

    /// The string at `span` of `text`. A short one is copied as 16 bytes (a fixed-size copy,
    /// not a `memcpy` call); the bytes past its end are overwritten by what follows.
    #[inline]
    fn span(&mut self, text: &[u8], (start, end): Span) {
        let n = end.saturating_sub(start);
        self.varint(n);
        if n <= 16 {
            if let (Some(src), Some(dst)) = (
                text.get(start..start + 16),
                self.out.get_mut(self.at..self.at + 16),
            ) {
                dst.copy_from_slice(src);
                self.at += n;
                return;
            }
        }
        self.bytes(slice(text, (start, end)));
    }
}

/// Appends the row of the message `text` read by the fast path into `scan` (see
/// [`crate::scan`]) to `buf`, copying its strings straight from the message: the same bytes
/// as [`encode_event`] of [`Scan::event`].
pub(crate) fn encode_scanned(
    buf: &mut Vec<u8>,
    scan: &Scan,
    text: &[u8],
    topic: &str,
    partition: i32,
    offset: i64,
) {
    let start = buf.len();
    // Every string of the row but the topic and a default `event_name` comes from the message,
    // where quotes, a colon and a key around it take at least as many bytes as its length
    // prefix; the rest is fixed-size, plus 16 bytes for the last fixed-size copy.
    let bound = text.len() + topic.len() + 96;
    buf.resize(start + bound, 0);
    let mut w = Writer {
        out: &mut buf[start..],
        at: 0,
        fits: true,
    };
    w.span(text, scan.event_id);
    w.byte(scan.event_type as u8);
    w.span(text, scan.experiment_id);
    w.span(text, scan.variant);
    w.span(text, scan.user_id);
    match scan.event_name {
        Some(name) => w.span(text, name),
        None => {
            w.byte(8);
            w.bytes(b"exposure");
        }
    }
    match scan.event_value {
        Some(v) => {
            w.byte(0);
            w.bytes(&v.to_le_bytes());
        }
        None => w.byte(1),
    }
    w.varint(scan.pairs.len());
    for &(key, _) in &scan.pairs {
        w.span(text, key);
    }
    w.varint(scan.pairs.len());
    for &(_, value) in &scan.pairs {
        w.span(text, value);
    }
    w.bytes(&scan.timestamp_ms.to_le_bytes());
    w.varint(topic.len());
    w.bytes(topic.as_bytes());
    w.bytes(&partition.to_le_bytes());
    w.bytes(&offset.to_le_bytes());
    let (end, fits) = (start + w.at, w.fits);
    buf.truncate(end);
    if !fits {
        // Not expected (the bound holds); the plain encoder is right whatever the sizes. (A
        // message the fast path read is valid UTF-8, so nothing is replaced here.)
        buf.truncate(start);
        let text = String::from_utf8_lossy(text);
        encode_event(buf, &scan.event(&text), topic, partition, offset);
    }
}

/// Reads RowBinary written by [`encode_event`].
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn len(&mut self) -> Option<usize> {
        let mut n = 0usize;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }
    fn string(&mut self) -> Option<String> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn strings(&mut self) -> Option<Vec<String>> {
        let n = self.len()?;
        (0..n).map(|_| self.string()).collect()
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

/// Decodes one row written by [`encode_event`] (`ingested_at` is 0: it is not encoded).
pub fn decode_event(bytes: &[u8]) -> Option<EventRow> {
    let mut r = Reader(bytes);
    let event_id = r.string()?;
    let event_type = r.byte()? as i8;
    let experiment_id = r.string()?;
    let variant = r.string()?;
    let user_id = r.string()?;
    let event_name = r.string()?;
    let event_value = match r.byte()? {
        0 => Some(f64::from_le_bytes(r.array()?)),
        _ => None,
    };
    let metadata_keys = r.strings()?;
    let metadata_values = r.strings()?;
    let timestamp_ms = i64::from_le_bytes(r.array()?);
    let kafka_topic = r.string()?;
    let kafka_partition = i32::from_le_bytes(r.array()?);
    let kafka_offset = i64::from_le_bytes(r.array()?);
    r.0.is_empty().then_some(EventRow {
        event_id,
        event_type,
        experiment_id,
        variant,
        user_id,
        event_name,
        event_value,
        metadata_keys,
        metadata_values,
        timestamp_ms,
        ingested_at: 0,
        kafka_topic,
        kafka_partition,
        kafka_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse;

    #[test]
    fn rows_round_trip_and_match_the_layout() {
        let json = r#"{"event_id":"e\u00e9","event_type":"conversion","user_id":"u","event_name":"p",
            "event_value":2.5,"metadata":{"b":"2","a":"1"},"timestamp":1793613600250}"#;
        let event =
            parse(Some(json.as_bytes()), &Default::default()).unwrap_or_else(|r| panic!("{r:?}"));
        let mut buf = Vec::new();
        encode_event(&mut buf, &event, "t", 7, 300);
        let mut expected = vec![3, b'e', 0xc3, 0xa9, 2, 0, 0, 1, b'u', 1, b'p', 0];
        expected.extend_from_slice(&2.5f64.to_le_bytes());
        expected.extend_from_slice(&[2, 1, b'a', 1, b'b', 2, 1, b'1', 1, b'2']);
        expected.extend_from_slice(&1_793_613_600_250i64.to_le_bytes());
        expected.extend_from_slice(&[1, b't', 7, 0, 0, 0]);
        expected.extend_from_slice(&300i64.to_le_bytes());
        assert_eq!(buf, expected);
        let row = decode_event(&buf).expect("decodes");
        assert_eq!(row.event_id, "eé");
        assert_eq!(row.metadata_keys, ["a", "b"]);
        assert_eq!(row.event_value, Some(2.5));
        assert_eq!(
            (
                row.kafka_topic.as_str(),
                row.kafka_partition,
                row.kafka_offset
            ),
            ("t", 7, 300)
        );
        assert_eq!(decode_event(&buf[..buf.len() - 1]), None);
    }

    #[test]
    fn long_strings_get_multi_byte_lengths() {
        let mut buf = Vec::new();
        put_str(&mut buf, &"x".repeat(300));
        assert_eq!(&buf[..2], &[0xac, 0x02]);
        assert_eq!(Reader(&buf).string().map(|s| s.len()), Some(300));
    }
}
