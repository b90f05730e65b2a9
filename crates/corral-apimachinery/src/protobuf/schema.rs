//! The declarative description of a protobuf message: for each field its
//! number (from upstream's generated.proto), its JSON name (from the Go
//! struct's json tag), its type, and how Go's encoding/json emits it.

/// The type of a field's value.
#[derive(Clone, Copy)]
pub(crate) enum Ty {
    /// `string`: a JSON string.
    Str,
    /// `bytes`: a base64 JSON string. No supported kind has a plain bytes
    /// field yet; kept for the next ones.
    #[allow(dead_code)]
    Bytes,
    /// `int32`: a JSON number.
    I32,
    /// `int64`: a JSON number.
    I64,
    /// `bool`.
    Bool,
    /// meta/v1 `Time` ({seconds = 1, nanos = 2}): RFC 3339 to the second.
    Time,
    /// meta/v1 `MicroTime`: RFC 3339 with six fractional digits.
    MicroTime,
    /// meta/v1 `FieldsV1` ({Raw = 1}): the raw bytes are JSON, embedded.
    FieldsV1,
    /// A nested message, emitted as a JSON object.
    Msg(&'static Message),
    /// `map<string, string>`.
    StrMap,
    /// `map<string, bytes>`: values as base64 strings.
    BytesMap,
    /// `map<string, ExtraValue>` where `ExtraValue { repeated string items = 1 }`
    /// is a Go `[]string`: values as JSON arrays of strings.
    StrListMap,
    /// api/resource `Quantity { optional string string = 1 }`: a JSON
    /// string; the zero Quantity is "0".
    Quantity,
    /// `map<string, Quantity>` (a `ResourceList`): values as JSON strings.
    QuantityMap,
    /// util/intstr `IntOrString { int64 type = 1; int32 intVal = 2;
    /// string strVal = 3 }`: a JSON number (type 0) or string (type 1).
    IntOrString,
    /// An embedded Go struct (`json:",inline"`): on the wire a nested
    /// message, in JSON its fields merged into the parent object.
    Inline(&'static Message),
    /// A field upstream has but this decoder does not model: its presence
    /// fails the request instead of silently dropping data.
    Unsupported,
}

impl Ty {
    /// Whether the Go type is a struct, which `omitempty` never omits.
    pub(crate) fn is_struct(self) -> bool {
        matches!(
            self,
            Ty::Msg(_)
                | Ty::Time
                | Ty::MicroTime
                | Ty::FieldsV1
                | Ty::Quantity
                | Ty::IntOrString
                | Ty::Inline(_)
        )
    }
}

/// How Go's encoding/json emits the field, from its Go type and json tag.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emit {
    /// `json:",omitempty"` on a value: omitted when empty (structs never are).
    OmitEmpty,
    /// No `omitempty` on a value: always emitted, the zero value when absent.
    Always,
    /// A pointer with `omitempty`: emitted exactly when present on the wire.
    Pointer,
    /// A pointer without `omitempty`: null when absent on the wire.
    NullablePointer,
    /// `json:",omitzero"`: omitted when zero (creationTimestamp).
    OmitZero,
}

/// One field of a message.
pub(crate) struct Field {
    pub(crate) num: u32,
    pub(crate) json: &'static str,
    pub(crate) ty: Ty,
    pub(crate) repeated: bool,
    pub(crate) emit: Emit,
}

/// A message: its proto name (for error messages) and its fields.
pub(crate) struct Message {
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [Field],
}

impl Message {
    pub(crate) fn field(&self, num: u32) -> Option<(usize, &Field)> {
        self.fields.iter().enumerate().find(|(_, f)| f.num == num)
    }
}

const fn field(num: u32, json: &'static str, ty: Ty, repeated: bool, emit: Emit) -> Field {
    Field {
        num,
        json,
        ty,
        repeated,
        emit,
    }
}

/// A value field with `omitempty` (maps included).
pub(crate) const fn opt(num: u32, json: &'static str, ty: Ty) -> Field {
    field(num, json, ty, false, Emit::OmitEmpty)
}

/// A value field without `omitempty`.
pub(crate) const fn req(num: u32, json: &'static str, ty: Ty) -> Field {
    field(num, json, ty, false, Emit::Always)
}

/// A pointer field with `omitempty`.
pub(crate) const fn ptr(num: u32, json: &'static str, ty: Ty) -> Field {
    field(num, json, ty, false, Emit::Pointer)
}

/// A pointer field without `omitempty`.
pub(crate) const fn nullable(num: u32, json: &'static str, ty: Ty) -> Field {
    field(num, json, ty, false, Emit::NullablePointer)
}

/// A field with `omitzero`.
pub(crate) const fn omit_zero(num: u32, json: &'static str, ty: Ty) -> Field {
    field(num, json, ty, false, Emit::OmitZero)
}

/// A repeated field (Go slice) with `omitempty`.
pub(crate) const fn list(num: u32, json: &'static str, ty: Ty) -> Field {
    field(num, json, ty, true, Emit::OmitEmpty)
}

/// A repeated field without `omitempty`: null when empty, as Go's nil slice.
pub(crate) const fn list_req(num: u32, json: &'static str, ty: Ty) -> Field {
    field(num, json, ty, true, Emit::Always)
}

/// An embedded struct (`json:",inline"`).
pub(crate) const fn inline(num: u32, m: &'static Message) -> Field {
    field(num, "", Ty::Inline(m), false, Emit::OmitEmpty)
}

/// A field upstream defines that is not modeled here: decoding fails when
/// it is present.
pub(crate) const fn unsupported(num: u32, json: &'static str) -> Field {
    field(num, json, Ty::Unsupported, false, Emit::Pointer)
}

/// Shorthands for the table files.
pub(crate) const STR: Ty = Ty::Str;
pub(crate) const I32: Ty = Ty::I32;
pub(crate) const I64: Ty = Ty::I64;
pub(crate) const BOOL: Ty = Ty::Bool;
pub(crate) const TIME: Ty = Ty::Time;
pub(crate) const MICRO: Ty = Ty::MicroTime;
pub(crate) const QTY: Ty = Ty::Quantity;
pub(crate) const QTY_MAP: Ty = Ty::QuantityMap;
pub(crate) const INT_OR_STR: Ty = Ty::IntOrString;
pub(crate) const STR_MAP: Ty = Ty::StrMap;

/// A nested message type.
pub(crate) const fn msg(m: &'static Message) -> Ty {
    Ty::Msg(m)
}
