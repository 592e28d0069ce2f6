//! Comparing two layouts in a `const`: the check behind
//! `#[kho(same_layout_as = Other)]`.
//!
//! The derive cannot read the other type (it sees tokens, not types), so it
//! emits `const`s that the compiler evaluates: [`first_difference`] finds
//! the first thing that differs, and [`explain`] writes the message, both
//! without allocating. Each field's `const` panics only when the first
//! difference is at that field, so the one error points at it.

use crate::{layout_fingerprint, Struct, StructRef, Ty};

/// The first difference between two layouts, in the order a reader meets
/// them: the struct's name, kind (struct or union) and alignment (with
/// `packed`), then each field's name, offset, size, type and bits, then a
/// field one side has and the other does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difference {
    /// The layouts are the same.
    Same,
    /// The structs' ABI names differ.
    StructName,
    /// One is a struct, the other a union.
    StructKind,
    /// The alignments differ, or one is packed and the other not.
    StructAlign,
    /// Field `.0` has another name on the other side.
    FieldName(usize),
    /// Field `.0` is at another offset on the other side.
    FieldOffset(usize),
    /// Field `.0` has another size on the other side.
    FieldSize(usize),
    /// Field `.0` has another type on the other side (same size: `i64`
    /// for `u64`, a pointer to another struct, a flexible array of another
    /// element, or a nested struct whose own layout differs).
    FieldType(usize),
    /// Field `.0` is a bit field with other bits on the other side, or a
    /// bit field on one side only.
    FieldBits(usize),
    /// The first layout has field `.0`; the other ends before it.
    Extra(usize),
    /// The other layout has field `.0`; the first ends before it.
    Missing(usize),
    /// Every field matches but the total sizes differ (a hand-written
    /// layout with trailing bytes).
    StructSize,
}

impl Difference {
    /// Whether the difference is reported at field `index` of the first
    /// layout (a field that differs, or one the other layout lacks).
    pub const fn is_at_field(self, index: usize) -> bool {
        match self {
            Difference::FieldName(i)
            | Difference::FieldOffset(i)
            | Difference::FieldSize(i)
            | Difference::FieldType(i)
            | Difference::FieldBits(i)
            | Difference::Extra(i) => i == index,
            _ => false,
        }
    }

    /// Whether the difference is not at any field of the first layout: the
    /// struct's name, kind, alignment or size, or a field only the other
    /// layout has.
    pub const fn is_at_struct(self) -> bool {
        matches!(
            self,
            Difference::StructName
                | Difference::StructKind
                | Difference::StructAlign
                | Difference::Missing(_)
                | Difference::StructSize
        )
    }
}

/// `a == b` for `&str`, in a `const`.
pub const fn str_eq(a: &str, b: &str) -> bool {
    crate::model::eq_bytes(a.as_bytes(), b.as_bytes())
}

/// Whether two field types are the same: the same primitive, arrays of the
/// same length of the same type, flexible arrays of the same type, KHOSER
/// pointers to the same struct (by name: a pointer does not hold its
/// target's layout), or structs with the same layout (compared by
/// fingerprint, which covers the name and every nested field; by name when
/// a struct is known only by name or index, as in a lock text).
pub const fn same_type(a: &Ty<'_>, b: &Ty<'_>) -> bool {
    match (a, b) {
        (Ty::Prim(a), Ty::Prim(b)) => *a as u8 == *b as u8,
        (Ty::Array(a, n), Ty::Array(b, m)) => n.value == m.value && same_type(a.get(), b.get()),
        (Ty::Flex(a), Ty::Flex(b)) => same_type(a.get(), b.get()),
        (Ty::Ptr(a), Ty::Ptr(b)) => str_eq(a.as_str(), b.as_str()),
        (Ty::Struct(a), Ty::Struct(b)) => match (a, b) {
            (StructRef::Ref(a), StructRef::Ref(b)) => {
                layout_fingerprint(a) == layout_fingerprint(b)
            }
            _ => str_eq(a.name(), b.name()),
        },
        _ => false,
    }
}

/// The first difference between `ours` and `theirs` (see [`Difference`]).
pub const fn first_difference(ours: &Struct<'_>, theirs: &Struct<'_>) -> Difference {
    if !str_eq(ours.name.as_str(), theirs.name.as_str()) {
        return Difference::StructName;
    }
    if ours.kind as u8 != theirs.kind as u8 {
        return Difference::StructKind;
    }
    if ours.align != theirs.align || ours.packed != theirs.packed {
        return Difference::StructAlign;
    }
    let (a_fields, b_fields) = (ours.fields.as_slice(), theirs.fields.as_slice());
    let mut i = 0;
    while i < a_fields.len() && i < b_fields.len() {
        let (a, b) = (&a_fields[i], &b_fields[i]);
        if !str_eq(a.name.as_str(), b.name.as_str()) {
            return Difference::FieldName(i);
        }
        if a.offset != b.offset {
            return Difference::FieldOffset(i);
        }
        if a.size != b.size {
            return Difference::FieldSize(i);
        }
        if !same_type(&a.ty, &b.ty) {
            return Difference::FieldType(i);
        }
        let same_bits = match (a.bits, b.bits) {
            (None, None) => true,
            (Some(x), Some(y)) => x.first == y.first && x.width == y.width,
            _ => false,
        };
        if !same_bits {
            return Difference::FieldBits(i);
        }
        i += 1;
    }
    if i < a_fields.len() {
        return Difference::Extra(i);
    }
    if i < b_fields.len() {
        return Difference::Missing(i);
    }
    if ours.size != theirs.size {
        return Difference::StructSize;
    }
    Difference::Same
}

/// Room for one message; longer names are cut at a whole piece and marked
/// with `...`, so the text stays valid UTF-8.
const MESSAGE_CAPACITY: usize = 400;

/// A compile-time message: [`explain`]'s output, shown with
/// `panic!("{}", message.as_str())` in a `const`.
#[derive(Debug, Clone, Copy)]
pub struct Message {
    buf: [u8; MESSAGE_CAPACITY],
    len: usize,
    full: bool,
}

impl Message {
    const fn new() -> Self {
        Message {
            buf: [0; MESSAGE_CAPACITY],
            len: 0,
            full: false,
        }
    }

    /// The text.
    pub const fn as_str(&self) -> &str {
        let (text, _) = self.buf.split_at(self.len);
        match core::str::from_utf8(text) {
            Ok(s) => s,
            // Unreachable: only whole `&str`s are ever appended.
            Err(_) => "layouts differ",
        }
    }

    const fn push(mut self, s: &str) -> Self {
        let bytes = s.as_bytes();
        if self.full {
            return self;
        }
        if self.len + bytes.len() + 3 > MESSAGE_CAPACITY {
            self.full = true;
            return self.push_raw(b"...");
        }
        self.push_raw(bytes)
    }

    const fn push_raw(mut self, bytes: &[u8]) -> Self {
        let mut i = 0;
        while i < bytes.len() && self.len < MESSAGE_CAPACITY {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    const fn num(self, n: usize) -> Self {
        let digits = crate::text::Decimal::new(n);
        match core::str::from_utf8(digits.as_bytes()) {
            Ok(s) => self.push(s),
            Err(_) => self,
        }
    }

    /// The type as the canonical text writes it: `u64`, `u8[2][3]`,
    /// `khoser_ptr<chunk>`, `pci_dev_ser[]`.
    const fn ty(mut self, ty: &Ty<'_>) -> Self {
        match ty {
            Ty::Ptr(to) => return self.push("khoser_ptr<").push(to.as_str()).push(">"),
            Ty::Flex(elem) => return self.ty(elem.get()).push("[]"),
            _ => {}
        }
        self = self.push(ty.base_name());
        let mut ty = ty;
        while let Ty::Array(elem, n) = ty {
            self = self.push("[").num(n.value).push("]");
            ty = elem.get();
        }
        self
    }

    /// `` `name` (u64 at offset 48) ``
    const fn field_summary(self, s: &Struct<'_>, i: usize) -> Self {
        let f = &s.fields.as_slice()[i];
        self.push("`")
            .push(f.name.as_str())
            .push("` (")
            .ty(&f.ty)
            .push(" at offset ")
            .num(f.offset)
            .push(")")
    }

    /// `bits 0:52`, or `no bits`.
    const fn bits(self, bits: Option<crate::Bits>) -> Self {
        match bits {
            Some(b) => self
                .push("bits ")
                .num(b.first as usize)
                .push(":")
                .num(b.width as usize),
            None => self.push("not a bit field"),
        }
    }

    /// `struct, align 8` / `union, packed`.
    const fn shape(self, s: &Struct<'_>) -> Self {
        let m = self.push(match s.kind {
            crate::Kind::Struct => "a struct",
            crate::Kind::Union => "a union",
        });
        if s.packed {
            m.push(", packed, align ").num(s.align)
        } else {
            m.push(", align ").num(s.align)
        }
    }
}

/// Why `ours` is not the layout of `theirs`, the type named `theirs_name`
/// (as the user wrote it), for difference `d` from [`first_difference`] of
/// the same two layouts.
pub const fn explain(
    ours: &Struct<'_>,
    theirs: &Struct<'_>,
    theirs_name: &str,
    d: Difference,
) -> Message {
    let m = Message::new();
    // `d` must come from these two layouts; anything else gets a plain
    // message rather than an out-of-range index.
    let in_range = match d {
        Difference::FieldName(i)
        | Difference::FieldOffset(i)
        | Difference::FieldSize(i)
        | Difference::FieldType(i)
        | Difference::FieldBits(i) => {
            i < ours.fields.as_slice().len() && i < theirs.fields.as_slice().len()
        }
        Difference::Extra(i) => i < ours.fields.as_slice().len(),
        Difference::Missing(i) => i < theirs.fields.as_slice().len(),
        _ => true,
    };
    if !in_range {
        return m.push("the layouts differ");
    }
    let field = ours.fields.as_slice();
    let other = theirs.fields.as_slice();
    match d {
        Difference::Same => m.push("the layouts are the same"),
        Difference::StructName => m
            .push("this struct's ABI name is `")
            .push(ours.name.as_str())
            .push("`, but `")
            .push(theirs_name)
            .push("` is named `")
            .push(theirs.name.as_str())
            .push("`: rename it or add #[kho(name = \"")
            .push(theirs.name.as_str())
            .push("\")]"),
        Difference::StructKind | Difference::StructAlign => m
            .push("this struct is ")
            .shape(ours)
            .push(", but `")
            .push(theirs_name)
            .push("` is ")
            .shape(theirs),
        Difference::FieldBits(i) => m
            .push("field `")
            .push(field[i].name.as_str())
            .push("` differs from `")
            .push(theirs_name)
            .push("`: ")
            .bits(field[i].bits)
            .push(" here and ")
            .bits(other[i].bits)
            .push(" there"),
        Difference::FieldName(i) => m
            .push("field `")
            .push(field[i].name.as_str())
            .push("` differs from `")
            .push(theirs_name)
            .push("`: it has ")
            .field_summary(theirs, i)
            .push(" here"),
        Difference::FieldOffset(i) => m
            .push("field `")
            .push(field[i].name.as_str())
            .push("` differs from `")
            .push(theirs_name)
            .push("`: it is at offset ")
            .num(field[i].offset)
            .push(" here and at offset ")
            .num(other[i].offset)
            .push(" there"),
        Difference::FieldSize(i) => m
            .push("field `")
            .push(field[i].name.as_str())
            .push("` differs from `")
            .push(theirs_name)
            .push("`: it is ")
            .num(field[i].size)
            .push(" bytes here and ")
            .num(other[i].size)
            .push(" there"),
        Difference::FieldType(i) => m
            .push("field `")
            .push(field[i].name.as_str())
            .push("` differs from `")
            .push(theirs_name)
            .push("`: its type is ")
            .ty(&field[i].ty)
            .push(" here and ")
            .ty(&other[i].ty)
            .push(" there"),
        Difference::Extra(i) => m
            .push("field `")
            .push(field[i].name.as_str())
            .push("` is not in `")
            .push(theirs_name)
            .push("`, which ends before it"),
        Difference::Missing(i) => m
            .push("missing field ")
            .field_summary(theirs, i)
            .push(" that `")
            .push(theirs_name)
            .push("` has"),
        Difference::StructSize => m
            .push("`")
            .push(theirs_name)
            .push("` is ")
            .num(theirs.size)
            .push(" bytes, this struct ")
            .num(ours.size),
    }
}

/// Why compatible string `ours` is not `theirs`, that of the type named
/// `theirs_name`.
pub const fn explain_compatible(ours: &str, theirs: &str, theirs_name: &str) -> Message {
    Message::new()
        .push("compatible string \"")
        .push(ours)
        .push("\" differs from `")
        .push(theirs_name)
        .push("`'s, \"")
        .push(theirs)
        .push("\"")
}

/// Where [`crate::place::place_into`] puts one member: offset, size, bits.
pub type Placement = (usize, usize, Option<crate::Bits>);

const fn same_bits(a: Option<crate::Bits>, b: Option<crate::Bits>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.first == y.first && x.width == y.width,
        _ => false,
    }
}

/// The first field of `layout` (a layout the compiler placed, as the
/// derive writes it) that is not where C's rules put it (`placed`, one per
/// field), if any: the derive's proof that a `#[repr(C)]` struct with bit
/// fields is the kernel's.
pub const fn first_misplaced(layout: &Struct<'_>, placed: &[Placement]) -> Option<usize> {
    let fields = layout.fields.as_slice();
    let mut i = 0;
    while i < fields.len() {
        if i >= placed.len() {
            return Some(i);
        }
        let (offset, size, bits) = placed[i];
        let f = &fields[i];
        if f.offset != offset || f.size != size || !same_bits(f.bits, bits) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Why field `i` of `layout` is not at `placed[i]`, C's place for it.
pub const fn explain_misplaced(layout: &Struct<'_>, placed: &[Placement], i: usize) -> Message {
    let fields = layout.fields.as_slice();
    let m = Message::new();
    if i >= fields.len() || i >= placed.len() {
        return m.push("a field is not where C puts it");
    }
    let f = &fields[i];
    let (offset, size, bits) = placed[i];
    let m = m
        .push("field `")
        .push(f.name.as_str())
        .push("` is not where C puts it: C places it at offset ")
        .num(offset)
        .push(" size ")
        .num(size)
        .push(", ")
        .bits(bits)
        .push("; here it is at offset ")
        .num(f.offset)
        .push(" size ")
        .num(f.size)
        .push(", ")
        .bits(f.bits);
    if bits.is_some() || f.bits.is_some() {
        m.push(
            " (C starts a bit field at the next free bit, inside the unit before it when it \
             fits: declare the bits that share a unit in one #[kho(bits(..))] storage field)",
        )
    } else {
        m
    }
}

/// Why `layout` (as the compiler placed it) is not `size` bytes aligned to
/// `align`, as C's rules give.
pub const fn explain_size(layout: &Struct<'_>, size: usize, align: usize) -> Message {
    Message::new()
        .push("`")
        .push(layout.name.as_str())
        .push("` is not C's layout: C gives size ")
        .num(size)
        .push(" align ")
        .num(align)
        .push(", here it is size ")
        .num(layout.size)
        .push(" align ")
        .num(layout.align)
}

/// Why C's rules refuse `layout`'s members.
pub const fn explain_place_error(layout: &Struct<'_>, e: crate::place::PlaceError) -> Message {
    use crate::place::PlaceError;
    let fields = layout.fields.as_slice();
    let mut m = Message::new();
    if let Some(i) = e.index() {
        if i < fields.len() {
            m = m.push("field `").push(fields[i].name.as_str()).push("`: ");
        }
    }
    match e {
        PlaceError::Overflow => m.push("the size overflows"),
        PlaceError::BadAlign { align, .. } => m
            .push("alignment ")
            .num(align)
            .push(" is not a power of two"),
        PlaceError::BitWidth { width, max, .. } => m
            .push("a bit field ")
            .num(width as usize)
            .push(" bits wide does not fit its ")
            .num(max)
            .push("-bit type"),
        PlaceError::BitType { size, .. } => m
            .push("a bit field's type must be an integer of 1, 2, 4 or 8 bytes, not ")
            .num(size),
        PlaceError::Straddle { bit, .. } => m.push("at bit ").num(bit).push(
            " of a packed struct, no storage unit of its type holds it whole inside the struct",
        ),
        PlaceError::FlexNotLast { .. } => {
            m.push("a flexible array member must be the last member of a struct")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Field, Len, Node, Prim};
    use alloc::string::String;

    const U64: Ty<'static> = Ty::Prim(Prim::U64);
    const I64: Ty<'static> = Ty::Prim(Prim::I64);
    const CHAR: Ty<'static> = Ty::Prim(Prim::Char);
    const NAME48: Ty<'static> = Ty::Array(Node::Ref(&CHAR), Len::new(48));
    const NAME40: Ty<'static> = Ty::Array(Node::Ref(&CHAR), Len::new(40));

    const fn f(name: &'static str, offset: usize, size: usize, ty: Ty<'static>) -> Field<'static> {
        Field::new(name, offset, size, ty)
    }

    const FILE_FIELDS: &[Field<'static>] = &[
        f("name", 0, 48, NAME48),
        f("data", 48, 8, U64),
        f("token", 56, 8, U64),
    ];
    const FILE: &Struct<'static> = &Struct::packed("luo_file_ser", 64, FILE_FIELDS);

    fn diff(fields: &'static [Field<'static>], size: usize) -> (Difference, String) {
        let ours = Struct::packed("luo_file_ser", size, fields);
        let d = first_difference(&ours, FILE);
        (
            d,
            explain(&ours, FILE, "luo::LuoFileSer", d).as_str().into(),
        )
    }

    #[test]
    fn each_difference_is_found_first_and_explained() {
        assert_eq!(first_difference(FILE, FILE), Difference::Same);
        let (d, m) = diff(
            const {
                &[
                    f("name", 0, 48, NAME48),
                    f("cookie", 48, 8, U64),
                    f("token", 56, 8, U64),
                ]
            },
            64,
        );
        assert_eq!(d, Difference::FieldName(1));
        assert_eq!(
            m,
            "field `cookie` differs from `luo::LuoFileSer`: it has `data` (u64 at offset 48) here"
        );
        let (d, m) = diff(
            const {
                &[
                    f("name", 0, 40, NAME40),
                    f("data", 40, 8, U64),
                    f("token", 48, 8, U64),
                ]
            },
            56,
        );
        assert_eq!(d, Difference::FieldSize(0));
        assert_eq!(
            m,
            "field `name` differs from `luo::LuoFileSer`: it is 40 bytes here and 48 there"
        );
        let (d, m) = diff(
            const {
                &[
                    f("name", 0, 48, NAME48),
                    f("data", 48, 8, I64),
                    f("token", 56, 8, U64),
                ]
            },
            64,
        );
        assert_eq!(d, Difference::FieldType(1));
        assert_eq!(
            m,
            "field `data` differs from `luo::LuoFileSer`: its type is i64 here and u64 there"
        );
        let (d, m) = diff(
            const { &[f("name", 0, 48, NAME48), f("data", 48, 8, U64)] },
            56,
        );
        assert_eq!(d, Difference::Missing(2));
        assert!(d.is_at_struct() && !d.is_at_field(2));
        assert_eq!(
            m,
            "missing field `token` (u64 at offset 56) that `luo::LuoFileSer` has"
        );
        let (d, m) = diff(
            const {
                &[
                    f("name", 0, 48, NAME48),
                    f("data", 48, 8, U64),
                    f("token", 56, 8, U64),
                    f("flags", 64, 8, U64),
                ]
            },
            72,
        );
        assert_eq!(d, Difference::Extra(3));
        assert!(d.is_at_field(3));
        assert_eq!(
            m,
            "field `flags` is not in `luo::LuoFileSer`, which ends before it"
        );
        let (d, _) = diff(FILE_FIELDS, 65);
        assert_eq!(d, Difference::StructSize);
        let renamed = Struct::packed("luo_file", 64, FILE_FIELDS);
        let d = first_difference(&renamed, FILE);
        assert_eq!(d, Difference::StructName);
        assert_eq!(
            explain(&renamed, FILE, "F", d).as_str(),
            "this struct's ABI name is `luo_file`, but `F` is named `luo_file_ser`: rename it or add #[kho(name = \"luo_file_ser\")]"
        );
        assert_eq!(
            explain_compatible("a-v1", "b-v2", "B").as_str(),
            "compatible string \"a-v1\" differs from `B`'s, \"b-v2\""
        );
        // A difference that is not of these layouts gets a plain message,
        // not an index out of range.
        assert_eq!(
            explain(FILE, FILE, "F", Difference::FieldName(9)).as_str(),
            "the layouts differ"
        );
    }

    #[test]
    fn nested_structs_compare_by_their_whole_layout() {
        const A_FIELDS: &[Field<'static>] = &[f("x", 0, 8, U64)];
        const B_FIELDS: &[Field<'static>] = &[f("x", 0, 8, I64)];
        const A: &Struct<'static> = &Struct::packed("inner", 8, A_FIELDS);
        const B: &Struct<'static> = &Struct::packed("inner", 8, B_FIELDS);
        assert!(same_type(
            &Ty::Struct(StructRef::Ref(A)),
            &Ty::Struct(StructRef::Ref(A))
        ));
        assert!(!same_type(
            &Ty::Struct(StructRef::Ref(A)),
            &Ty::Struct(StructRef::Ref(B))
        ));
        assert!(!same_type(
            &Ty::Array(Node::Ref(&U64), Len::new(2)),
            &Ty::Array(Node::Ref(&U64), Len::new(3))
        ));
    }

    #[test]
    fn kind_alignment_bits_pointers_and_flex_are_compared() {
        use crate::Kind;
        const BITS52: &[Field<'static>] = &[
            Field::bit_field("pfn", 0, 8, U64, 0, 52),
            Field::bit_field("flags", 0, 8, U64, 52, 12),
        ];
        const BITS51: &[Field<'static>] = &[
            Field::bit_field("pfn", 0, 8, U64, 0, 51),
            Field::bit_field("flags", 0, 8, U64, 51, 13),
        ];
        let a = Struct::packed("folio", 8, BITS52);
        let b = Struct::packed("folio", 8, BITS51);
        let d = first_difference(&b, &a);
        assert_eq!(d, Difference::FieldBits(0));
        assert!(d.is_at_field(0));
        assert_eq!(
            explain(&b, &a, "F", d).as_str(),
            "field `pfn` differs from `F`: bits 0:51 here and bits 0:52 there"
        );
        // The same fields, not packed: alignment 8.
        let aligned = Struct {
            align: 8,
            packed: false,
            ..Struct::packed("folio", 8, BITS52)
        };
        let d = first_difference(&a, &aligned);
        assert_eq!(d, Difference::StructAlign);
        assert!(d.is_at_struct());
        assert_eq!(
            explain(&a, &aligned, "F", d).as_str(),
            "this struct is a struct, packed, align 1, but `F` is a struct, align 8"
        );
        let union = Struct {
            kind: Kind::Union,
            ..Struct::packed("folio", 8, BITS52)
        };
        assert_eq!(first_difference(&a, &union), Difference::StructKind);
        // A pointer's target and a flexible array's element are the type.
        assert!(same_type(&Ty::Ptr("a".into()), &Ty::Ptr("a".into())));
        assert!(!same_type(&Ty::Ptr("a".into()), &Ty::Ptr("b".into())));
        assert!(!same_type(&Ty::Ptr("a".into()), &U64));
        assert!(same_type(
            &Ty::Flex(Node::Ref(&U64)),
            &Ty::Flex(Node::Ref(&U64))
        ));
        assert!(!same_type(
            &Ty::Flex(Node::Ref(&U64)),
            &Ty::Flex(Node::Ref(&I64))
        ));
        assert!(!same_type(
            &Ty::Flex(Node::Ref(&U64)),
            &Ty::Array(Node::Ref(&U64), Len::new(0))
        ));
    }

    #[test]
    fn placement_differences_are_explained() {
        use crate::place::{place, Member};
        use crate::Kind;
        // struct { u8 a; u64 b:4; }: C puts b in the unit at offset 0.
        const FIELDS: &[Field<'static>] = &[
            f("a", 0, 1, Ty::Prim(Prim::U8)),
            Field::bit_field("b", 8, 8, U64, 0, 4),
        ];
        let ours = Struct {
            align: 8,
            packed: false,
            ..Struct::packed("e", 16, FIELDS)
        };
        let c = place(
            Kind::Struct,
            false,
            None,
            &[Member::plain(1, 1), Member::bit_field(8, 4)],
        )
        .unwrap();
        assert_eq!(first_misplaced(&ours, &c.fields), Some(1));
        let m = explain_misplaced(&ours, &c.fields, 1);
        assert!(
            m.as_str().starts_with(
                "field `b` is not where C puts it: C places it at offset 0 size 8, bits 8:4; here it is at offset 8 size 8, bits 0:4 (C starts"
            ),
            "{}",
            m.as_str()
        );
        assert_eq!(
            explain_size(&ours, c.size, c.align).as_str(),
            "`e` is not C's layout: C gives size 8 align 8, here it is size 16 align 8"
        );
        assert_eq!(first_misplaced(&ours, &c.fields[..1]), Some(1));
        let err = place(Kind::Struct, false, None, &[Member::bit_field(4, 33)]).unwrap_err();
        assert_eq!(
            explain_place_error(&Struct::packed("e", 4, &FIELDS[..1]), err).as_str(),
            "field `a`: a bit field 33 bits wide does not fit its 32-bit type"
        );
    }

    #[test]
    fn a_long_message_is_cut_at_a_whole_piece() {
        let mut long = String::new();
        for _ in 0..8 {
            long.push_str("a_very_long_name_that_goes_on_and_on");
        }
        let m = explain(FILE, FILE, &long, Difference::StructName);
        assert!(m
            .as_str()
            .starts_with("this struct's ABI name is `luo_file_ser`, but `"));
        assert!(m.as_str().ends_with("..."), "{}", m.as_str());
        assert!(m.as_str().len() <= MESSAGE_CAPACITY);
    }
}
