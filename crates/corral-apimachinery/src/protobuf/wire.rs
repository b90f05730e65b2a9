//! The protobuf wire format, read by hand: varints, field keys,
//! length-delimited payloads, fixed32/fixed64, and skipping of fields the
//! schema does not know (groups included). Every read is bounds-checked and
//! returns an error instead of panicking.

use super::ProtobufError;

/// Wire types (the low three bits of a field key).
pub(crate) const VARINT: u8 = 0;
pub(crate) const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const START_GROUP: u8 = 3;
pub(crate) const END_GROUP: u8 = 4;
pub(crate) const FIXED32: u8 = 5;

/// How deeply unknown groups may nest before the input is rejected.
const MAX_GROUP_DEPTH: usize = 64;

/// A cursor over one message's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// A base-128 varint of at most ten bytes.
    pub(crate) fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(ProtobufError::Truncated);
            };
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(ProtobufError::Invalid("varint overflows 64 bits".into()));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Invalid("varint longer than 10 bytes".into()))
    }

    /// A field key: (field number, wire type).
    pub(crate) fn key(&mut self) -> Result<(u32, u8), ProtobufError> {
        let key = self.varint()?;
        let wire = (key & 7) as u8;
        let num = key >> 3;
        if num == 0 || num > u64::from(u32::MAX >> 3) {
            return Err(ProtobufError::Invalid(format!(
                "illegal field number {num}"
            )));
        }
        Ok((num as u32, wire))
    }

    /// `n` raw bytes.
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self.pos.checked_add(n).ok_or(ProtobufError::Truncated)?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or(ProtobufError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    /// A length-delimited payload.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], ProtobufError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| ProtobufError::Truncated)?;
        self.take(len)
    }

    /// Skips the value of a field of wire type `wire` whose key was just read.
    pub(crate) fn skip(&mut self, num: u32, wire: u8) -> Result<(), ProtobufError> {
        self.skip_nested(num, wire, 0)
    }

    fn skip_nested(&mut self, num: u32, wire: u8, depth: usize) -> Result<(), ProtobufError> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.take(4).map(drop),
            START_GROUP => {
                if depth >= MAX_GROUP_DEPTH {
                    return Err(ProtobufError::Invalid("groups nested too deeply".into()));
                }
                loop {
                    let (inner, inner_wire) = self.key()?;
                    if inner_wire == END_GROUP {
                        if inner != num {
                            return Err(ProtobufError::Invalid(format!(
                                "group {num} closed by end-group {inner}"
                            )));
                        }
                        return Ok(());
                    }
                    self.skip_nested(inner, inner_wire, depth + 1)?;
                }
            }
            END_GROUP => Err(ProtobufError::Invalid(format!(
                "unexpected end-group for field {num}"
            ))),
            other => Err(ProtobufError::Invalid(format!(
                "illegal wire type {other} for field {num}"
            ))),
        }
    }
}
