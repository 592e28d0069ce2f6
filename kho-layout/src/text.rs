//! The canonical text, its hash, and the lock's text: one walk of a layout
//! ([`Walk`]) feeds both the text writer and the `const` hasher, so the
//! fingerprint is the hash of the text by construction.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use crate::model::{Bits, Field, Kind, Len, List, Node, Prim, Str, Struct, StructRef, Ty};

/// Deepest nesting of structs in structs a layout may have: a struct of
/// primitives is 1 deep, one holding it 2. Far above what an ABI needs (the
/// kernel's nest 3 deep); it bounds the walk's fixed stack.
pub const MAX_NESTING: usize = 1024;

/// One line of the canonical text.
#[derive(Clone, Copy)]
enum Line<'s, 'a> {
    /// `struct <name> size <size>` at nesting `level` (0 for the top).
    Struct(usize, &'s Struct<'a>),
    /// `<field> <type> offset <o> size <s>` of a struct at `level`.
    Field(usize, &'s Field<'a>),
    /// The end of the text.
    Done,
    /// A nested struct that cannot be found in the set, or nesting past
    /// [`MAX_NESTING`] (a cycle, in a set built by hand).
    Fail,
}

/// The walk over a layout's canonical lines, without recursion or
/// allocation (a fixed stack of [`MAX_NESTING`] frames), so it runs in a
/// `const` and no nesting can overflow the call stack.
struct Walk<'s, 'a> {
    set: &'s [Struct<'a>],
    stack: [Option<(&'s Struct<'a>, usize)>; MAX_NESTING],
    len: usize,
    pending: Option<&'s Struct<'a>>,
}

impl<'s, 'a> Walk<'s, 'a> {
    const fn new(top: &'s Struct<'a>, set: &'s [Struct<'a>]) -> Self {
        Walk {
            set,
            stack: [None; MAX_NESTING],
            len: 0,
            pending: Some(top),
        }
    }

    const fn next(&mut self) -> Line<'s, 'a> {
        if let Some(s) = self.pending.take() {
            if self.len == MAX_NESTING {
                return Line::Fail;
            }
            self.stack[self.len] = Some((s, 0));
            self.len += 1;
            return Line::Struct(self.len - 1, s);
        }
        loop {
            if self.len == 0 {
                return Line::Done;
            }
            let level = self.len - 1;
            let Some((s, i)) = self.stack[level] else {
                return Line::Fail;
            };
            let fields = s.fields.as_slice();
            if i >= fields.len() {
                self.len -= 1;
                continue;
            }
            self.stack[level] = Some((s, i + 1));
            let f = &fields[i];
            if let Some(r) = f.ty.struct_ref() {
                match r.resolve(self.set) {
                    Some(nested) => self.pending = Some(nested),
                    None => return Line::Fail,
                }
            }
            return Line::Field(level, f);
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a of `text`.
pub const fn fingerprint(text: &str) -> u64 {
    fnv1a(text.as_bytes())
}

/// 64-bit FNV-1a of `bytes` (the hash behind [`fingerprint`]).
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    feed(FNV_OFFSET, bytes)
}

const fn feed(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash = (hash ^ bytes[i] as u64).wrapping_mul(FNV_PRIME);
        i += 1;
    }
    hash
}

/// The affine map `h -> a * h + b` (wrapping).
#[derive(Clone, Copy)]
struct Affine {
    a: u64,
    b: u64,
}

impl Affine {
    /// `self` after `first`.
    const fn after(self, first: Affine) -> Affine {
        Affine {
            a: self.a.wrapping_mul(first.a),
            b: self.a.wrapping_mul(first.b).wrapping_add(self.b),
        }
    }

    const fn apply(self, h: u64) -> u64 {
        self.a.wrapping_mul(h).wrapping_add(self.b)
    }
}

/// FNV-1a state `h` after `m` spaces, in time independent of `m`. Each
/// step is `h -> (h ^ 0x20) * P`; the xor adds +32 or -32 depending on bit
/// 5 alone, so a step is the affine map `h -> P*h + P*d`, with `d` decided
/// by the low 6 bits of `h`. Those evolve on their own (the low 6 bits of a
/// product depend on the low 6 bits of its factors) by a permutation, so
/// they come back to where they started within 64 steps: that cycle is one
/// affine map, repeated by squaring. The canonical text inlines nested
/// structs, deeper each level, so a chain of n nested structs has O(n^2)
/// bytes of indentation; hashing it byte by byte would take minutes for a
/// chain of 1,000.
const fn feed_spaces(h: u64, m: usize) -> u64 {
    const SHORT: usize = 128;
    if m <= SHORT {
        let mut h = h;
        let mut i = 0;
        while i < m {
            h = (h ^ 0x20).wrapping_mul(FNV_PRIME);
            i += 1;
        }
        return h;
    }
    // One cycle of the low 6 bits from where `h` starts.
    let start = h & 63;
    let mut low = start;
    let mut cycle = Affine { a: 1, b: 0 };
    let mut period = 0usize;
    loop {
        let d: u64 = if low & 0x20 == 0 {
            0x20
        } else {
            0x20u64.wrapping_neg()
        };
        let step = Affine {
            a: FNV_PRIME,
            b: d.wrapping_mul(FNV_PRIME),
        };
        cycle = step.after(cycle);
        low = ((low ^ 0x20).wrapping_mul(FNV_PRIME)) & 63;
        period += 1;
        if low == start {
            break;
        }
    }
    // `cycle` to the power m / period, by squaring.
    let mut q = m / period;
    let mut power = Affine { a: 1, b: 0 };
    let mut base = cycle;
    while q > 0 {
        if q & 1 == 1 {
            power = base.after(power);
        }
        base = base.after(base);
        q >>= 1;
    }
    let mut h = power.apply(h);
    let mut i = 0;
    while i < m % period {
        h = (h ^ 0x20).wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

const fn feed_num(hash: u64, n: usize) -> u64 {
    feed(hash, Decimal::new(n).as_bytes())
}

/// A number's decimal digits, written in a `const` (for the hash and for
/// the compile-time messages of [`crate::compare`]).
pub(crate) struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) const fn new(mut n: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { digits, start }
    }

    pub(crate) const fn as_bytes(&self) -> &[u8] {
        let (_, used) = self.digits.split_at(self.start);
        used
    }
}

const fn feed_type(mut hash: u64, ty: &Ty<'_>) -> u64 {
    hash = match ty.base() {
        Ty::Ptr(target) => feed(
            feed(feed(hash, b"khoser_ptr<"), target.as_str().as_bytes()),
            b">",
        ),
        base => feed(hash, base.base_name().as_bytes()),
    };
    let mut ty = ty;
    loop {
        match ty {
            Ty::Array(elem, n) => {
                hash = feed(feed_num(feed(hash, b"["), n.value), b"]");
                ty = elem.get();
            }
            Ty::Flex(elem) => {
                hash = feed(hash, b"[]");
                ty = elem.get();
            }
            _ => return hash,
        }
    }
}

/// Whether a struct line says its alignment: when it is not packed
/// (` align <n>`), or packed with `__aligned` (` align <n> packed`); a
/// packed struct of alignment 1 says nothing, so every layout of before
/// keeps its text and its fingerprint.
const fn shows_align(s: &Struct<'_>) -> bool {
    !s.packed || s.align != 1
}

const fn keyword(s: &Struct<'_>) -> &'static [u8] {
    match s.kind {
        Kind::Struct => b"struct ",
        Kind::Union => b"union ",
    }
}

const fn feed_line(mut hash: u64, line: Line<'_, '_>) -> u64 {
    match line {
        Line::Struct(level, s) => {
            hash = feed_spaces(hash, level * 4);
            hash = feed(hash, keyword(s));
            hash = feed(hash, s.name.as_str().as_bytes());
            hash = feed(hash, b" size ");
            hash = feed_num(hash, s.size);
            if shows_align(s) {
                hash = feed_num(feed(hash, b" align "), s.align);
                if s.packed {
                    hash = feed(hash, b" packed");
                }
            }
            feed(hash, b"\n")
        }
        Line::Field(level, f) => {
            hash = feed_spaces(hash, level * 4 + 2);
            hash = feed(feed(hash, f.name.as_str().as_bytes()), b" ");
            hash = feed(feed_type(hash, &f.ty), b" offset ");
            hash = feed(feed_num(hash, f.offset), b" size ");
            hash = feed_num(hash, f.size);
            if let Some(b) = f.bits {
                hash = feed_num(feed(hash, b" bits "), b.first as usize);
                hash = feed_num(feed(hash, b":"), b.width as usize);
            }
            feed(hash, b"\n")
        }
        Line::Done | Line::Fail => hash,
    }
}

/// [`fingerprint`] of a type as the canonical text writes it (`u64`,
/// `char[48]`, a struct's name): lets a `const` compare one field's type.
pub const fn type_fingerprint(ty: &Ty<'_>) -> u64 {
    feed_type(FNV_OFFSET, ty)
}

/// The fingerprint of `layout`, nested structs found in `set` (see
/// [`StructRef::At`]): [`fingerprint`] of its [`canonical_text_in`],
/// computed without allocating, so it works in a `const`. `None` when a
/// nested struct is not in `set` or is named only, or the nesting passes
/// [`MAX_NESTING`].
pub const fn fingerprint_in<'a>(layout: &Struct<'a>, set: &[Struct<'a>]) -> Option<u64> {
    let mut walk = Walk::new(layout, set);
    let mut hash = FNV_OFFSET;
    loop {
        match walk.next() {
            Line::Done => return Some(hash),
            Line::Fail => return None,
            line => hash = feed_line(hash, line),
        }
    }
}

/// [`fingerprint_in`] of a self-contained layout (the derive's: every
/// nested struct by [`StructRef::Ref`]).
///
/// # Panics
/// When the layout names a struct by index or by name only, or nests past
/// [`MAX_NESTING`]; in a `const`, that is a compile error.
pub const fn layout_fingerprint(layout: &Struct<'_>) -> u64 {
    match fingerprint_in(layout, &[]) {
        Some(h) => h,
        None => panic!(
            "layout_fingerprint: a nested struct is not in the layout, or the nesting is too deep"
        ),
    }
}

fn write_type(out: &mut String, ty: &Ty<'_>) {
    let _ = write!(out, "{ty}");
}

/// `struct|union <name> size <n>[ align <a>]`, without the newline.
fn write_struct_line(out: &mut String, s: &Struct<'_>) {
    let kw = match s.kind {
        Kind::Struct => "struct",
        Kind::Union => "union",
    };
    let _ = write!(out, "{kw} {} size {}", s.name, s.size);
    if shows_align(s) {
        let _ = write!(out, " align {}", s.align);
        if s.packed {
            out.push_str(" packed");
        }
    }
}

/// `<field> <type> offset <o> size <s>[ bits <first>:<width>]` and the
/// newline.
fn write_field_line(out: &mut String, f: &Field<'_>) {
    let _ = write!(out, "{} ", f.name);
    write_type(out, &f.ty);
    let _ = write!(out, " offset {} size {}", f.offset, f.size);
    if let Some(b) = f.bits {
        let _ = write!(out, " bits {}:{}", b.first, b.width);
    }
    out.push('\n');
}

/// The canonical layout text of `layout` (see the crate docs), nested
/// structs found in `set`; `None` as for [`fingerprint_in`].
pub fn canonical_text_in<'a>(layout: &Struct<'a>, set: &[Struct<'a>]) -> Option<String> {
    let mut out = String::new();
    let mut walk = Walk::new(layout, set);
    loop {
        match walk.next() {
            Line::Done => return Some(out),
            Line::Fail => return None,
            Line::Struct(level, s) => {
                let pad = level * 4;
                let _ = write!(out, "{:pad$}", "");
                write_struct_line(&mut out, s);
                out.push('\n');
            }
            Line::Field(level, f) => {
                let pad = level * 4 + 2;
                let _ = write!(out, "{:pad$}", "");
                write_field_line(&mut out, f);
            }
        }
    }
}

/// [`canonical_text_in`] of a self-contained layout.
///
/// # Panics
/// As [`layout_fingerprint`].
pub fn canonical_text(layout: &Struct<'_>) -> String {
    match canonical_text_in(layout, &[]) {
        Some(t) => t,
        None => panic!(
            "canonical_text: a nested struct is not in the layout, or the nesting is too deep"
        ),
    }
}

/// One struct of a lock text: its layout (nested structs by
/// [`StructRef::Named`] when parsed), whether it is a block-set entry, and
/// its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockStruct<'a> {
    /// The layout.
    pub layout: Struct<'a>,
    /// Whether it is a block-set entry.
    pub entry: bool,
    /// Its fingerprint (which covers its nested structs); `None` when
    /// parsed from a lock written before they were recorded.
    pub fingerprint: Option<u64>,
    /// The page size this layout is for, when the struct's layout depends
    /// on it (an array of `PAGE_SIZE / 8`): such a struct is recorded
    /// once per page size. `None` for a layout that is the same for every
    /// page size.
    pub page: Option<usize>,
}

/// What an ABI's lock text records: its constants (name and value as the
/// text writes it) and its structs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockText<'a> {
    /// `(name, value)` in order.
    pub constants: Vec<(String, String)>,
    /// Structs in order.
    pub structs: Vec<LockStruct<'a>>,
}

impl LockText<'_> {
    /// The text the ABI's fingerprint hashes (and the lock records): its
    /// constants' values, which structs are entries, and each struct's
    /// layout, one line `struct <name> size <size> fingerprint <fp>` and
    /// one line per field as in the canonical text, two spaces in. A nested
    /// struct is named by its field's type and not inlined: its layout is
    /// in the struct fingerprint of every struct that holds it, and its own
    /// lines are in its ABI's text. So the text is linear in the schema,
    /// and still changes when any nested field does.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.constants {
            let _ = writeln!(out, "const {name} = {value}");
        }
        for s in &self.structs {
            let l = &s.layout;
            if s.entry {
                let _ = writeln!(out, "entry {}", l.name);
            }
            write_struct_line(&mut out, l);
            if let Some(page) = s.page {
                let _ = write!(out, " page {page}");
            }
            if let Some(fp) = s.fingerprint {
                let _ = write!(out, " fingerprint {fp:#018x}");
            }
            out.push('\n');
            for f in l.fields.iter() {
                out.push_str("  ");
                write_field_line(&mut out, f);
            }
        }
        out
    }

    /// Parses what [`render`](Self::render) writes, line by line (no
    /// recursion, linear in the text). Lines of a nested struct inlined by
    /// the first lock format are skipped. `None` if the text is malformed.
    pub fn parse(text: &str) -> Option<LockText<'static>> {
        let mut v = LockText::default();
        let mut entries: Vec<&str> = Vec::new();
        let mut fields: Vec<Field<'static>> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("const ") {
                let (n, val) = rest.split_once(" = ")?;
                v.constants.push((n.into(), val.into()));
            } else if let Some(rest) = line.strip_prefix("entry ") {
                entries.push(rest);
            } else if let Some(struct_line) = parse_struct_line(line) {
                close(&mut v, &mut fields);
                let (layout, page, fp) = struct_line?;
                let entry = entries.contains(&layout.name.as_str());
                v.structs.push(LockStruct {
                    layout,
                    entry,
                    fingerprint: fp,
                    page,
                });
            } else if let Some(field) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) {
                v.structs.last()?;
                fields.push(parse_field_line(field)?);
            } else if line.starts_with("    ") {
                v.structs.last()?;
            } else if !line.is_empty() {
                return None;
            }
        }
        close(&mut v, &mut fields);
        Some(v)
    }
}

/// A lock text's struct line: `struct|union <name> size <n>[ align
/// <a>[ packed]][ page <p>][ fingerprint <0x..>]`. `None` when the line is not a
/// struct line; `Some(None)` when it is one but malformed.
#[allow(clippy::type_complexity)]
fn parse_struct_line(line: &str) -> Option<Option<(Struct<'static>, Option<usize>, Option<u64>)>> {
    let (kind, rest) = if let Some(rest) = line.strip_prefix("struct ") {
        (Kind::Struct, rest)
    } else if let Some(rest) = line.strip_prefix("union ") {
        (Kind::Union, rest)
    } else {
        return None;
    };
    Some((|| {
        let mut parts = rest.split(' ');
        let name = parts.next()?;
        if parts.next()? != "size" {
            return None;
        }
        let size = parse_num(parts.next()?)?;
        let mut layout = Struct::packed_owned(name.into(), size, Vec::new());
        layout.kind = kind;
        let (mut page, mut fp) = (None, None);
        let mut key = parts.next();
        if key == Some("align") {
            layout.align = parse_num(parts.next()?)?;
            key = parts.next();
            layout.packed = key == Some("packed");
            if layout.packed {
                key = parts.next();
            }
        }
        if key == Some("page") {
            page = Some(parse_num(parts.next()?)?);
            key = parts.next();
        }
        if key == Some("fingerprint") {
            let hex = parts.next()?.strip_prefix("0x")?;
            fp = Some(u64::from_str_radix(hex, 16).ok()?);
            key = parts.next();
        }
        match key {
            None => Some((layout, page, fp)),
            Some(_) => None,
        }
    })())
}

/// A field line without its indentation: `<name> <type> offset <o> size
/// <s>[ bits <first>:<width>]`.
fn parse_field_line(line: &str) -> Option<Field<'static>> {
    let parts: Vec<&str> = line.split(' ').collect();
    let (fname, ty, offset, size, bits) = match parts.as_slice() {
        [fname, ty, "offset", offset, "size", size] => (*fname, *ty, *offset, *size, None),
        [fname, ty, "offset", offset, "size", size, "bits", bits] => {
            let (first, width) = bits.split_once(':')?;
            let bits = Bits {
                first: u16::try_from(parse_num(first)?).ok()?,
                width: u16::try_from(parse_num(width)?).ok()?,
            };
            (*fname, *ty, *offset, *size, Some(bits))
        }
        _ => return None,
    };
    Some(Field {
        name: Str::Owned(fname.into()),
        offset: parse_num(offset)?,
        size: parse_num(size)?,
        ty: parse_type(ty),
        bits,
    })
}

/// A decimal number as the text writes it (no sign, no leading zeros).
fn parse_num(text: &str) -> Option<usize> {
    let n = text.parse::<usize>().ok()?;
    (alloc::format!("{n}") == text).then_some(n)
}

/// Gives the last struct parsed the fields read since.
fn close(v: &mut LockText<'static>, fields: &mut Vec<Field<'static>>) {
    if let Some(s) = v.structs.last_mut() {
        s.layout.fields = List::Owned(core::mem::take(fields));
    }
}

/// A type as the canonical text writes it: a primitive, a struct's name
/// or `khoser_ptr<name>`, then `[]` for a flexible array, then `[N]` per
/// dimension. What does not read as that is kept whole as a struct name,
/// so it prints and compares as written.
pub fn parse_type(text: &str) -> Ty<'static> {
    let whole = || Ty::Struct(StructRef::Named(Str::Owned(text.into())));
    let (base, rest) = match text.find('[') {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    if base.is_empty() {
        return whole();
    }
    let (flex, mut rest) = match rest.strip_prefix("[]") {
        Some(after) => (true, after),
        None => (false, rest),
    };
    let mut dims = Vec::new();
    while let Some(r) = rest.strip_prefix('[') {
        let Some((n, after)) = r.split_once(']') else {
            return whole();
        };
        // `0` and `+1` parse but would print differently.
        let Some(n) = parse_num(n) else {
            return whole();
        };
        dims.push(n);
        rest = after;
    }
    if !rest.is_empty() {
        return whole();
    }
    let mut ty = if let Some(p) = Prim::parse(base) {
        Ty::Prim(p)
    } else if let Some(target) = base
        .strip_prefix("khoser_ptr<")
        .and_then(|t| t.strip_suffix('>'))
        .filter(|t| !t.is_empty() && !t.contains(['<', '>']))
    {
        Ty::Ptr(Str::Owned(target.into()))
    } else {
        Ty::Struct(StructRef::Named(Str::Owned(base.into())))
    };
    while let Some(n) = dims.pop() {
        ty = Ty::Array(Node::Owned(alloc::boxed::Box::new(ty)), Len::new(n));
    }
    if flex {
        ty = Ty::Flex(Node::Owned(alloc::boxed::Box::new(ty)));
    }
    ty
}
