//! The byte layouts of the embedded store's tables.
//!
//! * A key's record (table `kv`): `create_revision`, `mod_revision` and `version` as
//!   little-endian `i64`s, then the value's bytes.
//! * A revision's entry in the change log (table `log`): its events one after the other. A put
//!   is `0u8`, the key (`u32` length, bytes), `create_revision` and `version` (`i64`), the value
//!   (`u32` length, bytes); a delete is `1u8` and the key. The revision itself is the entry's key
//!   and is every event's `mod_revision`.
//!
//! All integers are little-endian. A change of layout needs a migration: the file outlives
//! the binary that wrote it.

use crate::{Event, KeyValue, Revision, StoreError};

const HEADER: usize = 24;
const PUT: u8 = 0;
const DELETE: u8 = 1;

/// The metadata stored in front of a key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: i64,
}

pub(crate) fn encode_record(meta: Meta, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + value.len());
    out.extend_from_slice(&meta.create_revision.to_le_bytes());
    out.extend_from_slice(&meta.mod_revision.to_le_bytes());
    out.extend_from_slice(&meta.version.to_le_bytes());
    out.extend_from_slice(value);
    out
}

/// Splits a stored record into its metadata and its value.
pub(crate) fn decode_record(record: &[u8]) -> Result<(Meta, &[u8]), StoreError> {
    if record.len() < HEADER {
        return Err(corrupt("short key record"));
    }
    let meta = Meta {
        create_revision: i64_at(record, 0),
        mod_revision: i64_at(record, 8),
        version: i64_at(record, 16),
    };
    Ok((meta, &record[HEADER..]))
}

pub(crate) fn decode_kv(key: &[u8], record: &[u8]) -> Result<KeyValue, StoreError> {
    let (meta, value) = decode_record(record)?;
    Ok(KeyValue {
        key: key.to_vec(),
        value: value.to_vec(),
        create_revision: meta.create_revision,
        mod_revision: meta.mod_revision,
        version: meta.version,
    })
}

/// Appends one event to a revision's log entry.
pub(crate) fn encode_event(out: &mut Vec<u8>, event: &Event) {
    match event {
        Event::Put(kv) => {
            out.push(PUT);
            put_bytes(out, &kv.key);
            out.extend_from_slice(&kv.create_revision.to_le_bytes());
            out.extend_from_slice(&kv.version.to_le_bytes());
            put_bytes(out, &kv.value);
        }
        Event::Delete { key, .. } => {
            out.push(DELETE);
            put_bytes(out, key);
        }
    }
}

/// Decodes the events of the log entry of `revision`, keeping those whose key starts with
/// `prefix`.
pub(crate) fn decode_events(
    revision: Revision,
    mut entry: &[u8],
    prefix: &[u8],
) -> Result<Vec<Event>, StoreError> {
    let mut events = Vec::new();
    while let Some((&tag, rest)) = entry.split_first() {
        entry = rest;
        let key = take_bytes(&mut entry)?;
        match tag {
            PUT => {
                let create_revision = take_i64(&mut entry)?;
                let version = take_i64(&mut entry)?;
                let value = take_bytes(&mut entry)?;
                if key.starts_with(prefix) {
                    events.push(Event::Put(KeyValue {
                        key: key.to_vec(),
                        value: value.to_vec(),
                        create_revision,
                        mod_revision: revision,
                        version,
                    }));
                }
            }
            DELETE => {
                if key.starts_with(prefix) {
                    events.push(Event::Delete {
                        key: key.to_vec(),
                        revision,
                    });
                }
            }
            _ => return Err(corrupt("unknown event tag")),
        }
    }
    Ok(events)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("keys and values are under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

fn take_bytes<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], StoreError> {
    if input.len() < 4 {
        return Err(corrupt("truncated log entry"));
    }
    let len = u32::from_le_bytes(input[..4].try_into().expect("4 bytes")) as usize;
    let rest = &input[4..];
    if rest.len() < len {
        return Err(corrupt("truncated log entry"));
    }
    let (bytes, rest) = rest.split_at(len);
    *input = rest;
    Ok(bytes)
}

fn take_i64(input: &mut &[u8]) -> Result<i64, StoreError> {
    if input.len() < 8 {
        return Err(corrupt("truncated log entry"));
    }
    let value = i64_at(input, 0);
    *input = &input[8..];
    Ok(value)
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("corrupt embedded store: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let meta = Meta {
            create_revision: 3,
            mod_revision: 9,
            version: 4,
        };
        let record = encode_record(meta, b"hello");
        let (back, value) = decode_record(&record).unwrap();
        assert_eq!(back, meta);
        assert_eq!(value, b"hello");
        assert!(decode_record(&record[..10]).is_err());
        let kv = decode_kv(b"k", &encode_record(meta, b"")).unwrap();
        assert_eq!(kv.value, b"");
        assert_eq!(kv.mod_revision, 9);
    }

    #[test]
    fn events_round_trip_and_filter() {
        let events = vec![
            Event::Put(KeyValue {
                key: b"a/1".to_vec(),
                value: b"v".to_vec(),
                create_revision: 2,
                mod_revision: 7,
                version: 3,
            }),
            Event::Delete {
                key: b"b/1".to_vec(),
                revision: 7,
            },
            Event::Put(KeyValue {
                key: b"a/2".to_vec(),
                value: Vec::new(),
                create_revision: 7,
                mod_revision: 7,
                version: 1,
            }),
        ];
        let mut entry = Vec::new();
        for event in &events {
            encode_event(&mut entry, event);
        }
        assert_eq!(decode_events(7, &entry, b"").unwrap(), events);
        assert_eq!(
            decode_events(7, &entry, b"a/").unwrap(),
            vec![events[0].clone(), events[2].clone()]
        );
        assert_eq!(
            decode_events(7, &entry, b"b").unwrap(),
            vec![events[1].clone()]
        );
        assert!(decode_events(7, &entry[..entry.len() - 1], b"").is_err());
        assert!(decode_events(7, &[9, 0, 0, 0, 0], b"").is_err());
    }
}
