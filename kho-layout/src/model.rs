//! The model's types: primitives, types, fields, structs, and the
//! borrowed-or-owned nodes that let one type serve both a `const` (the
//! derive) and a compiler that builds layouts at run time.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A string that is borrowed (in a `const`) or owned (built at run time).
/// Equality, order and hashing are by content, whichever the form.
#[derive(Clone)]
pub enum Str<'a> {
    /// Borrowed: what the derive writes in a `const`.
    Ref(&'a str),
    /// Owned: what the schema compiler and the parsers build.
    Owned(String),
}

impl<'a> Str<'a> {
    /// The text.
    pub const fn as_str(&self) -> &str {
        match self {
            Str::Ref(s) => s,
            Str::Owned(s) => s.as_str(),
        }
    }
}

impl PartialEq for Str<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Str<'_> {}
impl PartialEq<str> for Str<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Str<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
impl fmt::Debug for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
impl fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl From<String> for Str<'_> {
    fn from(s: String) -> Self {
        Str::Owned(s)
    }
}
impl<'a> From<&'a str> for Str<'a> {
    fn from(s: &'a str) -> Self {
        Str::Ref(s)
    }
}
impl core::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// A list that is borrowed (a `const` slice) or owned (a `Vec`).
#[derive(Clone)]
pub enum List<'a, T: 'a> {
    /// Borrowed.
    Ref(&'a [T]),
    /// Owned.
    Owned(Vec<T>),
}

impl<'a, T> List<'a, T> {
    /// The elements.
    pub const fn as_slice(&self) -> &[T] {
        match self {
            List::Ref(s) => s,
            List::Owned(v) => v.as_slice(),
        }
    }
}

impl<T: Clone> List<'_, T> {
    /// The elements to change, copied first if borrowed (as
    /// `Cow::to_mut`).
    pub fn to_mut(&mut self) -> &mut Vec<T> {
        if let List::Ref(s) = self {
            *self = List::Owned(s.to_vec());
        }
        match self {
            List::Owned(v) => v,
            List::Ref(_) => unreachable!("made owned above"),
        }
    }
}

impl<T: PartialEq> PartialEq for List<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl<T: Eq> Eq for List<'_, T> {}
impl<T: fmt::Debug> fmt::Debug for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}
impl<T> core::ops::Deref for List<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}
impl<T> From<Vec<T>> for List<'_, T> {
    fn from(v: Vec<T>) -> Self {
        List::Owned(v)
    }
}

/// One node that is borrowed (in a `const`) or boxed.
#[derive(Clone)]
pub enum Node<'a, T: 'a> {
    /// Borrowed.
    Ref(&'a T),
    /// Owned.
    Owned(Box<T>),
}

impl<'a, T> Node<'a, T> {
    /// The node.
    pub const fn get(&self) -> &T {
        match self {
            Node::Ref(t) => t,
            Node::Owned(b) => b,
        }
    }
}

impl<T: PartialEq> PartialEq for Node<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}
impl<T: Eq> Eq for Node<'_, T> {}
impl<T: fmt::Debug> fmt::Debug for Node<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.get(), f)
    }
}

/// A primitive type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Prim {
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// A C `char`: only as the element of a `char[N]` NUL-padded string.
    Char,
    /// A physical address: `u64` in C, `kho::PhysAddr` in Rust.
    PhysAddr,
}

impl Prim {
    /// Every primitive, in the order above.
    pub const ALL: [Prim; 10] = [
        Prim::U8,
        Prim::U16,
        Prim::U32,
        Prim::U64,
        Prim::I8,
        Prim::I16,
        Prim::I32,
        Prim::I64,
        Prim::Char,
        Prim::PhysAddr,
    ];

    /// The name in schemas and in the canonical text: `u8`, `i64`,
    /// `char`, `phys_addr`.
    pub const fn name(self) -> &'static str {
        match self {
            Prim::U8 => "u8",
            Prim::U16 => "u16",
            Prim::U32 => "u32",
            Prim::U64 => "u64",
            Prim::I8 => "i8",
            Prim::I16 => "i16",
            Prim::I32 => "i32",
            Prim::I64 => "i64",
            Prim::Char => "char",
            Prim::PhysAddr => "phys_addr",
        }
    }

    /// Size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Prim::U8 | Prim::I8 | Prim::Char => 1,
            Prim::U16 | Prim::I16 => 2,
            Prim::U32 | Prim::I32 => 4,
            Prim::U64 | Prim::I64 | Prim::PhysAddr => 8,
        }
    }

    /// Natural alignment in bytes (its size): what a non-packed struct
    /// will pad to.
    pub const fn align(self) -> usize {
        self.size()
    }

    /// Whether it is a signed integer (`char` is not: it holds bytes).
    pub const fn signed(self) -> bool {
        matches!(self, Prim::I8 | Prim::I16 | Prim::I32 | Prim::I64)
    }

    /// The primitive of that [`name`](Self::name), if any.
    pub const fn parse(name: &str) -> Option<Prim> {
        let mut i = 0;
        while i < Prim::ALL.len() {
            let p = Prim::ALL[i];
            if eq_bytes(p.name().as_bytes(), name.as_bytes()) {
                return Some(p);
            }
            i += 1;
        }
        None
    }
}

pub(crate) const fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// An array length: its value and the constant it was written with, if
/// any (kept so the generated code says `LUO_NAME_LEN`, not 64; only the
/// value is part of the canonical text). Lengths compare by value: the
/// constant's name is not part of the layout.
#[derive(Debug, Clone)]
pub struct Len<'a> {
    /// The number of elements.
    pub value: usize,
    /// The named constant it came from.
    pub constant: Option<Str<'a>>,
}

impl PartialEq for Len<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl Eq for Len<'_> {}

impl<'a> Len<'a> {
    /// A literal length.
    pub const fn new(value: usize) -> Self {
        Len {
            value,
            constant: None,
        }
    }
}

/// A field's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty<'a> {
    /// A primitive.
    Prim(Prim),
    /// A fixed array; `char[N]` is an array of [`Prim::Char`].
    Array(Node<'a, Ty<'a>>, Len<'a>),
    /// A nested struct.
    Struct(StructRef<'a>),
    /// The kernel's serializable pointer to the struct named:
    /// `DECLARE_KHOSER_PTR(name, struct T *)`, a union of `u64 phys` and
    /// `T *ptr` that crosses the kexec as the physical address. Size 8,
    /// alignment 8 (LP64); the canonical text writes `khoser_ptr<T>`. Only
    /// the name is part of the layout: the pointee is laid out on its own.
    Ptr(Str<'a>),
    /// A flexible array member, `T name[]`: the last field only, size 0,
    /// the alignment of `T`; the canonical text writes `T[]`. How many
    /// elements follow is the ABI's business (a count field), not the
    /// layout's.
    Flex(Node<'a, Ty<'a>>),
}

/// How a type names the struct it nests.
#[derive(Debug, Clone)]
pub enum StructRef<'a> {
    /// The struct itself: what the derive's consts hold.
    Ref(&'a Struct<'a>),
    /// The struct at this index of the set of structs the layout was built
    /// in, with its name: what the schema compiler builds, so a struct is
    /// stored once however many structs hold it.
    At(usize, Str<'a>),
    /// A struct known by name only: what a lock text's parser yields (the
    /// lock names nested structs instead of inlining them).
    Named(Str<'a>),
}

impl<'a> StructRef<'a> {
    /// The nested struct's name.
    pub const fn name(&self) -> &str {
        match self {
            StructRef::Ref(s) => s.name.as_str(),
            StructRef::At(_, n) | StructRef::Named(n) => n.as_str(),
        }
    }

    /// The struct, found in `set` for [`StructRef::At`]; `None` for an
    /// index outside `set` or whose struct has another name, and for
    /// [`StructRef::Named`].
    pub const fn resolve<'s>(&'s self, set: &'s [Struct<'a>]) -> Option<&'s Struct<'a>> {
        match self {
            StructRef::Ref(s) => Some(s),
            StructRef::At(i, name) => {
                if *i < set.len()
                    && crate::model::eq_bytes(
                        set[*i].name.as_str().as_bytes(),
                        name.as_str().as_bytes(),
                    )
                {
                    Some(&set[*i])
                } else {
                    None
                }
            }
            StructRef::Named(_) => None,
        }
    }
}

/// By name: two references to structs are the same type when they name the
/// same struct (a struct's layout is compared by its own fingerprint).
impl PartialEq for StructRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StructRef::Ref(a), StructRef::Ref(b)) => a == b,
            _ => self.name() == other.name(),
        }
    }
}
impl Eq for StructRef<'_> {}

/// What a type is made of under its array dimensions.
#[derive(Debug, Clone, Copy)]
pub enum Elem<'s, 'a> {
    /// A primitive (`char` for a `char[N]`).
    Prim(Prim),
    /// A struct.
    Struct(&'s StructRef<'a>),
    /// A KHOSER pointer to the struct named.
    Ptr(&'s str),
}

impl<'a> Ty<'a> {
    /// The element type and the dimensions, outermost first, as C writes
    /// them: `char[4][16]` is `(Prim(Char), [4, 16])`. A flexible array's
    /// `[]` is not among the dimensions (see [`Ty::is_flex`]): `u8[][4]`
    /// is `(Prim(U8), [4])`.
    pub fn split(&self) -> (Elem<'_, 'a>, Vec<&Len<'a>>) {
        let mut dims = Vec::new();
        let mut t = self;
        loop {
            match t {
                Ty::Array(elem, len) => {
                    dims.push(len);
                    t = elem.get();
                }
                Ty::Prim(p) => return (Elem::Prim(*p), dims),
                Ty::Struct(r) => return (Elem::Struct(r), dims),
                Ty::Ptr(target) => return (Elem::Ptr(target.as_str()), dims),
                Ty::Flex(elem) => t = elem.get(),
            }
        }
    }

    /// The type under every array dimension (fixed or flexible).
    pub const fn base(&self) -> &Ty<'a> {
        let mut t = self;
        loop {
            match t {
                Ty::Array(elem, _) | Ty::Flex(elem) => t = elem.get(),
                _ => return t,
            }
        }
    }

    /// Whether it is a flexible array member, `T[]`.
    pub const fn is_flex(&self) -> bool {
        matches!(self, Ty::Flex(_))
    }

    /// The struct named by a KHOSER pointer, if it is one.
    pub const fn ptr_target(&self) -> Option<&str> {
        match self {
            Ty::Ptr(name) => Some(name.as_str()),
            _ => None,
        }
    }

    /// The struct this type is, or is an array of.
    pub const fn struct_ref(&self) -> Option<&StructRef<'a>> {
        match self.base() {
            Ty::Struct(r) => Some(r),
            _ => None,
        }
    }

    /// The name of the type under its arrays, as the canonical text writes
    /// it: `u64`, `char`, `luo_file_ser`.
    pub const fn base_name(&self) -> &str {
        match self.base() {
            Ty::Prim(p) => p.name(),
            Ty::Struct(r) => r.name(),
            Ty::Ptr(_) => "khoser_ptr",
            Ty::Array(..) | Ty::Flex(_) => "",
        }
    }

    /// Whether it is `char[N]`: a NUL-padded string.
    pub const fn is_char_array(&self) -> bool {
        match self {
            Ty::Array(elem, _) => matches!(elem.get(), Ty::Prim(Prim::Char)),
            _ => false,
        }
    }

    /// Size in bytes, nested structs found in `set`; `None` when a struct
    /// cannot be found or the size overflows `usize`.
    pub const fn size(&self, set: &[Struct<'a>]) -> Option<usize> {
        let mut mul = 1usize;
        let mut t = self;
        loop {
            match t {
                Ty::Array(elem, len) => {
                    mul = match mul.checked_mul(len.value) {
                        Some(m) => m,
                        None => return None,
                    };
                    t = elem.get();
                }
                Ty::Prim(p) => return mul.checked_mul(p.size()),
                Ty::Struct(r) => {
                    return match r.resolve(set) {
                        Some(s) => mul.checked_mul(s.size),
                        None => None,
                    }
                }
                Ty::Ptr(_) => return mul.checked_mul(8),
                Ty::Flex(_) => return Some(0),
            }
        }
    }

    /// Natural alignment in bytes, nested structs found in `set` (a
    /// struct's [`Struct::align`]; 1 for a packed one); `None` when a
    /// struct cannot be found.
    pub const fn align(&self, set: &[Struct<'a>]) -> Option<usize> {
        match self.base() {
            Ty::Prim(p) => Some(p.align()),
            Ty::Ptr(_) => Some(8),
            Ty::Struct(r) => match r.resolve(set) {
                Some(s) => Some(s.align),
                None => None,
            },
            Ty::Array(..) | Ty::Flex(_) => None,
        }
    }
}

/// Written as C declares it: the element type, then the dimensions from the
/// outermost in: `[[u8; 3]; 2]` is `u8[2][3]`.
/// A KHOSER pointer is `khoser_ptr<T>`, a flexible array `T[]` (its
/// element's own dimensions after the `[]`, as C writes `T name[][4]`).
impl fmt::Display for Ty<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.base() {
            Ty::Ptr(target) => write!(f, "khoser_ptr<{target}>")?,
            base => f.write_str(base.base_name())?,
        }
        let mut ty = self;
        loop {
            match ty {
                Ty::Array(elem, n) => {
                    write!(f, "[{}]", n.value)?;
                    ty = elem.get();
                }
                Ty::Flex(elem) => {
                    f.write_str("[]")?;
                    ty = elem.get();
                }
                _ => return Ok(()),
            }
        }
    }
}

/// Whether a [`Struct`] is a struct or a union.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// A C struct: fields one after another.
    #[default]
    Struct,
    /// A C union: every field at offset 0, the size of the largest.
    Union,
}

/// A struct's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Struct<'a> {
    /// The ABI name (the C name, `luo_file_ser`).
    pub name: Str<'a>,
    /// Size in bytes.
    pub size: usize,
    /// Alignment in bytes: 1 for a packed struct without `__aligned`.
    pub align: usize,
    /// Whether it is `__packed`: no padding, members aligned to 1.
    pub packed: bool,
    /// Struct or union.
    pub kind: Kind,
    /// Fields in order.
    pub fields: List<'a, Field<'a>>,
}

impl<'a> Struct<'a> {
    /// A packed struct (align 1), in a `const`. The fields must be a named
    /// `const` (a temporary passed to a `const fn` is not extended); in
    /// one expression, write the struct literal with `List::Ref(&[..])`.
    pub const fn packed(name: &'a str, size: usize, fields: &'a [Field<'a>]) -> Self {
        Struct {
            name: Str::Ref(name),
            size,
            align: 1,
            packed: true,
            kind: Kind::Struct,
            fields: List::Ref(fields),
        }
    }

    /// A packed struct built at run time.
    pub fn packed_owned(name: String, size: usize, fields: Vec<Field<'a>>) -> Self {
        Struct {
            name: Str::Owned(name),
            size,
            align: 1,
            packed: true,
            kind: Kind::Struct,
            fields: List::Owned(fields),
        }
    }

    /// The same layout borrowing this one's name and fields: a cheap copy
    /// of an owned struct.
    pub fn borrowed(&self) -> Struct<'_> {
        Struct {
            name: Str::Ref(self.name.as_str()),
            size: self.size,
            align: self.align,
            packed: self.packed,
            kind: self.kind,
            fields: List::Ref(self.fields.as_slice()),
        }
    }

    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Where a bit field's bits are in its storage unit: bit `first` (bit 0
/// is the least significant bit of the unit read as a little-endian
/// integer) and `width` bits up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bits {
    /// The first bit, counted from the unit's least significant bit.
    pub first: u16,
    /// How many bits.
    pub width: u16,
}

/// One field of a [`Struct`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    /// Field name.
    pub name: Str<'a>,
    /// Offset from the start of the struct, in bytes; for a bit field, the
    /// offset of its storage unit.
    pub offset: usize,
    /// Size in bytes; for a bit field, its storage unit's (the declared
    /// type's size: 8 for `u64 pfn:52`). Bit fields that share a unit have
    /// the same offset and size.
    pub size: usize,
    /// Its type (a bit field's is its declared integer type).
    pub ty: Ty<'a>,
    /// For a bit field, where its bits are in the storage unit.
    pub bits: Option<Bits>,
}

impl<'a> Field<'a> {
    /// A field, in a `const`.
    pub const fn new(name: &'a str, offset: usize, size: usize, ty: Ty<'a>) -> Self {
        Field {
            name: Str::Ref(name),
            offset,
            size,
            ty,
            bits: None,
        }
    }

    /// A bit field, in a `const`: `width` bits from bit `first` of the
    /// storage unit at `offset`, `size` bytes long.
    pub const fn bit_field(
        name: &'a str,
        offset: usize,
        size: usize,
        ty: Ty<'a>,
        first: u16,
        width: u16,
    ) -> Self {
        Field {
            name: Str::Ref(name),
            offset,
            size,
            ty,
            bits: Some(Bits { first, width }),
        }
    }
}
