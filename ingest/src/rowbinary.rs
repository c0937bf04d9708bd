//! RowBinary encoding of events, written straight from a parsed [`Event`] into the batch's
//! buffer (no intermediate row, no per-field allocation), and decoding back into an
//! [`EventRow`] for the rare row that ClickHouse refuses and that goes to quarantine.
//!
//! The column order is [`EVENT_COLUMNS`]; `ingested_at` is left to the server's default.
//! RowBinary: `String` is a LEB128 length and the bytes, `Enum8` one byte, `Nullable(T)` a
//! null flag byte then `T` when present, `Array(T)` a LEB128 count then the items, numbers
//! little-endian.

use crate::event::{Event, EventRow};

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
    for (key, _) in &event.metadata {
        put_str(buf, key);
    }
    put_len(buf, event.metadata.len());
    for (_, value) in &event.metadata {
        put_str(buf, value);
    }
    buf.extend_from_slice(&event.timestamp_ms.to_le_bytes());
    put_str(buf, topic);
    buf.extend_from_slice(&partition.to_le_bytes());
    buf.extend_from_slice(&offset.to_le_bytes());
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
