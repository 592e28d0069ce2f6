//! Entries decoded field by field with a schema's layout (`inspect
//! --schema FILE --struct NAME`).
//!
//! The layout is the schema compiler's, in the layout model: each field's
//! offset, size and type, nested structs followed by index. Integers are read in native byte order, as the kernel
//! that wrote them left them.

use std::fmt::{self, Write as _};
use std::io::{self, Write};

use std::sync::Arc;

use kho_schema::{Abi, Prim, Struct, StructSet, Ty};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// How to decode one entry: a struct of the layout model, found once by
/// name; nested structs are followed through the set it was compiled in.
#[derive(Debug)]
pub struct Decoder {
    set: Arc<StructSet>,
    index: usize,
}

impl Decoder {
    /// The decoder for struct `name` laid out for `page` (the image's page
    /// size: a length may depend on it), looked for in the ABI of `file`
    /// first, then in the ABIs it depends on. `Err` says what is missing.
    pub fn new(abis: &[Abi], file: &str, name: &str, page: usize) -> Result<Self, String> {
        let own = abis.iter().filter(|a| a.file == file);
        let others = abis.iter().filter(|a| a.file != file);
        let found = own.chain(others).find_map(|a| {
            let set = a.shared_set_at(page);
            let index = set
                .structs
                .iter()
                .zip(&set.notes)
                .position(|(s, n)| s.name == name && n.abi == a.name)?;
            Some(Decoder { set, index })
        });
        found.ok_or_else(|| {
            let known: Vec<&str> = abis
                .iter()
                .filter(|a| a.file == file)
                .flat_map(|a| a.structs().iter().map(|s| s.name.as_str()))
                .collect();
            format!(
                "invalid value '{name}' for '--struct <NAME>': {file} declares no such struct \
                 (it declares: {})",
                known.join(", ")
            )
        })
    }

    fn layout(&self) -> Option<&Struct<'static>> {
        self.set.structs.get(self.index)
    }

    /// The struct's name.
    pub fn name(&self) -> &str {
        self.layout().map_or("", |s| s.name.as_str())
    }

    /// The struct's size: the entry size it decodes (without the elements
    /// of a flexible array member, which follow it).
    pub fn size(&self) -> usize {
        self.layout().map_or(0, |s| s.size)
    }

    /// Whether the struct ends in a flexible array member, whose elements
    /// an entry larger than the struct holds after it.
    pub fn has_flex(&self) -> bool {
        self.layout()
            .and_then(|s| s.fields.last())
            .is_some_and(|f| f.ty.is_flex())
    }

    fn value(&self, entry: &[u8]) -> Value {
        match self.layout() {
            Some(s) => struct_value(&self.set, s, entry),
            None => Value::Fields(Vec::new()),
        }
    }

    /// Writes entry `index`: a line `[index]`, then one line per field,
    /// `  name = value`, a nested struct's (or union's) fields indented under
    /// `  name:`.
    pub fn write_text(&self, index: usize, entry: &[u8], out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "[{index}]")?;
        let mut text = String::new();
        if let Value::Fields(fields) = self.value(entry) {
            write_fields(&fields, 1, &mut text).map_err(io::Error::other)?;
        }
        out.write_all(text.as_bytes())
    }

    /// Entry `entry` as a JSON object, fields in declaration order.
    pub fn json(&self, entry: &[u8]) -> impl Serialize {
        self.value(entry)
    }
}

/// A decoded value: what text and JSON are both written from. Its size is
/// bounded by the bytes decoded (each value reads at least one byte, or is
/// a struct of such values, nested at most `kho_layout::MAX_NESTING` deep).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Num(Num),
    /// A `char[N]`, escaped.
    Str(String),
    List(Vec<Value>),
    /// A flexible array's elements, and how many the count field said
    /// when fewer fit in the bytes.
    Flex(Vec<Value>, Option<u64>),
    /// A struct's or union's fields (a union: every member, decoded from
    /// the same bytes).
    Fields(Vec<(String, Value)>),
    /// Bytes the entry does not hold.
    Missing,
}

/// The bytes of `f` in `bytes`: its offset and size are inside the struct,
/// which is as long as the entry, so this is never short; an empty slice
/// stands in if it were.
fn field_bytes<'a>(f: &kho_schema::Field, bytes: &'a [u8]) -> &'a [u8] {
    f.offset
        .checked_add(f.size)
        .and_then(|end| bytes.get(f.offset..end))
        .unwrap_or(&[])
}

/// A primitive's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Unsigned(u64),
    Signed(i64),
    Addr(u64),
}

fn read(p: Prim, bytes: &[u8]) -> Option<Num> {
    let b = bytes.get(..p.size())?;
    Some(match p {
        Prim::U8 | Prim::Char => Num::Unsigned(u64::from(u8::from_ne_bytes(b.try_into().ok()?))),
        Prim::U16 => Num::Unsigned(u64::from(u16::from_ne_bytes(b.try_into().ok()?))),
        Prim::U32 => Num::Unsigned(u64::from(u32::from_ne_bytes(b.try_into().ok()?))),
        Prim::U64 => Num::Unsigned(u64::from_ne_bytes(b.try_into().ok()?)),
        Prim::I8 => Num::Signed(i64::from(i8::from_ne_bytes(b.try_into().ok()?))),
        Prim::I16 => Num::Signed(i64::from(i16::from_ne_bytes(b.try_into().ok()?))),
        Prim::I32 => Num::Signed(i64::from(i32::from_ne_bytes(b.try_into().ok()?))),
        Prim::I64 => Num::Signed(i64::from_ne_bytes(b.try_into().ok()?)),
        Prim::PhysAddr => Num::Addr(u64::from_ne_bytes(b.try_into().ok()?)),
    })
}

/// Bit field `bits` of the storage unit `unit` (at most 8 bytes, read as
/// a little-endian integer: bit 0 is its least significant bit, as on the
/// kernel's little-endian targets), sign-extended for a signed type.
fn read_bits(p: Prim, unit: &[u8], first: u16, width: u16) -> Option<Num> {
    if unit.is_empty() || unit.len() > 8 {
        return None;
    }
    let mut word = [0u8; 8];
    word.get_mut(..unit.len())?.copy_from_slice(unit);
    let word = u64::from_le_bytes(word);
    let (first, width) = (u32::from(first), u32::from(width));
    if width == 0 || first.checked_add(width)? > 64 {
        return None;
    }
    let raw = word.checked_shr(first).unwrap_or(0);
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let v = raw & mask;
    Some(if p.signed() {
        let shift = 64 - width;
        Num::Signed(((v << shift) as i64) >> shift)
    } else {
        Num::Unsigned(v)
    })
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Unsigned(n) => write!(f, "{n}"),
            Num::Signed(n) => write!(f, "{n}"),
            Num::Addr(a) => write!(f, "{a:#x}"),
        }
    }
}

/// A `char[N]`: the bytes up to the first NUL, printable characters as
/// they are, `\` and (when `quote`) `"` escaped, other characters as
/// `\n`, `\t`, `\r` or `\u{..}`, and bytes that are not UTF-8 as `\xNN`.
fn string(bytes: &[u8], quote: bool) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut out = String::new();
    for chunk in bytes.get(..end).unwrap_or(bytes).utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' if quote => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// The count of flexible array field `flex` of `s`: the value of the
/// integer field the schema names (in the set's note), if any.
fn flex_count(
    set: &StructSet,
    s: &Struct<'static>,
    fields: &[(String, Value)],
    flex: usize,
) -> Option<u64> {
    let note = set
        .notes
        .iter()
        .zip(&set.structs)
        .find_map(|(n, t)| (std::ptr::eq(t, s)).then_some(n))?;
    let name = note_count(note, flex)?;
    fields
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| match v {
            Value::Num(Num::Unsigned(n)) => Some(*n),
            Value::Num(Num::Signed(n)) => u64::try_from(*n).ok(),
            _ => None,
        })
}

/// The count field the schema names for field `i` of the struct `note`
/// is about.
fn note_count(note: &kho_schema::Note, i: usize) -> Option<&str> {
    note.field_counts.get(i).and_then(|c| c.as_deref())
}

/// Struct (or union) `s` decoded from `bytes`: the struct's bytes, then,
/// for a flexible array member, its elements.
fn struct_value(set: &StructSet, s: &Struct<'static>, bytes: &[u8]) -> Value {
    let mut fields: Vec<(String, Value)> = Vec::with_capacity(s.fields.len());
    for (i, f) in s.fields.iter().enumerate() {
        let v = match (&f.ty, f.bits) {
            (Ty::Prim(p), Some(b)) => read_bits(*p, field_bytes(f, bytes), b.first, b.width)
                .map_or(Value::Missing, Value::Num),
            (Ty::Flex(elem), _) => {
                let count = flex_count(set, s, &fields, i);
                flex_value(set, elem.get(), bytes.get(f.offset..).unwrap_or(&[]), count)
            }
            (ty, _) => value(set, ty, field_bytes(f, bytes)),
        };
        fields.push((f.name.as_str().to_string(), v));
    }
    Value::Fields(fields)
}

/// The elements of a flexible array in `bytes` (what follows the fixed
/// part): `count` of them, or as many whole ones as fit when there is no
/// count; never past the bytes.
fn flex_value(set: &StructSet, elem: &Ty<'static>, bytes: &[u8], count: Option<u64>) -> Value {
    let size = elem_size(&set.structs, elem);
    let fit = bytes.len() / size;
    let n = count.map_or(fit, |c| usize::try_from(c).unwrap_or(usize::MAX).min(fit));
    let items = bytes
        .chunks_exact(size)
        .take(n)
        .map(|chunk| value(set, elem, chunk))
        .collect();
    let short = count.filter(|&c| usize::try_from(c).map_or(true, |c| c > fit));
    Value::Flex(items, short)
}

/// The size of one element of an array of `elem`, from the model (at
/// least 1, so chunking always advances).
fn elem_size(set: &[Struct<'static>], elem: &Ty<'static>) -> usize {
    elem.size(set).unwrap_or(1).max(1)
}

fn value(set: &StructSet, ty: &Ty<'static>, bytes: &[u8]) -> Value {
    match ty {
        Ty::Prim(p) => read(*p, bytes).map_or(Value::Missing, Value::Num),
        Ty::Ptr(_) => read(Prim::PhysAddr, bytes).map_or(Value::Missing, Value::Num),
        Ty::Array(..) if ty.is_char_array() => Value::Str(string(bytes, false)),
        Ty::Array(elem, _) => Value::List(
            bytes
                .chunks_exact(elem_size(&set.structs, elem.get()))
                .map(|chunk| value(set, elem.get(), chunk))
                .collect(),
        ),
        // Inside an array or a struct, a flexible array has no bytes.
        Ty::Flex(_) => Value::Flex(Vec::new(), None),
        Ty::Struct(r) => match r.resolve(&set.structs) {
            Some(s) => struct_value(set, s, bytes),
            None => Value::Missing,
        },
    }
}

fn write_fields(fields: &[(String, Value)], depth: usize, out: &mut String) -> fmt::Result {
    let pad = depth * 2;
    for (name, v) in fields {
        match v {
            Value::Fields(inner) => {
                writeln!(out, "{:pad$}{name}:", "")?;
                write_fields(inner, depth + 1, out)?;
            }
            v => {
                write!(out, "{:pad$}{name} = ", "")?;
                write_inline(v, out)?;
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// A value on one line: `12`, `0x1000`, `"name"`, `[1, 2]`, `{a = 1, b = 2}`;
/// a flexible array cut short by the bytes says how many its count said.
fn write_inline(v: &Value, out: &mut String) -> fmt::Result {
    match v {
        Value::Num(n) => write!(out, "{n}"),
        Value::Str(s) => {
            out.push('"');
            out.push_str(&s.replace('"', "\\\""));
            out.push('"');
            Ok(())
        }
        Value::List(items) | Value::Flex(items, _) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_inline(item, out)?;
            }
            out.push(']');
            if let Value::Flex(items, Some(count)) = v {
                write!(out, " ({count} by its count, {} in the bytes)", items.len())?;
            }
            Ok(())
        }
        Value::Fields(fields) => {
            out.push('{');
            for (i, (name, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write!(out, "{name} = ")?;
                write_inline(v, out)?;
            }
            out.push('}');
            Ok(())
        }
        Value::Missing => out.write_str("?"),
    }
}

/// JSON: integers as numbers, physical addresses (and KHOSER pointers) as
/// `"0x.."` strings (as elsewhere in kho-abi's JSON), `char[N]` as a
/// string, arrays (flexible ones too) as arrays, structs and unions as
/// objects with their fields in order.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Num(Num::Unsigned(n)) => s.serialize_u64(*n),
            Value::Num(Num::Signed(n)) => s.serialize_i64(*n),
            Value::Num(Num::Addr(a)) => s.collect_str(&format_args!("{a:#x}")),
            Value::Str(text) => s.serialize_str(text),
            Value::List(items) | Value::Flex(items, _) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Fields(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (name, v) in fields {
                    map.serialize_entry(name, v)?;
                }
                map.end()
            }
            Value::Missing => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"
[abi]
name = "t"
version = 1

[[struct]]
name = "inner"
fields = [
    { name = "a", type = "u16" },
    { name = "b", type = "i8" },
]

[[struct]]
name = "outer"
fields = [
    { name = "name", type = "char[6]" },
    { name = "at", type = "phys_addr" },
    { name = "small", type = "i32[2]" },
    { name = "pair", type = "inner[2]" },
    { name = "one", type = "inner" },
]
"#;

    fn decoder() -> Decoder {
        let abis = kho_schema::compile(&[kho_schema::Source::new("t.toml", SCHEMA)]).unwrap();
        Decoder::new(&abis, "t.toml", "outer", 4096).unwrap()
    }

    fn entry() -> Vec<u8> {
        let mut e = Vec::new();
        e.extend_from_slice(b"a\"\n\xff\0z");
        e.extend_from_slice(&0x1000u64.to_ne_bytes());
        e.extend_from_slice(&(-5i32).to_ne_bytes());
        e.extend_from_slice(&7i32.to_ne_bytes());
        for (a, b) in [(1u16, -1i8), (2, 2), (3, 3)] {
            e.extend_from_slice(&a.to_ne_bytes());
            e.extend_from_slice(&b.to_ne_bytes());
        }
        e
    }

    #[test]
    fn text_shows_every_kind_of_field() {
        let d = decoder();
        assert_eq!(d.size(), 6 + 8 + 8 + 6 + 3);
        let mut out = Vec::new();
        d.write_text(3, &entry(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[3]\n  name = \"a\\\"\\n\\xff\"\n  at = 0x1000\n  small = [-5, 7]\n  \
             pair = [{a = 1, b = -1}, {a = 2, b = 2}]\n  one:\n    a = 3\n    b = 3\n"
        );
    }

    #[test]
    fn json_keeps_field_order() {
        let d = decoder();
        let e = entry();
        let text = serde_json::to_string(&d.json(&e)).unwrap();
        assert_eq!(
            text,
            r#"{"name":"a\"\\n\\xff","at":"0x1000","small":[-5,7],"pair":[{"a":1,"b":-1},{"a":2,"b":2}],"one":{"a":3,"b":3}}"#
        );
    }

    #[test]
    fn unknown_struct_lists_the_known_ones() {
        let abis = kho_schema::compile(&[kho_schema::Source::new("t.toml", SCHEMA)]).unwrap();
        let err = Decoder::new(&abis, "t.toml", "nope", 4096).unwrap_err();
        assert!(err.contains("it declares: inner, outer"), "{err}");
    }

    /// `struct s { u64 pfn:52; s64 delta:12 (signed); khoser_ptr<inner>
    /// first; union u { u64 phys; u32 lo; } both; u32 n; u32 devices[]; }`,
    /// laid out by hand (as the schema compiler will).
    fn constructs() -> Decoder {
        use kho_layout::{Bits, Field, Kind, Node, Str};
        let text = "[abi]\nname = \"t\"\nversion = 1\n\
            [[struct]]\nname = \"u\"\nfields = [{ name = \"phys\", type = \"u64\" }, { name = \"lo\", type = \"u32\" }]\n\
            [[struct]]\nname = \"s\"\nfields = [{ name = \"x\", type = \"u\" }, { name = \"y\", type = \"u64\" }]\n";
        let mut abis = kho_schema::compile(&[kho_schema::Source::new("t.toml", text)]).unwrap();
        let u = abis[0].struct_mut(0).unwrap();
        u.kind = Kind::Union;
        u.packed = false;
        u.align = 8;
        u.size = 8;
        u.fields = vec![
            Field::new("phys", 0, 8, Ty::Prim(Prim::U64)),
            Field::new("lo", 0, 4, Ty::Prim(Prim::U32)),
        ]
        .into();
        let s = abis[0].struct_mut(1).unwrap();
        let union_ty = s.fields[0].ty.clone();
        s.fields = vec![
            Field {
                bits: Some(Bits {
                    first: 0,
                    width: 52,
                }),
                ..Field::new("pfn", 0, 8, Ty::Prim(Prim::U64))
            },
            Field {
                bits: Some(Bits {
                    first: 52,
                    width: 12,
                }),
                ..Field::new("delta", 0, 8, Ty::Prim(Prim::I64))
            },
            Field::new("first", 8, 8, Ty::Ptr(Str::Ref("u"))),
            Field::new("both", 16, 8, union_ty),
            Field::new("n", 24, 4, Ty::Prim(Prim::U32)),
            Field::new(
                "devices",
                28,
                0,
                Ty::Flex(Node::Owned(Box::new(Ty::Prim(Prim::U32)))),
            ),
        ]
        .into();
        s.size = 32;
        s.align = 8;
        s.packed = false;
        Decoder::new(&abis, "t.toml", "s", 4096).unwrap()
    }

    fn constructs_entry(extra: &[u32]) -> Vec<u8> {
        let mut e = Vec::new();
        // pfn = 0x12345, delta = -3 (12 bits: 0xffd).
        let unit: u64 = 0x12345 | (0xffd << 52);
        e.extend_from_slice(&unit.to_le_bytes());
        e.extend_from_slice(&0x20_0000u64.to_ne_bytes());
        e.extend_from_slice(&0x1_0000_0002u64.to_ne_bytes());
        e.extend_from_slice(&(extra.len() as u32).to_ne_bytes());
        e.extend_from_slice(&[0; 4]);
        for x in extra {
            e.extend_from_slice(&x.to_ne_bytes());
        }
        e
    }

    #[test]
    fn bit_fields_unions_pointers_and_flexible_arrays_decode() {
        let d = constructs();
        assert!(d.has_flex());
        let mut out = Vec::new();
        d.write_text(0, &constructs_entry(&[7, 8]), &mut out)
            .unwrap();
        // Without a count field (the schema names none here), the elements
        // are the whole ones the bytes after the struct hold: the 4 bytes of
        // tail padding and the two elements.
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                "[0]\n  pfn = 74565\n  delta = -3\n  first = 0x200000\n  both:\n    \
                 phys = 4294967298\n    lo = 2\n  n = 2\n  devices = [0, 7, 8]\n"
            ),
            "{text}"
        );
        let e = constructs_entry(&[]);
        let json = serde_json::to_string(&d.json(&e)).unwrap();
        assert_eq!(
            json,
            r#"{"pfn":74565,"delta":-3,"first":"0x200000","both":{"phys":4294967298,"lo":2},"n":0,"devices":[0]}"#
        );
    }

    #[test]
    fn a_flexible_array_never_reads_past_the_bytes() {
        let set = StructSet::default();
        let v = flex_value(
            &set,
            &Ty::Prim(Prim::U32),
            &[1, 0, 0, 0, 2, 0, 0, 0, 9],
            Some(1_000_000),
        );
        let mut out = String::new();
        write_inline(&v, &mut out).unwrap();
        assert_eq!(out, "[1, 2] (1000000 by its count, 2 in the bytes)");
        let v = flex_value(
            &set,
            &Ty::Prim(Prim::U32),
            &[1, 0, 0, 0, 2, 0, 0, 0],
            Some(1),
        );
        assert_eq!(v, Value::Flex(vec![Value::Num(Num::Unsigned(1))], None));
    }

    #[test]
    fn bits_read_from_the_least_significant_bit() {
        let unit = 0xabcu64 << 52 | 5;
        let b = unit.to_le_bytes();
        assert_eq!(read_bits(Prim::U64, &b, 52, 12), Some(Num::Unsigned(0xabc)));
        assert_eq!(read_bits(Prim::U64, &b, 0, 52), Some(Num::Unsigned(5)));
        assert_eq!(
            read_bits(Prim::I64, &b, 52, 12),
            Some(Num::Signed(0xabc - 0x1000))
        );
        assert_eq!(
            read_bits(Prim::U8, &[0b1010_0000], 5, 3),
            Some(Num::Unsigned(0b101))
        );
        assert_eq!(read_bits(Prim::U64, &b, 60, 8), None);
        assert_eq!(read_bits(Prim::U64, &[], 0, 1), None);
        assert_eq!(read_bits(Prim::U64, &b, 0, 64), Some(Num::Unsigned(unit)));
    }
}
