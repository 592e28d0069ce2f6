//! The layout stage's engine: every struct and every integer constant of a
//! set of schemas, computed once per page size.
//!
//! Array lengths and constants are expressions that may use `sizeof` and
//! `offsetof` of structs, whose layouts use constants in turn, so structs
//! and constants are the nodes of one graph, visited in an order where
//! what a node uses comes first (found without recursion; a cycle is an
//! error naming it). Placement (offsets, padding, bit fields, alignment)
//! is kho-layout's, the same code the derive uses.

use std::collections::BTreeMap;
use std::ops::Range;

use kho_layout::place::{place, Member, Placed};
use kho_layout::{format, Bits, Field, Kind, Len, List, Node, Str, Struct, StructRef, Ty};

use crate::diag::{Diags, Source};
use crate::expr::{self, Env, Expr, Ref};
use crate::layout::MAX_TOTAL_CANONICAL_TEXT;
use crate::layout::{Note, StructSet, MAX_CANONICAL_TEXT, MAX_NESTING, MAX_STRUCT_SIZE};
use crate::parse::ConstValue;
use crate::validate::{self, BaseTy, Checked};

/// What the engine computed.
pub(crate) struct Laid {
    /// One set per page size, in the order of [`format::PAGE_SIZES`].
    pub sets: Vec<StructSet>,
    /// Each constant's value per page size: `consts[page][first[ci] + k]`
    /// is constant `k` of schema `ci`; `None` when it is not an integer.
    pub consts: Vec<Vec<Option<u64>>>,
    /// Where each schema's constants start in `consts[page]`.
    pub const_first: Vec<usize>,
}

#[derive(Debug, Clone, Copy)]
enum NodeK {
    Struct(usize, usize),
    Const(usize, usize),
}

/// Names an expression of schema `ci` sees: its own structs and constants
/// and those of every schema it depends on, directly or not. Each schema's
/// names are mapped once; a lookup walks the schema and its dependencies
/// (so the maps stay linear in the input however many ABIs share one).
struct Scopes {
    structs: Vec<BTreeMap<String, usize>>,
    consts: Vec<BTreeMap<String, usize>>,
    /// `[ci]` then its dependencies, for each schema.
    chain: Vec<Vec<usize>>,
}

impl Scopes {
    fn find(&self, maps: &[BTreeMap<String, usize>], ci: usize, name: &str) -> Option<usize> {
        self.chain
            .get(ci)?
            .iter()
            .find_map(|&d| maps.get(d)?.get(name).copied())
    }
    fn strukt(&self, ci: usize, name: &str) -> Option<usize> {
        self.find(&self.structs, ci, name)
    }
    fn constant(&self, ci: usize, name: &str) -> Option<usize> {
        self.find(&self.consts, ci, name)
    }
}

fn scopes(checked: &[Checked], struct_first: &[usize], const_first: &[usize]) -> Scopes {
    let mut structs = Vec::with_capacity(checked.len());
    let mut consts = Vec::with_capacity(checked.len());
    let mut chain = Vec::with_capacity(checked.len());
    for (ci, c) in checked.iter().enumerate() {
        structs.push(
            c.ast
                .structs
                .iter()
                .enumerate()
                .map(|(si, s)| (s.name.value.clone(), struct_first[ci] + si))
                .collect(),
        );
        consts.push(
            c.ast
                .constants
                .iter()
                .enumerate()
                .map(|(ki, k)| (k.name.value.clone(), const_first[ci] + ki))
                .collect(),
        );
        // Own names first: a clash with a dependency's is an error that
        // validation reports.
        chain.push(
            std::iter::once(ci)
                .chain(c.closure.iter().copied())
                .collect(),
        );
    }
    Scopes {
        structs,
        consts,
        chain,
    }
}

/// One page size's view of what is computed so far.
struct Ctx<'a> {
    page: usize,
    ci: usize,
    scopes: &'a Scopes,
    /// Values of constants, by constant number.
    cval: &'a [Option<u64>],
    /// Why a constant has no value, by constant number.
    ckind: &'a [&'static str],
    set: &'a [Struct<'static>],
    done: &'a [bool],
}

impl Ctx<'_> {
    fn struct_at(&self, name: &str) -> Result<&Struct<'static>, String> {
        let i = self
            .scopes
            .strukt(self.ci, name)
            .ok_or_else(|| format!("unknown struct `{name}`"))?;
        match (self.done.get(i), self.set.get(i)) {
            (Some(true), Some(s)) => Ok(s),
            _ => Err(format!("struct `{name}` is not laid out")),
        }
    }
}

impl Env for Ctx<'_> {
    fn page_size(&self) -> u64 {
        self.page as u64
    }

    fn constant(&self, name: &str) -> Result<u64, String> {
        let k = self.scopes.constant(self.ci, name).ok_or_else(|| {
            format!(
                "unknown constant `{name}` (constants of this schema, of its dependencies, or \
                     declared `external`)"
            )
        })?;
        match self.cval.get(k).copied().flatten() {
            Some(v) => Ok(v),
            None => Err(format!(
                "constant {name} is {}, not an integer",
                self.ckind.get(k).copied().unwrap_or("unknown")
            )),
        }
    }

    fn sizeof_struct(&self, name: &str) -> Result<u64, String> {
        Ok(self.struct_at(name)?.size as u64)
    }

    fn sizeof_type(&self, ty: &str) -> Result<u64, String> {
        if let Some(p) = validate::prim_of(ty) {
            return Ok(p.size() as u64);
        }
        // LP64, the kernel's 64-bit targets: sizes fixed for every one.
        if validate::LP64_NAMES.contains(&ty) {
            return Ok(8);
        }
        let name = ty.strip_prefix("struct ").unwrap_or(ty);
        self.sizeof_struct(name)
            .map_err(|_| format!("sizeof({ty}): unknown type `{ty}`"))
    }

    fn offsetof(&self, s: &str, field: &str) -> Result<u64, String> {
        let st = self.struct_at(s)?;
        let f = st
            .field(field)
            .ok_or_else(|| format!("offsetof({s}, {field}): struct {s} has no field `{field}`"))?;
        if is_bit_field(f) {
            return Err(format!(
                "offsetof({s}, {field}): `{field}` is a bit field, which has no offset in C"
            ));
        }
        Ok(f.offset as u64)
    }
}

/// The largest value of a C enum member: an `int` (C17 6.7.2.2).
const INT_MAX: u64 = i32::MAX as u64;

/// Lays out every struct and evaluates every constant for each page size.
/// Errors are reported once: those of 4 KiB pages, or else of the first
/// page size that fails (saying which).
pub(crate) fn lay_out(srcs: &[Source], checked: &[Checked], diags: &mut Diags) -> Laid {
    let mut nodes: Vec<NodeK> = Vec::new();
    let mut struct_first = Vec::with_capacity(checked.len());
    for (ci, c) in checked.iter().enumerate() {
        struct_first.push(nodes.len());
        for si in 0..c.ast.structs.len() {
            nodes.push(NodeK::Struct(ci, si));
        }
    }
    let n_structs = nodes.len();
    let mut const_first = Vec::with_capacity(checked.len());
    for (ci, c) in checked.iter().enumerate() {
        const_first.push(nodes.len() - n_structs);
        for ki in 0..c.ast.constants.len() {
            nodes.push(NodeK::Const(ci, ki));
        }
    }
    let n_consts = nodes.len() - n_structs;
    let scopes = scopes(checked, &struct_first, &const_first);
    let name_of = |v: usize| -> &str {
        match nodes[v] {
            NodeK::Struct(ci, si) => &checked[ci].ast.structs[si].name.value,
            NodeK::Const(ci, ki) => &checked[ci].ast.constants[ki].name.value,
        }
    };
    let place_of = |v: usize| -> (&Source, Range<usize>) {
        match nodes[v] {
            NodeK::Struct(ci, si) => (
                &srcs[checked[ci].index],
                checked[ci].ast.structs[si].name.span.clone(),
            ),
            NodeK::Const(ci, ki) => (
                &srcs[checked[ci].index],
                checked[ci].ast.constants[ki].name.span.clone(),
            ),
        }
    };

    let mut failed = vec![false; nodes.len()];
    // Constant expressions, parsed once.
    let mut exprs: Vec<Option<Expr>> = vec![None; n_consts];
    let mut ckind: Vec<&'static str> = vec!["an integer"; n_consts];
    for (ci, c) in checked.iter().enumerate() {
        let src = &srcs[c.index];
        for (ki, k) in c.ast.constants.iter().enumerate() {
            let n = const_first[ci] + ki;
            ckind[n] = match k.value {
                ConstValue::Str(_) => "a string",
                ConstValue::C(_) => "a verbatim C expression (`c`), whose value kho does not know",
                ConstValue::Int(_) => "an integer",
            };
            if let Some(e) = &k.expr {
                match expr::parse(&e.value) {
                    Ok(x) => exprs[n] = Some(x),
                    Err(err) => {
                        diags.at(
                            src,
                            validate::place_in(src, e, err.offset),
                            format!("constant {}: {}", k.name.value, err.message),
                        );
                        failed[n_structs + n] = true;
                    }
                }
            }
        }
    }

    // Edges: what each node needs computed first.
    let resolve = |ci: usize, r: &Ref| -> Option<usize> {
        match r {
            Ref::Constant(n) => scopes.constant(ci, n).map(|k| n_structs + k),
            Ref::Struct(n) => {
                let n = n.strip_prefix("struct ").unwrap_or(n);
                scopes.strukt(ci, n)
            }
            Ref::Page => None,
        }
    };
    let mut by_value: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let children: Vec<Vec<usize>> = nodes
        .iter()
        .enumerate()
        .map(|(v, &nk)| {
            let mut out = Vec::new();
            match nk {
                NodeK::Struct(ci, si) => {
                    for ft in checked[ci].types.get(si).into_iter().flatten() {
                        if let Some(k) = ft.struct_index().filter(|&k| k < n_structs) {
                            out.push(k);
                            by_value[v].push(k);
                        }
                        for d in &ft.dims {
                            out.extend(expr::refs(&d.expr).iter().filter_map(|r| resolve(ci, r)));
                        }
                    }
                }
                NodeK::Const(ci, ki) => {
                    if let Some(e) = &exprs[const_first[ci] + ki] {
                        out.extend(expr::refs(e).iter().filter_map(|r| resolve(ci, r)));
                    }
                }
            }
            out.sort_unstable();
            out.dedup();
            out
        })
        .collect();
    let order = validate::post_order(&children, |path| {
        let Some(&first) = path.first() else { return };
        let names: Vec<&str> = path.iter().map(|&p| name_of(p)).collect();
        let (src, span) = place_of(first);
        let msg = if path.iter().all(|&p| p < n_structs) {
            format!(
                "recursive struct: {} -> {} (a struct cannot contain itself)",
                names.join(" -> "),
                name_of(first)
            )
        } else {
            format!(
                "cycle: {} -> {} (a constant or a struct's layout cannot depend on itself)",
                names.join(" -> "),
                name_of(first)
            )
        };
        diags.at(src, span, msg);
        for &p in path {
            failed[p] = true;
        }
    });

    // Nesting depth: structs held by value only.
    let mut depth = vec![0usize; nodes.len()];
    let mut deepest: Vec<Option<usize>> = vec![None; nodes.len()];
    for &v in &order {
        if v >= n_structs || failed[v] {
            continue;
        }
        let best = by_value[v].iter().copied().max_by_key(|&c| depth[c]);
        depth[v] = 1 + best.map_or(0, |c| depth[c]);
        deepest[v] = best;
        if depth[v] > MAX_NESTING {
            failed[v] = true;
            if depth[v] == MAX_NESTING + 1 {
                let mut chain = vec![name_of(v)];
                let mut at = best;
                while let Some(d) = at {
                    chain.push(name_of(d));
                    at = deepest[d];
                }
                let (src, span) = place_of(v);
                diags.at(
                    src,
                    span,
                    format!(
                        "struct {} nests structs {} deep ({}): the limit is {MAX_NESTING}",
                        name_of(v),
                        depth[v],
                        validate::elide(&chain)
                    ),
                );
            }
        }
    }
    let flex_of: Vec<bool> = (0..n_structs)
        .map(|v| match nodes[v] {
            NodeK::Struct(ci, si) => checked[ci]
                .types
                .get(si)
                .and_then(|t| t.last())
                .is_some_and(|t| t.flex),
            NodeK::Const(..) => false,
        })
        .collect();

    let mut sets = Vec::with_capacity(format::PAGE_SIZES.len());
    let mut consts = Vec::with_capacity(format::PAGE_SIZES.len());
    let mut page_failed = false;
    for &page in &format::PAGE_SIZES {
        let mut pd = Diags::default();
        let (set, cval) = if page_failed {
            (
                placeholders(checked, &nodes, n_structs),
                vec![None; n_consts],
            )
        } else {
            one_page(
                page, srcs, checked, &nodes, n_structs, &order, &children, &failed, &exprs, &ckind,
                &scopes, &flex_of, &mut pd,
            )
        };
        if !pd.is_empty() {
            page_failed = true;
            for mut d in pd.list {
                if page != format::MIN_PAGE_SIZE {
                    d.message.push_str(&format!(" (with PAGE_SIZE = {page})"));
                }
                diags.list.push(d);
            }
        }
        sets.push(set);
        consts.push(cval);
    }
    // A struct is page-dependent when its layout, nested structs inlined,
    // differs between page sizes: its fingerprint then does.
    for v in 0..n_structs {
        let fps: Vec<u64> = sets
            .iter()
            .filter_map(|s: &StructSet| s.notes.get(v).map(|n| n.fingerprint))
            .collect();
        let dependent = fps.windows(2).any(|w| w[0] != w[1]);
        for s in &mut sets {
            if let Some(n) = s.notes.get_mut(v) {
                n.page_dependent = dependent;
            }
        }
    }
    if diags.is_empty() {
        check_asserts(srcs, checked, &scopes, &sets, &consts, &ckind, diags);
    }
    Laid {
        sets,
        consts,
        const_first,
    }
}

fn placeholders(checked: &[Checked], nodes: &[NodeK], n_structs: usize) -> StructSet {
    StructSet {
        structs: nodes[..n_structs]
            .iter()
            .map(|&nk| match nk {
                NodeK::Struct(ci, si) => Struct::packed_owned(
                    checked[ci].ast.structs[si].name.value.clone(),
                    0,
                    Vec::new(),
                ),
                NodeK::Const(..) => Struct::packed_owned(String::new(), 0, Vec::new()),
            })
            .collect(),
        notes: vec![Note::default(); n_structs],
    }
}

#[allow(clippy::too_many_arguments)]
fn one_page(
    page: usize,
    srcs: &[Source],
    checked: &[Checked],
    nodes: &[NodeK],
    n_structs: usize,
    order: &[usize],
    children: &[Vec<usize>],
    failed: &[bool],
    exprs: &[Option<Expr>],
    ckind: &[&'static str],
    scopes: &Scopes,
    flex_of: &[bool],
    diags: &mut Diags,
) -> (StructSet, Vec<Option<u64>>) {
    let n_consts = nodes.len() - n_structs;
    let mut failed = failed.to_vec();
    let mut set = placeholders(checked, nodes, n_structs);
    let mut cval: Vec<Option<u64>> = vec![None; n_consts];
    let mut done = vec![false; n_structs];
    let mut canon = vec![0usize; n_structs];
    let mut total_canon = 0usize;
    for &v in order {
        if failed[v] || children[v].iter().any(|&c| failed[c]) {
            failed[v] = true;
            continue;
        }
        match nodes[v] {
            NodeK::Const(ci, ki) => {
                let c = &checked[ci];
                let k = &c.ast.constants[ki];
                let n = v - n_structs;
                let value = match (&exprs[n], &k.value) {
                    (Some(e), _) => {
                        let ctx = Ctx {
                            page,
                            ci,
                            scopes,
                            cval: &cval,
                            ckind,
                            set: &set.structs,
                            done: &done,
                        };
                        match expr::eval(e, &ctx) {
                            Ok(x) => Some(x),
                            Err(err) => {
                                let src = &srcs[c.index];
                                let sp = k.expr.as_ref().unwrap_or(&k.name);
                                diags.at(
                                    src,
                                    validate::place_in(src, sp, err.offset),
                                    format!("constant {}: {}", k.name.value, err.message),
                                );
                                failed[v] = true;
                                None
                            }
                        }
                    }
                    (None, ConstValue::Int(x)) => Some(*x),
                    (None, _) => None,
                };
                match value {
                    Some(x) if k.enum_tag.is_some() && x > INT_MAX => {
                        let sp = k.expr.as_ref().unwrap_or(&k.name);
                        diags.at(
                            &srcs[c.index],
                            sp.span.clone(),
                            format!(
                                "constant {}: {x} (with {} KiB pages) does not fit the `int` of \
                                 an enum member; make it a #define (drop `enum`)",
                                k.name.value,
                                page / 1024
                            ),
                        );
                        failed[v] = true;
                    }
                    Some(x) => cval[n] = Some(x),
                    None => {}
                }
            }
            NodeK::Struct(ci, si) => {
                let c = &checked[ci];
                let s = &c.ast.structs[si];
                let src = &srcs[c.index];
                let ctx = Ctx {
                    page,
                    ci,
                    scopes,
                    cval: &cval,
                    ckind,
                    set: &set.structs,
                    done: &done,
                };
                let Some((layout, text)) = lay_out_one(c, si, src, &ctx, &canon, flex_of, diags)
                else {
                    failed[v] = true;
                    continue;
                };
                if text > MAX_CANONICAL_TEXT {
                    diags.at(
                        src,
                        s.name.span.clone(),
                        format!(
                            "struct {}: its canonical layout text, which its fingerprint hashes with \
                             every nested struct inlined, would be {text} bytes: the limit is {MAX_CANONICAL_TEXT}",
                            s.name.value
                        ),
                    );
                    failed[v] = true;
                    continue;
                }
                let before = total_canon;
                total_canon = total_canon.saturating_add(text);
                if total_canon > MAX_TOTAL_CANONICAL_TEXT {
                    if before <= MAX_TOTAL_CANONICAL_TEXT {
                        diags.at(
                            src,
                            s.name.span.clone(),
                            format!(
                                "struct {}: the canonical layout texts of the structs so far, which \
                                 their fingerprints hash with nested structs inlined, pass \
                                 {MAX_TOTAL_CANONICAL_TEXT} bytes here",
                                s.name.value
                            ),
                        );
                    }
                    failed[v] = true;
                    continue;
                }
                canon[v] = text;
                let Some(fingerprint) = kho_layout::fingerprint_in(&layout, &set.structs) else {
                    // Cannot happen: every nested struct is laid out and
                    // the nesting is within MAX_NESTING.
                    diags.at(
                        src,
                        s.name.span.clone(),
                        format!(
                            "struct {}: its layout cannot be fingerprinted",
                            s.name.value
                        ),
                    );
                    failed[v] = true;
                    continue;
                };
                let types = c.types.get(si);
                set.notes[v] = Note {
                    abi: c.ast.name.value.clone(),
                    doc: s.doc.clone(),
                    entry: s.entry,
                    fingerprint,
                    field_docs: s.fields.iter().map(|f| f.doc.clone()).collect(),
                    page_dependent: false,
                    field_c_types: types
                        .into_iter()
                        .flatten()
                        .map(|t| t.spelling.clone())
                        .collect(),
                    field_counts: s
                        .fields
                        .iter()
                        .map(|f| f.count.as_ref().map(|c| c.value.clone()))
                        .collect(),
                    field_spans: s
                        .fields
                        .iter()
                        .map(|f| src.line_col(f.name.span.start))
                        .collect(),
                    span: src.line_col(s.name.span.start),
                    compatible_macro: crate::layout::macro_covering(&c.ast, &s.name.value),
                };
                set.structs[v] = layout;
                done[v] = true;
            }
        }
    }
    (set, cval)
}

/// Decimal digits of `n`.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// One struct laid out, what it uses being done: its layout and the length
/// of its canonical text without indentation (saturating, an upper bound).
/// `None` after an error, which is reported.
fn lay_out_one(
    c: &Checked,
    si: usize,
    src: &Source,
    ctx: &Ctx<'_>,
    canon: &[usize],
    flex_of: &[bool],
    diags: &mut Diags,
) -> Option<(Struct<'static>, usize)> {
    let s = &c.ast.structs[si];
    let types = c.types.get(si)?;
    let mut tys: Vec<(Ty<'static>, usize)> = Vec::with_capacity(s.fields.len());
    let mut members = Vec::with_capacity(s.fields.len());
    let mut text = 0usize;
    let mut sum = 0u128;
    for (f, ft) in s.fields.iter().zip(types) {
        let at = format!("{}.{}", s.name.value, f.name.value);
        let (mut ty, mut size): (Ty<'static>, u128) = match &ft.base {
            BaseTy::Prim(p) => (Ty::Prim(*p), p.size() as u128),
            BaseTy::Struct(i, name) => {
                if flex_of.get(*i).copied().unwrap_or(false) {
                    diags.at(
                        src,
                        f.ty.span.clone(),
                        format!(
                            "{at}: struct {name} ends in a flexible array member, so it cannot be \
                             held in another struct or an array (C forbids it)"
                        ),
                    );
                    return None;
                }
                let nested = match (ctx.done.get(*i), ctx.set.get(*i)) {
                    (Some(true), Some(n)) => n,
                    _ => return None,
                };
                (
                    Ty::Struct(StructRef::At(*i, Str::Owned(name.clone()))),
                    nested.size as u128,
                )
            }
            BaseTy::Ptr(target) => (ptr_ty(target), 8),
        };
        for d in ft.dims.iter().rev() {
            let value = match expr::eval(&d.expr, ctx) {
                Ok(v) => v,
                Err(e) => {
                    diags.at(
                        src,
                        validate::place_in(src, &f.ty, d.at + e.offset),
                        format!("{at}: array length `{}`: {}", d.shown, e.message),
                    );
                    return None;
                }
            };
            let shown = match &d.text {
                Some(t) => format!("{t} = {value}"),
                None if d.shown.starts_with("bitmap<") => format!("{} words = {value}", d.shown),
                None => value.to_string(),
            };
            if value == 0 {
                diags.at(
                    src,
                    validate::place_in(src, &f.ty, d.at),
                    format!(
                        "{at}: array length {shown} in type `{}`: a field must carry something",
                        f.ty.value.trim()
                    ),
                );
                return None;
            }
            let Ok(value) = usize::try_from(value) else {
                diags.at(
                    src,
                    validate::place_in(src, &f.ty, d.at),
                    format!("{at}: array length {shown} is too large"),
                );
                return None;
            };
            size = size.saturating_mul(value as u128);
            ty = Ty::Array(
                Node::Owned(Box::new(ty)),
                Len {
                    value,
                    constant: d.text.clone().map(Str::Owned),
                },
            );
        }
        // A flexible array's member is its element, taking no room.
        let mut member_size = size;
        if ft.flex {
            ty = flex_ty(ty);
            size = 0;
        }
        if size > MAX_STRUCT_SIZE as u128 {
            let size = if size == u128::MAX {
                "more than 2^128 bytes".to_string()
            } else {
                format!("{size} bytes")
            };
            diags.at(
                src,
                f.ty.span.clone(),
                format!(
                    "{at}: type `{}` is {size}: a struct is at most {MAX_STRUCT_SIZE} bytes (1 GiB)",
                    f.ty.value.trim()
                ),
            );
            return None;
        }
        if !s.union {
            sum += size;
            if sum > MAX_STRUCT_SIZE as u128 {
                diags.at(
                    src,
                    f.name.span.clone(),
                    format!(
                        "{at}: struct {} would be {sum} bytes at this field: a struct is at most \
                         {MAX_STRUCT_SIZE} bytes (1 GiB)",
                        s.name.value
                    ),
                );
                return None;
            }
        }
        // Within MAX_STRUCT_SIZE, so in usize.
        let size = usize::try_from(size).ok()?;
        if !ft.flex {
            member_size = size as u128;
        }
        let member_size = usize::try_from(member_size.min(MAX_STRUCT_SIZE as u128)).ok()?;
        let nested = ft
            .struct_index()
            .and_then(|n| canon.get(n))
            .copied()
            .unwrap_or(0);
        text = text.saturating_add(nested);
        let align = type_align(&ty, ctx.set)?;
        members.push(member(
            member_size,
            align,
            f.bits.as_ref().map(|b| b.value),
            ft.flex,
        ));
        tys.push((ty, size));
    }
    let placed = match place_struct(
        s.union,
        s.packed,
        s.align.as_ref().map(|a| a.value),
        &members,
    ) {
        Ok(p) => p,
        Err(e) => {
            diags.at(
                src,
                s.name.span.clone(),
                format!("struct {}: {e}", s.name.value),
            );
            return None;
        }
    };
    if placed.size > MAX_STRUCT_SIZE {
        diags.at(
            src,
            s.name.span.clone(),
            format!(
                "struct {} would be {} bytes: a struct is at most {MAX_STRUCT_SIZE} bytes (1 GiB)",
                s.name.value, placed.size
            ),
        );
        return None;
    }
    let fields: Vec<Field<'static>> = s
        .fields
        .iter()
        .zip(tys)
        .zip(&placed.fields)
        .map(|((f, (ty, _)), p)| make_field(f.name.value.clone(), ty, p))
        .collect();
    for f in &fields {
        let bits = field_bits(f).map_or(0, |(first, width)| {
            " bits ".len() + digits(first) + 1 + digits(width)
        });
        let line = f.name.len()
            + 1
            + f.ty.to_string().len()
            + " offset ".len()
            + digits(f.offset)
            + " size ".len()
            + digits(f.size)
            + bits
            + 1;
        text = text.saturating_add(line);
    }
    // As kho-layout writes the struct line: ` align N` unless packed to 1.
    let align = match (s.packed, placed.align) {
        (true, 1) => 0,
        (true, a) => " align ".len() + digits(a) + " packed".len(),
        (false, a) => " align ".len() + digits(a),
    };
    text = text.saturating_add(
        "struct ".len() + s.name.value.len() + " size ".len() + digits(placed.size) + align + 1,
    );
    Some((make_struct(s, placed.size, placed.align, fields), text))
}

/// `[[assert]]`s, each evaluated for every page size: an error names the
/// assert and the page sizes where it is false.
fn check_asserts(
    srcs: &[Source],
    checked: &[Checked],
    scopes: &Scopes,
    sets: &[StructSet],
    consts: &[Vec<Option<u64>>],
    ckind: &[&'static str],
    diags: &mut Diags,
) {
    for (ci, c) in checked.iter().enumerate() {
        let src = &srcs[c.index];
        for a in &c.ast.asserts {
            let e = match expr::parse(&a.value) {
                Ok(e) => e,
                Err(err) => {
                    diags.at(
                        src,
                        validate::place_in(src, a, err.offset),
                        format!("assert `{}`: {}", a.value, err.message),
                    );
                    continue;
                }
            };
            let mut false_at = Vec::new();
            for (pi, &page) in format::PAGE_SIZES.iter().enumerate() {
                let (Some(set), Some(cval)) = (sets.get(pi), consts.get(pi)) else {
                    continue;
                };
                let done = vec![true; set.structs.len()];
                let ctx = Ctx {
                    page,
                    ci,
                    scopes,
                    cval,
                    ckind,
                    set: &set.structs,
                    done: &done,
                };
                match expr::eval(&e, &ctx) {
                    Ok(0) => false_at.push(page.to_string()),
                    Ok(_) => {}
                    Err(err) => {
                        diags.at(
                            src,
                            validate::place_in(src, a, err.offset),
                            format!(
                                "assert `{}`: {} (with PAGE_SIZE = {page})",
                                a.value, err.message
                            ),
                        );
                        break;
                    }
                }
            }
            if !false_at.is_empty() {
                diags.at(
                    src,
                    a.span.clone(),
                    format!(
                        "assert `{}` is false with PAGE_SIZE = {}",
                        a.value,
                        false_at.join(", ")
                    ),
                );
            }
        }
    }
}

// ---- The model's constructs, placed by kho-layout.

fn member(size: usize, align: usize, bits: Option<u64>, flex: bool) -> Member {
    match (bits, flex) {
        // Widths are checked by validation to be 1..=64.
        (Some(w), _) => Member {
            size,
            align,
            bits: Some(u16::try_from(w).unwrap_or(u16::MAX)),
            flex: false,
        },
        (None, true) => Member::flex(size, align),
        (None, false) => Member::plain(size, align),
    }
}

fn place_struct(
    union: bool,
    packed: bool,
    align: Option<u64>,
    members: &[Member],
) -> Result<Placed, String> {
    let kind = if union { Kind::Union } else { Kind::Struct };
    let align = align.map(|a| usize::try_from(a).unwrap_or(usize::MAX));
    place(kind, packed, align, members).map_err(|e| match e.index() {
        Some(i) => format!("member {}: {e}", i + 1),
        None => e.to_string(),
    })
}

fn make_field(name: String, ty: Ty<'static>, p: &(usize, usize, Option<Bits>)) -> Field<'static> {
    Field {
        name: Str::Owned(name),
        offset: p.0,
        size: p.1,
        ty,
        bits: p.2,
    }
}

fn make_struct(
    s: &crate::parse::StructAst,
    size: usize,
    align: usize,
    fields: Vec<Field<'static>>,
) -> Struct<'static> {
    Struct {
        name: Str::Owned(s.name.value.clone()),
        size,
        align,
        packed: s.packed,
        kind: if s.union { Kind::Union } else { Kind::Struct },
        fields: List::Owned(fields),
    }
}

/// `_Alignof` of a field's type (a flexible array's element's).
fn type_align(ty: &Ty<'_>, set: &[Struct<'static>]) -> Option<usize> {
    match ty {
        Ty::Flex(elem) => elem.get().align(set),
        t => t.align(set),
    }
}

fn is_bit_field(f: &Field<'_>) -> bool {
    f.bits.is_some()
}

fn field_bits(f: &Field<'_>) -> Option<(usize, usize)> {
    f.bits.map(|b| (usize::from(b.first), usize::from(b.width)))
}

fn ptr_ty(target: &str) -> Ty<'static> {
    Ty::Ptr(Str::Owned(target.to_string()))
}

fn flex_ty(ty: Ty<'static>) -> Ty<'static> {
    Ty::Flex(Node::Owned(Box::new(ty)))
}
