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
    /// The decoder for struct `name`, looked for in the ABI of `file` first,
    /// then in the ABIs it depends on. `Err` says what is missing.
    pub fn new(abis: &[Abi], file: &str, name: &str) -> Result<Self, String> {
        let own = abis.iter().filter(|a| a.file == file);
        let others = abis.iter().filter(|a| a.file != file);
        let found = own.chain(others).find_map(|a| {
            let set = a.shared_set();
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

    /// The struct's size: the entry size it decodes.
    pub fn size(&self) -> usize {
        self.layout().map_or(0, |s| s.size)
    }

    /// Writes entry `index`: a line `[index]`, then one line per field,
    /// `  name = value`, a nested struct's fields indented under `  name:`.
    pub fn write_text(&self, index: usize, entry: &[u8], out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "[{index}]")?;
        let mut text = String::new();
        if let Some(s) = self.layout() {
            write_fields(&self.set.structs, s, entry, 1, &mut text).map_err(io::Error::other)?;
        }
        out.write_all(text.as_bytes())
    }

    /// Entry `entry` as a JSON object, fields in declaration order.
    pub fn json<'a>(&'a self, entry: &'a [u8]) -> impl Serialize + 'a {
        Json {
            set: &self.set.structs,
            what: What::Fields(self.layout()),
            bytes: entry,
        }
    }
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

fn write_fields(
    set: &[Struct<'static>],
    s: &Struct<'static>,
    bytes: &[u8],
    depth: usize,
    out: &mut String,
) -> fmt::Result {
    let pad = depth * 2;
    for f in s.fields.iter() {
        let b = field_bytes(f, bytes);
        match &f.ty {
            Ty::Struct(r) => {
                writeln!(out, "{:pad$}{}:", "", f.name)?;
                if let Some(inner) = r.resolve(set) {
                    write_fields(set, inner, b, depth + 1, out)?;
                }
            }
            ty => {
                write!(out, "{:pad$}{} = ", "", f.name)?;
                write_inline(set, ty, b, out)?;
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// The size of one element of an array of `elem`, from the model (at
/// least 1, so chunking always advances).
fn elem_size(set: &[Struct<'static>], elem: &Ty<'static>) -> usize {
    elem.size(set).unwrap_or(1).max(1)
}

/// A value on one line: `12`, `0x1000`, `"name"`, `[1, 2]`, `{a = 1, b = 2}`.
fn write_inline(
    set: &[Struct<'static>],
    ty: &Ty<'static>,
    bytes: &[u8],
    out: &mut String,
) -> fmt::Result {
    match ty {
        Ty::Prim(p) => match read(*p, bytes) {
            Some(n) => write!(out, "{n}"),
            None => out.write_str("?"),
        },
        Ty::Ptr(_) => match read(Prim::PhysAddr, bytes) {
            Some(n) => write!(out, "{n}"),
            None => out.write_str("?"),
        },
        // Its elements are past the struct's bytes.
        Ty::Flex(_) => out.write_str("[]"),
        Ty::Array(..) if ty.is_char_array() => write!(out, "\"{}\"", string(bytes, true)),
        Ty::Array(elem, _) => {
            out.push('[');
            for (i, chunk) in bytes.chunks_exact(elem_size(set, elem.get())).enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_inline(set, elem.get(), chunk, out)?;
            }
            out.push(']');
            Ok(())
        }
        Ty::Struct(r) => {
            out.push('{');
            if let Some(s) = r.resolve(set) {
                for (i, f) in s.fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write!(out, "{} = ", f.name)?;
                    write_inline(set, &f.ty, field_bytes(f, bytes), out)?;
                }
            }
            out.push('}');
            Ok(())
        }
    }
}

#[derive(Clone, Copy)]
enum What<'a> {
    Fields(Option<&'a Struct<'static>>),
    One(&'a Ty<'static>),
}

/// JSON: integers as numbers, physical addresses as `"0x.."` strings (as
/// elsewhere in kho-abi's JSON), `char[N]` as a string, arrays as arrays,
/// structs as objects with their fields in order.
struct Json<'a> {
    set: &'a [Struct<'static>],
    what: What<'a>,
    bytes: &'a [u8],
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let st: Option<&Struct<'static>> = match self.what {
            What::Fields(st) => st,
            What::One(Ty::Struct(r)) => r.resolve(self.set),
            What::One(Ty::Prim(p)) => {
                return match read(*p, self.bytes) {
                    Some(Num::Unsigned(n)) => s.serialize_u64(n),
                    Some(Num::Signed(n)) => s.serialize_i64(n),
                    Some(Num::Addr(a)) => s.collect_str(&format_args!("{a:#x}")),
                    None => s.serialize_none(),
                }
            }
            What::One(Ty::Ptr(_)) => {
                return match read(Prim::PhysAddr, self.bytes) {
                    Some(Num::Addr(a)) => s.collect_str(&format_args!("{a:#x}")),
                    _ => s.serialize_none(),
                }
            }
            What::One(Ty::Flex(_)) => return s.serialize_seq(Some(0))?.end(),
            What::One(ty @ Ty::Array(elem, _)) => {
                if ty.is_char_array() {
                    return s.serialize_str(&string(self.bytes, false));
                }
                let chunks = self.bytes.chunks_exact(elem_size(self.set, elem.get()));
                let mut seq = s.serialize_seq(Some(chunks.len()))?;
                for chunk in chunks {
                    seq.serialize_element(&Json {
                        set: self.set,
                        what: What::One(elem.get()),
                        bytes: chunk,
                    })?;
                }
                return seq.end();
            }
        };
        let fields = st.map_or(&[][..], |st| st.fields.as_slice());
        let mut map = s.serialize_map(Some(fields.len()))?;
        for f in fields {
            map.serialize_entry(
                f.name.as_str(),
                &Json {
                    set: self.set,
                    what: What::One(&f.ty),
                    bytes: field_bytes(f, self.bytes),
                },
            )?;
        }
        map.end()
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
        Decoder::new(&abis, "t.toml", "outer").unwrap()
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
        let err = Decoder::new(&abis, "t.toml", "nope").unwrap_err();
        assert!(err.contains("it declares: inner, outer"), "{err}");
    }
}
