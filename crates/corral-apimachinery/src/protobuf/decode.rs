//! The generic, schema-driven decoder: walks one message's wire data with
//! its [`Message`] table, then builds the JSON object Go's encoding/json
//! would produce for the decoded Go struct.
//!
//! Protobuf semantics follow the gogo-generated unmarshalers upstream uses:
//! the last occurrence of a scalar wins, repeated fields append, map entries
//! insert (missing key or value reads as its zero), and repeated occurrences
//! of a nested message merge (decoded here by concatenating their payloads,
//! which the protobuf spec defines as equivalent). Unknown field numbers
//! are skipped; fields upstream defines but the tables mark unsupported
//! fail the decode.

use super::ProtobufError;
use super::schema::{Emit, Field, Message, Ty};
use super::wire::{LEN, Reader, VARINT};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// What has been read so far for one field.
enum Slot {
    /// A single scalar value (last occurrence wins).
    Scalar(Value),
    /// The elements of a repeated field.
    List(Vec<Value>),
    /// The entries of a map field.
    Map(Map<String, Value>),
    /// A nested message's payloads, concatenated (merge semantics).
    Merged(Vec<u8>),
    /// A `Time`/`MicroTime` payload: upstream's unmarshaler replaces.
    Last(Vec<u8>),
}

impl Slot {
    fn for_field(f: &Field) -> Slot {
        if f.repeated {
            return Slot::List(Vec::new());
        }
        match f.ty {
            Ty::StrMap | Ty::BytesMap | Ty::StrListMap | Ty::QuantityMap => Slot::Map(Map::new()),
            Ty::Msg(_) | Ty::FieldsV1 | Ty::Quantity | Ty::IntOrString | Ty::Inline(_) => {
                Slot::Merged(Vec::new())
            }
            Ty::Time | Ty::MicroTime => Slot::Last(Vec::new()),
            Ty::Str | Ty::Bytes | Ty::I32 | Ty::I64 | Ty::Bool | Ty::Unsupported => {
                Slot::Scalar(Value::Null)
            }
        }
    }
}

/// Decodes `buf` as message `m` into its JSON object.
pub(crate) fn decode_message(m: &Message, buf: &[u8]) -> Result<Map<String, Value>, ProtobufError> {
    let mut slots: Vec<(bool, Slot)> = m
        .fields
        .iter()
        .map(|f| (false, Slot::for_field(f)))
        .collect();
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (num, wire) = r.key()?;
        let Some((idx, f)) = m.field(num) else {
            r.skip(num, wire)?;
            continue;
        };
        let Some((present, slot)) = slots.get_mut(idx) else {
            r.skip(num, wire)?;
            continue;
        };
        read_field(m, f, wire, &mut r, slot)?;
        *present = true;
    }
    let mut out = Map::new();
    for (f, (present, slot)) in m.fields.iter().zip(slots) {
        if let Ty::Inline(inner) = f.ty {
            // An embedded struct: its fields join the parent's object.
            let fields = match slot {
                Slot::Merged(buf) if present => decode_message(inner, &buf)?,
                _ => decode_message(inner, &[])?,
            };
            out.extend(fields);
            continue;
        }
        let value = if present {
            Some(finish(f, slot)?)
        } else {
            None
        };
        if let Some(v) = emitted(f, value)? {
            out.insert(f.json.to_string(), v);
        }
    }
    Ok(out)
}

fn expect(m: &Message, f: &Field, actual: u8, expected: u8) -> Result<(), ProtobufError> {
    if actual == expected {
        Ok(())
    } else {
        Err(ProtobufError::WrongWireType {
            message: m.name,
            field: f.json,
            expected,
            actual,
        })
    }
}

fn read_field(
    m: &Message,
    f: &Field,
    wire: u8,
    r: &mut Reader<'_>,
    slot: &mut Slot,
) -> Result<(), ProtobufError> {
    if matches!(f.ty, Ty::Unsupported) {
        return Err(ProtobufError::UnsupportedField {
            message: m.name,
            field: f.json,
        });
    }
    match slot {
        Slot::List(items) => {
            let packable = matches!(f.ty, Ty::I32 | Ty::I64 | Ty::Bool);
            if packable && wire == LEN {
                let mut packed = Reader::new(r.bytes()?);
                while !packed.at_end() {
                    items.push(varint_value(f.ty, packed.varint()?));
                }
            } else {
                items.push(read_value(m, f, wire, r)?);
            }
        }
        Slot::Map(map) => {
            expect(m, f, wire, LEN)?;
            let (key, value) = read_map_entry(m, f, r.bytes()?)?;
            map.insert(key, value);
        }
        Slot::Merged(buf) => {
            expect(m, f, wire, LEN)?;
            buf.extend_from_slice(r.bytes()?);
        }
        Slot::Last(buf) => {
            expect(m, f, wire, LEN)?;
            *buf = r.bytes()?.to_vec();
        }
        Slot::Scalar(v) => *v = read_value(m, f, wire, r)?,
    }
    Ok(())
}

/// One value of field `f`'s type (a single element for repeated fields).
fn read_value(
    m: &Message,
    f: &Field,
    wire: u8,
    r: &mut Reader<'_>,
) -> Result<Value, ProtobufError> {
    match f.ty {
        Ty::I32 | Ty::I64 | Ty::Bool => {
            expect(m, f, wire, VARINT)?;
            Ok(varint_value(f.ty, r.varint()?))
        }
        Ty::Str => {
            expect(m, f, wire, LEN)?;
            Ok(Value::String(string(r.bytes()?)))
        }
        Ty::Bytes => {
            expect(m, f, wire, LEN)?;
            Ok(Value::String(STANDARD.encode(r.bytes()?)))
        }
        Ty::Msg(inner) => {
            expect(m, f, wire, LEN)?;
            Ok(Value::Object(decode_message(inner, r.bytes()?)?))
        }
        Ty::Time | Ty::MicroTime => {
            expect(m, f, wire, LEN)?;
            decode_time(f.ty, r.bytes()?)
        }
        Ty::FieldsV1 => {
            expect(m, f, wire, LEN)?;
            decode_fields_v1(r.bytes()?)
        }
        Ty::Quantity => {
            expect(m, f, wire, LEN)?;
            decode_quantity(r.bytes()?)
        }
        Ty::IntOrString => {
            expect(m, f, wire, LEN)?;
            decode_int_or_string(r.bytes()?)
        }
        Ty::Inline(inner) => {
            expect(m, f, wire, LEN)?;
            Ok(Value::Object(decode_message(inner, r.bytes()?)?))
        }
        Ty::Unsupported => Err(ProtobufError::UnsupportedField {
            message: m.name,
            field: f.json,
        }),
        Ty::StrMap | Ty::BytesMap | Ty::StrListMap | Ty::QuantityMap => {
            expect(m, f, wire, LEN)?;
            let (key, value) = read_map_entry(m, f, r.bytes()?)?;
            let mut map = Map::new();
            map.insert(key, value);
            Ok(Value::Object(map))
        }
    }
}

/// A varint as Go's generated code stores it: int32 keeps the low 32 bits.
fn varint_value(ty: Ty, v: u64) -> Value {
    match ty {
        Ty::Bool => Value::Bool(v != 0),
        Ty::I32 => Value::from(v as u32 as i32),
        _ => Value::from(v as i64),
    }
}

/// Go converts bytes to string without validation; encoding/json then
/// writes invalid UTF-8 as U+FFFD, as the lossy conversion does.
fn string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A map entry message {key = 1, value = 2}; absent parts are Go's zero
/// values (upstream's unmarshalers start from "", `[]byte{}` and
/// `&ExtraValue{}`).
fn read_map_entry(m: &Message, f: &Field, entry: &[u8]) -> Result<(String, Value), ProtobufError> {
    let mut key = String::new();
    let mut value = match f.ty {
        Ty::StrListMap => Value::Array(Vec::new()),
        Ty::QuantityMap => Value::String("0".into()),
        _ => Value::String(String::new()),
    };
    let mut r = Reader::new(entry);
    while !r.at_end() {
        let (num, wire) = r.key()?;
        match num {
            1 => {
                expect(m, f, wire, LEN)?;
                key = string(r.bytes()?);
            }
            2 => {
                expect(m, f, wire, LEN)?;
                let bytes = r.bytes()?;
                value = match f.ty {
                    Ty::BytesMap => Value::String(STANDARD.encode(bytes)),
                    Ty::StrListMap => Value::Array(string_items(bytes)?),
                    Ty::QuantityMap => decode_quantity(bytes)?,
                    _ => Value::String(string(bytes)),
                };
            }
            _ => r.skip(num, wire)?,
        }
    }
    Ok((key, value))
}

/// `ExtraValue { repeated string items = 1 }` as its Go `[]string`.
fn string_items(buf: &[u8]) -> Result<Vec<Value>, ProtobufError> {
    let mut items = Vec::new();
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (num, wire) = r.key()?;
        if num == 1 {
            if wire != LEN {
                return Err(ProtobufError::WrongWireType {
                    message: "ExtraValue",
                    field: "items",
                    expected: LEN,
                    actual: wire,
                });
            }
            items.push(Value::String(string(r.bytes()?)));
        } else {
            r.skip(num, wire)?;
        }
    }
    Ok(items)
}

/// Converts what was read for `f` into its JSON value.
fn finish(f: &Field, slot: Slot) -> Result<Value, ProtobufError> {
    Ok(match slot {
        Slot::Scalar(v) => v,
        Slot::List(items) => Value::Array(items),
        Slot::Map(map) => Value::Object(map),
        Slot::Merged(buf) => match f.ty {
            Ty::Msg(inner) | Ty::Inline(inner) => Value::Object(decode_message(inner, &buf)?),
            Ty::Quantity => decode_quantity(&buf)?,
            Ty::IntOrString => decode_int_or_string(&buf)?,
            _ => decode_fields_v1(&buf)?,
        },
        Slot::Last(buf) => decode_time(f.ty, &buf)?,
    })
}

/// Applies Go's encoding/json rules: `value` is the decoded value when the
/// field was on the wire.
fn emitted(f: &Field, value: Option<Value>) -> Result<Option<Value>, ProtobufError> {
    let is_struct = f.ty.is_struct() && !f.repeated;
    Ok(match (f.emit, value) {
        (Emit::Pointer, v) => v,
        (Emit::NullablePointer, v) => Some(v.unwrap_or(Value::Null)),
        (Emit::OmitZero, v) => v.filter(|v| !v.is_null()),
        (Emit::Always, Some(v)) => Some(v),
        (Emit::Always, None) => Some(zero(f)?),
        (Emit::OmitEmpty, Some(v)) => (is_struct || !is_empty(&v)).then_some(v),
        (Emit::OmitEmpty, None) if is_struct => Some(zero(f)?),
        (Emit::OmitEmpty, None) => None,
    })
}

/// Go's zero value for the field's type, as JSON.
fn zero(f: &Field) -> Result<Value, ProtobufError> {
    if f.repeated {
        return Ok(Value::Null);
    }
    Ok(match f.ty {
        Ty::Str => Value::String(String::new()),
        Ty::I32 | Ty::I64 => Value::from(0),
        Ty::Bool => Value::Bool(false),
        Ty::Msg(inner) | Ty::Inline(inner) => Value::Object(decode_message(inner, &[])?),
        Ty::Quantity => Value::String("0".into()),
        Ty::IntOrString => Value::from(0),
        Ty::Bytes | Ty::Time | Ty::MicroTime | Ty::FieldsV1 | Ty::Unsupported => Value::Null,
        Ty::StrMap | Ty::BytesMap | Ty::StrListMap | Ty::QuantityMap => Value::Null,
    })
}

/// What `omitempty` omits among non-struct values.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// meta/v1 `FieldsV1 { bytes Raw = 1 }`: the JSON it holds, embedded.
fn decode_fields_v1(buf: &[u8]) -> Result<Value, ProtobufError> {
    let mut raw: Option<&[u8]> = None;
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (num, wire) = r.key()?;
        if num == 1 {
            if wire != LEN {
                return Err(ProtobufError::WrongWireType {
                    message: "FieldsV1",
                    field: "Raw",
                    expected: LEN,
                    actual: wire,
                });
            }
            raw = Some(r.bytes()?);
        } else {
            r.skip(num, wire)?;
        }
    }
    match raw {
        None | Some([]) => Ok(Value::Null),
        Some(raw) => serde_json::from_slice(raw)
            .map_err(|e| ProtobufError::Invalid(format!("fieldsV1 does not hold JSON: {e}"))),
    }
}

/// api/resource `Quantity { optional string string = 1 }`: the string, as
/// Go's Quantity marshals it back to JSON (the zero Quantity is "0").
/// Canonicalization and validation of the value are left to the JSON path.
fn decode_quantity(buf: &[u8]) -> Result<Value, ProtobufError> {
    let mut value = None;
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (num, wire) = r.key()?;
        if num == 1 {
            if wire != LEN {
                return Err(ProtobufError::WrongWireType {
                    message: "Quantity",
                    field: "string",
                    expected: LEN,
                    actual: wire,
                });
            }
            value = Some(string(r.bytes()?));
        } else {
            r.skip(num, wire)?;
        }
    }
    Ok(Value::String(value.unwrap_or_else(|| "0".into())))
}

/// util/intstr `IntOrString { int64 type = 1; int32 intVal = 2; string
/// strVal = 3 }`: a JSON number for type 0 (Int), a string for type 1
/// (String); Go's MarshalJSON fails on any other type.
fn decode_int_or_string(buf: &[u8]) -> Result<Value, ProtobufError> {
    let (mut kind, mut int_val, mut str_val) = (0i64, 0i32, String::new());
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (num, wire) = r.key()?;
        let (field, expected) = match num {
            1 => ("type", VARINT),
            2 => ("intVal", VARINT),
            3 => ("strVal", LEN),
            _ => {
                r.skip(num, wire)?;
                continue;
            }
        };
        if wire != expected {
            return Err(ProtobufError::WrongWireType {
                message: "IntOrString",
                field,
                expected,
                actual: wire,
            });
        }
        match num {
            1 => kind = r.varint()? as i64,
            2 => int_val = r.varint()? as u32 as i32,
            _ => str_val = string(r.bytes()?),
        }
    }
    match kind {
        0 => Ok(Value::from(int_val)),
        1 => Ok(Value::String(str_val)),
        other => Err(ProtobufError::Invalid(format!(
            "impossible IntOrString.Type {other}"
        ))),
    }
}

/// Unix seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z).
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// meta/v1 `Time`/`MicroTime` ({int64 seconds = 1, int32 nanos = 2}); an
/// empty payload or Go's zero time is JSON null, as upstream marshals it.
fn decode_time(ty: Ty, buf: &[u8]) -> Result<Value, ProtobufError> {
    if buf.is_empty() {
        return Ok(Value::Null);
    }
    let (mut seconds, mut nanos) = (0i64, 0i32);
    let mut r = Reader::new(buf);
    while !r.at_end() {
        let (num, wire) = r.key()?;
        match num {
            1 | 2 if wire != VARINT => {
                return Err(ProtobufError::WrongWireType {
                    message: "Time",
                    field: if num == 1 { "seconds" } else { "nanos" },
                    expected: VARINT,
                    actual: wire,
                });
            }
            1 => seconds = r.varint()? as i64,
            2 => nanos = r.varint()? as u32 as i32,
            _ => r.skip(num, wire)?,
        }
    }
    // time.Unix normalizes nanoseconds outside [0, 1e9) into the seconds.
    let nanos = i64::from(nanos);
    let seconds = seconds
        .checked_add(nanos.div_euclid(1_000_000_000))
        .ok_or_else(|| ProtobufError::Invalid("timestamp out of range".into()))?;
    let nanos = nanos.rem_euclid(1_000_000_000);
    if seconds == GO_ZERO_TIME_UNIX && nanos == 0 {
        return Ok(Value::Null);
    }
    Ok(Value::String(format_rfc3339(
        seconds,
        nanos,
        matches!(ty, Ty::MicroTime),
    )))
}

/// RFC 3339 in UTC as Go formats it: "2006-01-02T15:04:05Z", or with
/// `micro` ".000000" (truncated) before the "Z".
fn format_rfc3339(seconds: i64, nanos: i64, micro: bool) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let year = if year < 0 {
        format!("-{:04}", -year)
    } else {
        format!("{year:04}")
    };
    let frac = if micro {
        format!(".{:06}", nanos / 1000)
    } else {
        String::new()
    };
    format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{frac}Z")
}

/// The proleptic Gregorian (year, month, day) of a day count from
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formatting() {
        assert_eq!(format_rfc3339(0, 0, false), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339(1_700_000_000, 123_456_789, true),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            format_rfc3339(951_782_400, 0, false),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            format_rfc3339(-1, 999_999_999, true),
            "1969-12-31T23:59:59.999999Z"
        );
        assert_eq!(
            format_rfc3339(GO_ZERO_TIME_UNIX + 1, 0, false),
            "0001-01-01T00:00:01Z"
        );
        assert_eq!(
            format_rfc3339(253_402_300_799, 0, false),
            "9999-12-31T23:59:59Z"
        );
    }
}
