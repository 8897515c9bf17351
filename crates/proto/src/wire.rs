//! The mapping service's side of `ProgramUpdate`: the same bytes on the wire, with each
//! item's value encoded once and shared by every host it goes to. A change to a large
//! VPC's item reaches hundreds of hosts; cloning and encoding the typed value for each
//! of them cost the service a quarter of its time.

use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use prost::encoding::{self, DecodeContext, WireType};

use crate::mapping::{ItemKey, ItemValue};

/// An [`ItemValue`] encoded once (protobuf bytes), with the typed value beside it.
#[derive(Clone, Debug)]
pub struct EncodedValue {
    value: ItemValue,
    wire: Bytes,
}

impl EncodedValue {
    pub fn new(value: ItemValue) -> Self {
        let wire = Bytes::from(value.encode_to_vec());
        EncodedValue { value, wire }
    }

    pub fn value(&self) -> &ItemValue {
        &self.value
    }

    /// The value's protobuf encoding.
    pub fn wire(&self) -> &Bytes {
        &self.wire
    }
}

impl std::ops::Deref for EncodedValue {
    type Target = ItemValue;
    fn deref(&self) -> &ItemValue {
        &self.value
    }
}

/// Equal values encode to equal bytes (prost writes fields in order, defaults left out),
/// and comparing bytes is what a derived comparison of nested messages is not: cheap.
impl PartialEq for EncodedValue {
    fn eq(&self, other: &Self) -> bool {
        self.wire == other.wire
    }
}

impl Eq for EncodedValue {}

/// `ProgramUpdate` as the service sends it: wire-identical to
/// [`crate::mapping::ProgramUpdate`], which is what hosts decode.
#[derive(Clone, Debug, Default)]
pub struct EncodedUpdate {
    pub epoch: u64,
    pub base_generation: u64,
    pub generation: u64,
    pub snapshot: bool,
    /// `Item { key, value }`s, the values already encoded.
    pub put: Vec<(ItemKey, Bytes)>,
    pub delete: Vec<ItemKey>,
    /// `put` and `delete` fields already encoded (by [`EncodedUpdate::fields`]), written
    /// as they are after the others: repeated fields may come in any order and pieces, so
    /// a part that many hosts receive alike is encoded once and copied for each.
    pub encoded: Vec<Bytes>,
}

impl EncodedUpdate {
    /// The `put` and `delete` fields of an update of these items alone: a piece for
    /// [`EncodedUpdate::encoded`].
    pub fn fields(put: Vec<(ItemKey, Bytes)>, delete: Vec<ItemKey>) -> Bytes {
        let update = EncodedUpdate {
            put,
            delete,
            ..EncodedUpdate::default()
        };
        let mut out = Vec::with_capacity(update.encoded_len());
        update.encode_raw(&mut out);
        Bytes::from(out)
    }
}

// Field numbers of `ProgramUpdate` and `Item` in mapping.proto.
const EPOCH: u32 = 1;
const BASE_GENERATION: u32 = 2;
const GENERATION: u32 = 3;
const SNAPSHOT: u32 = 4;
const PUT: u32 = 5;
const DELETE: u32 = 6;
const ITEM_KEY: u32 = 1;
const ITEM_VALUE: u32 = 2;

/// The length of `Item { key, value }` (an embedded value message is, on the wire, a
/// length-delimited field like `bytes`).
fn item_len(key: &ItemKey, value: &Bytes) -> usize {
    encoding::message::encoded_len(ITEM_KEY, key) + encoding::bytes::encoded_len(ITEM_VALUE, value)
}

impl Message for EncodedUpdate {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if self.epoch != 0 {
            encoding::uint64::encode(EPOCH, &self.epoch, buf);
        }
        if self.base_generation != 0 {
            encoding::uint64::encode(BASE_GENERATION, &self.base_generation, buf);
        }
        if self.generation != 0 {
            encoding::uint64::encode(GENERATION, &self.generation, buf);
        }
        if self.snapshot {
            encoding::bool::encode(SNAPSHOT, &self.snapshot, buf);
        }
        for (key, value) in &self.put {
            encoding::encode_key(PUT, WireType::LengthDelimited, buf);
            encoding::encode_varint(item_len(key, value) as u64, buf);
            encoding::message::encode(ITEM_KEY, key, buf);
            encoding::bytes::encode(ITEM_VALUE, value, buf);
        }
        for key in &self.delete {
            encoding::message::encode(DELETE, key, buf);
        }
        for piece in &self.encoded {
            buf.put_slice(piece);
        }
    }

    /// Hosts decode [`crate::mapping::ProgramUpdate`]; the service never reads this type.
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        let scalars = [
            (self.epoch != 0).then(|| encoding::uint64::encoded_len(EPOCH, &self.epoch)),
            (self.base_generation != 0)
                .then(|| encoding::uint64::encoded_len(BASE_GENERATION, &self.base_generation)),
            (self.generation != 0)
                .then(|| encoding::uint64::encoded_len(GENERATION, &self.generation)),
            self.snapshot
                .then(|| encoding::bool::encoded_len(SNAPSHOT, &self.snapshot)),
        ];
        let put: usize = self
            .put
            .iter()
            .map(|(k, v)| {
                let len = item_len(k, v);
                encoding::key_len(PUT) + encoding::encoded_len_varint(len as u64) + len
            })
            .sum();
        scalars.into_iter().flatten().sum::<usize>()
            + put
            + encoding::message::encoded_len_repeated(DELETE, &self.delete)
            + self.encoded.iter().map(Bytes::len).sum::<usize>()
    }

    fn clear(&mut self) {
        *self = EncodedUpdate::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::item_value::Kind as V;
    use crate::mapping::{Item, Member, ProgramUpdate, V2p};
    use std::net::Ipv4Addr;

    fn typed(update: &EncodedUpdate, values: &[ItemValue]) -> ProgramUpdate {
        ProgramUpdate {
            epoch: update.epoch,
            base_generation: update.base_generation,
            generation: update.generation,
            snapshot: update.snapshot,
            put: update
                .put
                .iter()
                .zip(values)
                .map(|((k, _), v)| Item {
                    key: Some(k.clone()),
                    value: Some(v.clone()),
                })
                .collect(),
            delete: update.delete.clone(),
        }
    }

    /// What the service writes is, byte for byte, what the typed message would be, so
    /// hosts decode it as a `ProgramUpdate`.
    #[test]
    fn encoded_update_is_a_program_update_on_the_wire() {
        let values = [
            ItemValue {
                kind: Some(V::Member(Member {})),
            },
            ItemValue {
                kind: Some(V::Mapping(V2p {
                    ip: 0x0a00_0005,
                    host: 0x7f00_0002,
                    mac: vec![2, 0, 0, 0, 0, 1],
                    eni_id: "eni-1".into(),
                    source_dest_check: true,
                    ipv6: vec![],
                })),
            },
        ];
        let ip = Ipv4Addr::new(10, 0, 0, 5);
        let keys = [
            ItemKey::member("vpc-1", "sg-1", ip),
            ItemKey::mapping("vpc-1", ip),
        ];
        for (epoch, base, generation, snapshot) in [(0, 0, 0, false), (7, 300, 301, true)] {
            let update = EncodedUpdate {
                epoch,
                base_generation: base,
                generation,
                snapshot,
                put: keys
                    .iter()
                    .zip(&values)
                    .map(|(k, v)| (k.clone(), EncodedValue::new(v.clone()).wire().clone()))
                    .collect(),
                delete: vec![ItemKey::port("eni-1")],
                encoded: Vec::new(),
            };
            let want = typed(&update, &values).encode_to_vec();
            let got = update.encode_to_vec();
            assert_eq!(got.len(), update.encoded_len());
            assert_eq!(got, want);
            assert_eq!(
                ProgramUpdate::decode(got.as_slice()).unwrap(),
                typed(&update, &values)
            );
        }
        // The same update with its items in a piece encoded beforehand (and the pieces in
        // another order): decoded alike.
        let update = EncodedUpdate {
            epoch: 7,
            generation: 9,
            put: vec![(
                keys[0].clone(),
                EncodedValue::new(values[0].clone()).wire().clone(),
            )],
            encoded: vec![
                EncodedUpdate::fields(Vec::new(), vec![ItemKey::port("eni-1")]),
                EncodedUpdate::fields(
                    vec![(
                        keys[1].clone(),
                        EncodedValue::new(values[1].clone()).wire().clone(),
                    )],
                    Vec::new(),
                ),
            ],
            ..EncodedUpdate::default()
        };
        let got = update.encode_to_vec();
        assert_eq!(got.len(), update.encoded_len());
        let whole = EncodedUpdate {
            epoch: 7,
            generation: 9,
            put: keys
                .iter()
                .zip(&values)
                .map(|(k, v)| (k.clone(), EncodedValue::new(v.clone()).wire().clone()))
                .collect(),
            delete: vec![ItemKey::port("eni-1")],
            ..EncodedUpdate::default()
        };
        assert_eq!(
            ProgramUpdate::decode(got.as_slice()).unwrap(),
            typed(&whole, &values)
        );
        // equal values, equal bytes
        assert_eq!(
            EncodedValue::new(values[1].clone()),
            EncodedValue::new(values[1].clone())
        );
        assert_ne!(
            EncodedValue::new(values[0].clone()),
            EncodedValue::new(values[1].clone())
        );
    }
}
