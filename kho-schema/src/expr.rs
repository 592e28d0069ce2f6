//! The expression language of array lengths, `expr` constants and
//! `[[assert]]`s: a small subset of C's integer constant expressions, what
//! the kernel's KHO headers write (`(PAGE_SIZE - sizeof(struct h)) /
//! sizeof(u64)`, `BIT(0)`, `offsetof(struct s, f) % sizeof(unsigned long)
//! == 0`, `DIV_ROUND_UP(a, b)`, `const_ilog2(PAGE_SIZE / sizeof(u64))`).
//! It is not a C parser: the grammar is ours, with C's precedence.
//!
//! Values are `u64`, every operation checked: an overflow, a negative
//! result, a division by zero or a shift of 64 or more is an error, never a
//! wrapped value. Text is at most [`MAX_EXPR_LEN`] bytes and nests at most
//! [`MAX_EXPR_DEPTH`] deep, so no schema can make the parser or the
//! evaluator recurse without bound.

use std::fmt;

/// Longest expression text, in bytes.
pub(crate) const MAX_EXPR_LEN: usize = 1024;
/// Deepest nesting of parentheses, unary operators and calls.
pub(crate) const MAX_EXPR_DEPTH: usize = 64;

/// A parsed expression. Offsets are byte offsets into the expression text,
/// for error places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// An integer literal.
    Num(u64),
    /// A constant's name (own, a dependency's or external).
    Name(String, usize),
    /// `PAGE_SIZE`.
    PageSize,
    /// `PAGE_SHIFT`.
    PageShift,
    /// `sizeof(struct s)`.
    SizeofStruct(String, usize),
    /// `sizeof(<type>)`: a type spelled as a schema spells a field's base
    /// type (`u64`, `unsigned long`, a struct name).
    SizeofType(String, usize),
    /// `offsetof(struct s, field)`.
    Offsetof(String, String, usize),
    /// One of the kernel's integer macros the headers call, with its
    /// arguments ([`Func::arity`] of them).
    Call(Func, Vec<Expr>, usize),
    /// A unary operator.
    Unary(Un, Box<Expr>, usize),
    /// A binary operator.
    Binary(Bin, Box<Expr>, Box<Expr>, usize),
}

/// The kernel's function-like integer macros an expression may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    /// `BIT(n)`, `BIT_ULL(n)` (`linux/bits.h`): `1 << n`.
    Bit,
    /// `DIV_ROUND_UP(n, d)` (`linux/math.h`): `(n + d - 1) / d`.
    DivRoundUp,
    /// `const_ilog2(n)`, `ilog2(n)` (`linux/log2.h`): the index of the
    /// highest set bit; 0 for 0 and 1, as the macro's `(n) < 2 ? 0` says.
    Ilog2,
    /// `BITS_TO_LONGS(n)` (`linux/bitops.h`): `DIV_ROUND_UP(n, 64)` on the
    /// kernel's 64-bit targets.
    BitsToLongs,
}

impl Func {
    /// The function a name calls, if any.
    pub(crate) fn of(name: &str) -> Option<Func> {
        Some(match name {
            "BIT" | "BIT_ULL" => Func::Bit,
            "DIV_ROUND_UP" => Func::DivRoundUp,
            "const_ilog2" | "ilog2" => Func::Ilog2,
            "BITS_TO_LONGS" => Func::BitsToLongs,
            _ => return None,
        })
    }

    /// How many arguments it takes.
    fn arity(self) -> usize {
        match self {
            Func::DivRoundUp => 2,
            _ => 1,
        }
    }
}

/// Whether `name` is one of the expression language's own words
/// (`PAGE_SIZE`, `PAGE_SHIFT`, `sizeof`, `offsetof` and the kernel macros
/// it calls: `BIT`, `DIV_ROUND_UP`, `const_ilog2`, ...), never a
/// constant's name: the importer keeps these as written instead of taking
/// them for constants, and no external constant may be called so.
pub fn is_expression_word(name: &str) -> bool {
    matches!(name, "PAGE_SIZE" | "PAGE_SHIFT" | "sizeof" | "offsetof") || Func::of(name).is_some()
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Un {
    Neg,
    Not,
    LogNot,
}

/// Binary operators, C's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bin {
    Mul,
    Div,
    Rem,
    Add,
    Sub,
    Shl,
    Shr,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Xor,
    Or,
    LogAnd,
    LogOr,
}

impl Bin {
    /// C's precedence: higher binds tighter.
    fn prec(self) -> u8 {
        match self {
            Bin::Mul | Bin::Div | Bin::Rem => 10,
            Bin::Add | Bin::Sub => 9,
            Bin::Shl | Bin::Shr => 8,
            Bin::Lt | Bin::Le | Bin::Gt | Bin::Ge => 7,
            Bin::Eq | Bin::Ne => 6,
            Bin::And => 5,
            Bin::Xor => 4,
            Bin::Or => 3,
            Bin::LogAnd => 2,
            Bin::LogOr => 1,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Bin::Mul => "*",
            Bin::Div => "/",
            Bin::Rem => "%",
            Bin::Add => "+",
            Bin::Sub => "-",
            Bin::Shl => "<<",
            Bin::Shr => ">>",
            Bin::Lt => "<",
            Bin::Le => "<=",
            Bin::Gt => ">",
            Bin::Ge => ">=",
            Bin::Eq => "==",
            Bin::Ne => "!=",
            Bin::And => "&",
            Bin::Xor => "^",
            Bin::Or => "|",
            Bin::LogAnd => "&&",
            Bin::LogOr => "||",
        }
    }
}

/// What is wrong with an expression, and where in its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExprError {
    /// Byte offset into the expression text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        offset,
        message: message.into(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Num(u64),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

/// Operators, longest first so `<<` is not read as `<`.
const OPS: &[&str] = &[
    "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "*", "/", "%", "+", "-", "<", ">", "&", "^",
    "|", "~", "!",
];

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if b.is_ascii_digit() {
            while bytes
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                i += 1;
            }
            out.push((Tok::Num(literal(&text[start..i], start)?), start));
        } else if b.is_ascii_alphabetic() || b == b'_' {
            while bytes
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            {
                i += 1;
            }
            out.push((Tok::Ident(text[start..i].to_string()), start));
        } else if b == b'(' {
            i += 1;
            out.push((Tok::LParen, start));
        } else if b == b')' {
            i += 1;
            out.push((Tok::RParen, start));
        } else if b == b',' {
            i += 1;
            out.push((Tok::Comma, start));
        } else if let Some(op) = OPS.iter().find(|op| text[i..].starts_with(*op)) {
            i += op.len();
            out.push((Tok::Op(op), start));
        } else {
            let c = text[i..].chars().next().unwrap_or('?');
            return err(start, format!("unexpected character {c:?}"));
        }
    }
    Ok(out)
}

/// An integer literal: decimal, `0x`, `0b`, with an optional `U`, `L`,
/// `UL`, `LL`, `ULL` suffix (any case). A leading `0` (C's octal) is
/// refused: `010` is 8 in C, which nobody reading a schema expects.
fn literal(text: &str, at: usize) -> Result<u64, ExprError> {
    let lower = text.to_ascii_lowercase();
    let digits = lower.trim_end_matches(['u', 'l']);
    let suffix = &lower[digits.len()..];
    if !matches!(suffix, "" | "u" | "l" | "ul" | "lu" | "ll" | "ull" | "llu") {
        return err(at, format!("malformed integer literal `{text}`"));
    }
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(b) = digits.strip_prefix("0b") {
        (2, b)
    } else if digits.len() > 1 && digits.starts_with('0') {
        return err(
            at,
            format!("octal literal `{text}`: write it in decimal or 0x hex"),
        );
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return err(at, format!("malformed integer literal `{text}`"));
    }
    u64::from_str_radix(body, radix)
        .or_else(|_| err(at, format!("integer literal `{text}` does not fit 64 bits")))
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    depth: usize,
}

/// Parses an expression. Errors name the offset in `text`.
pub(crate) fn parse(text: &str) -> Result<Expr, ExprError> {
    if text.len() > MAX_EXPR_LEN {
        return err(
            0,
            format!(
                "expression is {} bytes: the limit is {MAX_EXPR_LEN}",
                text.len()
            ),
        );
    }
    let toks = lex(text)?;
    if toks.is_empty() {
        return err(0, "empty expression");
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end: text.len(),
        depth: 0,
    };
    let e = p.binary(1)?;
    match p.toks.get(p.pos) {
        None => Ok(e),
        Some((t, at)) => err(*at, format!("unexpected {} after the expression", show(t))),
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("number {n}"),
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Op(o) => format!("`{o}`"),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Comma => "`,`".into(),
    }
}

fn bin_of(op: &str) -> Option<Bin> {
    Some(match op {
        "*" => Bin::Mul,
        "/" => Bin::Div,
        "%" => Bin::Rem,
        "+" => Bin::Add,
        "-" => Bin::Sub,
        "<<" => Bin::Shl,
        ">>" => Bin::Shr,
        "<" => Bin::Lt,
        "<=" => Bin::Le,
        ">" => Bin::Gt,
        ">=" => Bin::Ge,
        "==" => Bin::Eq,
        "!=" => Bin::Ne,
        "&" => Bin::And,
        "^" => Bin::Xor,
        "|" => Bin::Or,
        "&&" => Bin::LogAnd,
        "||" => Bin::LogOr,
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(_, a)| *a)
    }

    fn next(&mut self) -> Option<(Tok, usize)> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), ExprError> {
        let at = self.at();
        match self.next() {
            Some((t, _)) if t == want => Ok(()),
            Some((t, _)) => err(at, format!("expected {what}, found {}", show(&t))),
            None => err(at, format!("expected {what} at the end")),
        }
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_EXPR_DEPTH {
            return err(
                self.at(),
                format!("expression nests more than {MAX_EXPR_DEPTH} deep"),
            );
        }
        Ok(())
    }

    /// Precedence climbing: operators of precedence `min` or higher, left
    /// associative. Recursion here is bounded by the ten precedence levels
    /// per nesting level.
    fn binary(&mut self, min: u8) -> Result<Expr, ExprError> {
        let mut lhs = self.unary()?;
        while let Some(Tok::Op(op)) = self.peek() {
            let Some(b) = bin_of(op) else { break };
            if b.prec() < min {
                break;
            }
            let at = self.at();
            self.pos += 1;
            let rhs = self.binary(b.prec() + 1)?;
            lhs = Expr::Binary(b, Box::new(lhs), Box::new(rhs), at);
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        let at = self.at();
        let op = match self.peek() {
            Some(Tok::Op("-")) => Some(Un::Neg),
            Some(Tok::Op("~")) => Some(Un::Not),
            Some(Tok::Op("!")) => Some(Un::LogNot),
            Some(Tok::Op("+")) => {
                self.pos += 1;
                self.enter()?;
                let e = self.unary();
                self.depth -= 1;
                return e;
            }
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            self.enter()?;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Unary(op, Box::new(e), at));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let at = self.at();
        match self.next() {
            Some((Tok::Num(n), _)) => Ok(Expr::Num(n)),
            Some((Tok::LParen, _)) => {
                self.enter()?;
                let e = self.binary(1)?;
                self.expect(Tok::RParen, "`)`")?;
                self.depth -= 1;
                Ok(e)
            }
            Some((Tok::Ident(id), _)) => match id.as_str() {
                "PAGE_SIZE" => Ok(Expr::PageSize),
                "PAGE_SHIFT" => Ok(Expr::PageShift),
                _ if Func::of(&id).is_some() && self.peek() == Some(&Tok::LParen) => {
                    let f = Func::of(&id).unwrap_or(Func::Bit);
                    self.expect(Tok::LParen, &format!("`(` after {id}"))?;
                    self.enter()?;
                    let mut args = vec![self.binary(1)?];
                    while args.len() < f.arity() {
                        self.expect(
                            Tok::Comma,
                            &format!("`,` ({id} takes {} arguments)", f.arity()),
                        )?;
                        args.push(self.binary(1)?);
                    }
                    self.expect(Tok::RParen, &format!("`)` ({id} takes {})", f.arity()))?;
                    self.depth -= 1;
                    Ok(Expr::Call(f, args, at))
                }
                "sizeof" => {
                    self.expect(Tok::LParen, "`(` after sizeof")?;
                    let words = self.words(&[Tok::RParen], "a type")?;
                    self.expect(Tok::RParen, "`)`")?;
                    Ok(match words.strip_prefix("struct ") {
                        Some(s) => Expr::SizeofStruct(s.to_string(), at),
                        None => Expr::SizeofType(words, at),
                    })
                }
                "offsetof" => {
                    self.expect(Tok::LParen, "`(` after offsetof")?;
                    let words = self.words(&[Tok::Comma], "a struct")?;
                    let s = words.strip_prefix("struct ").unwrap_or(&words).to_string();
                    self.expect(Tok::Comma, "`,`")?;
                    let fat = self.at();
                    let field = match self.next() {
                        Some((Tok::Ident(f), _)) => f,
                        _ => return err(fat, "expected a field name in offsetof"),
                    };
                    self.expect(Tok::RParen, "`)`")?;
                    Ok(Expr::Offsetof(s, field, at))
                }
                "sizeof_field" | "typeof" | "alignof" | "_Alignof" | "__alignof__" => err(
                    at,
                    format!("`{id}` is not part of schema expressions (see docs/schema.md)"),
                ),
                _ => {
                    if self.peek() == Some(&Tok::LParen) {
                        return err(
                            at,
                            format!(
                                "unknown function `{id}`: expressions may call BIT, BIT_ULL, \
                                 DIV_ROUND_UP, const_ilog2, ilog2, BITS_TO_LONGS, sizeof and \
                                 offsetof"
                            ),
                        );
                    }
                    Ok(Expr::Name(id, at))
                }
            },
            Some((t, _)) => err(at, format!("expected a value, found {}", show(&t))),
            None => err(at, "expected a value at the end"),
        }
    }

    /// Identifiers up to (not including) one of `stop`, joined by single
    /// spaces: `unsigned long`, `struct kho_vmalloc`.
    fn words(&mut self, stop: &[Tok], what: &str) -> Result<String, ExprError> {
        let at = self.at();
        let mut words: Vec<String> = Vec::new();
        while let Some(t) = self.peek() {
            if stop.contains(t) {
                break;
            }
            match t {
                Tok::Ident(w) if words.len() < 4 => {
                    words.push(w.clone());
                    self.pos += 1;
                }
                t => return err(self.at(), format!("expected {what}, found {}", show(t))),
            }
        }
        if words.is_empty() {
            return err(at, format!("expected {what}"));
        }
        Ok(words.join(" "))
    }
}

/// What an expression's names are resolved against, for one page size.
pub(crate) trait Env {
    /// The page size the expression is evaluated for.
    fn page_size(&self) -> u64;
    /// A constant's integer value.
    fn constant(&self, name: &str) -> Result<u64, String>;
    /// `sizeof(struct name)`.
    fn sizeof_struct(&self, name: &str) -> Result<u64, String>;
    /// `sizeof(ty)`, `ty` a type as a field's base type is spelled.
    fn sizeof_type(&self, ty: &str) -> Result<u64, String>;
    /// `offsetof(struct s, field)`.
    fn offsetof(&self, s: &str, field: &str) -> Result<u64, String>;
}

/// Evaluates `e` in `env`. Recursion is bounded by the parser's depth
/// limit (and the precedence levels), so it cannot overflow the stack.
pub(crate) fn eval(e: &Expr, env: &dyn Env) -> Result<u64, ExprError> {
    let place = |at: usize| {
        move |m: String| ExprError {
            offset: at,
            message: m,
        }
    };
    Ok(match e {
        Expr::Num(n) => *n,
        Expr::Name(n, at) => env.constant(n).map_err(place(*at))?,
        Expr::PageSize => env.page_size(),
        Expr::PageShift => u64::from(env.page_size().checked_ilog2().unwrap_or(0)),
        Expr::SizeofStruct(s, at) => env.sizeof_struct(s).map_err(place(*at))?,
        Expr::SizeofType(t, at) => env.sizeof_type(t).map_err(place(*at))?,
        Expr::Offsetof(s, f, at) => env.offsetof(s, f).map_err(place(*at))?,
        Expr::Call(f, args, at) => {
            let mut v = [0u64; 2];
            for (slot, a) in v.iter_mut().zip(args) {
                *slot = eval(a, env)?;
            }
            let [n, d] = v;
            match f {
                Func::Bit if n >= 64 => {
                    return err(*at, format!("BIT({n}): a shift of 64 or more"));
                }
                Func::Bit => 1u64 << n,
                Func::DivRoundUp | Func::BitsToLongs => {
                    let d = if *f == Func::BitsToLongs { 64 } else { d };
                    if d == 0 {
                        return err(*at, format!("DIV_ROUND_UP({n}, 0): division by zero"));
                    }
                    // As the macro computes it, `(n + d - 1) / d`: an
                    // overflow in C's sum is an error here.
                    match n.checked_add(d - 1) {
                        Some(sum) => sum / d,
                        None => {
                            return err(
                                *at,
                                format!("DIV_ROUND_UP({n}, {d}): {n} + {d} - 1 overflows 64 bits"),
                            )
                        }
                    }
                }
                Func::Ilog2 => u64::from(n.checked_ilog2().unwrap_or(0)),
            }
        }
        Expr::Unary(op, x, at) => {
            let x = eval(x, env)?;
            match op {
                Un::Neg if x == 0 => 0,
                Un::Neg => return err(*at, format!("-{x} is negative: values are unsigned")),
                Un::Not => !x,
                Un::LogNot => u64::from(x == 0),
            }
        }
        Expr::Binary(op, a, b, at) => {
            let x = eval(a, env)?;
            // C's short-circuit: the right side of a decided && or || is
            // not evaluated (so it may not divide by zero either).
            match op {
                Bin::LogAnd if x == 0 => return Ok(0),
                Bin::LogOr if x != 0 => return Ok(1),
                _ => {}
            }
            let y = eval(b, env)?;
            let sym = op.symbol();
            let over = || ExprError {
                offset: *at,
                message: format!("{x} {sym} {y} overflows 64 bits"),
            };
            match op {
                Bin::Mul => x.checked_mul(y).ok_or_else(over)?,
                Bin::Add => x.checked_add(y).ok_or_else(over)?,
                Bin::Sub => x.checked_sub(y).ok_or_else(|| ExprError {
                    offset: *at,
                    message: format!("{x} - {y} is negative: values are unsigned"),
                })?,
                Bin::Div | Bin::Rem if y == 0 => {
                    return err(*at, format!("{x} {sym} 0: division by zero"))
                }
                Bin::Div => x / y,
                Bin::Rem => x % y,
                Bin::Shl | Bin::Shr if y >= 64 => {
                    return err(*at, format!("{x} {sym} {y}: a shift of 64 or more"))
                }
                Bin::Shl => {
                    let r = x << y;
                    if r >> y != x {
                        return Err(over());
                    }
                    r
                }
                Bin::Shr => x >> y,
                Bin::Lt => u64::from(x < y),
                Bin::Le => u64::from(x <= y),
                Bin::Gt => u64::from(x > y),
                Bin::Ge => u64::from(x >= y),
                Bin::Eq => u64::from(x == y),
                Bin::Ne => u64::from(x != y),
                Bin::And => x & y,
                Bin::Xor => x ^ y,
                Bin::Or => x | y,
                Bin::LogAnd | Bin::LogOr => u64::from(y != 0),
            }
        }
    })
}

/// What an expression refers to, for the order of evaluation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Ref {
    /// A constant.
    Constant(String),
    /// A struct's layout (by `sizeof` or `offsetof`, or a type that may be
    /// a struct in `sizeof(<type>)`).
    Struct(String),
    /// `PAGE_SIZE` or `PAGE_SHIFT`.
    Page,
}

/// Every name `e` refers to, without recursion into the call stack beyond
/// the expression's own (bounded) depth.
pub(crate) fn refs(e: &Expr) -> Vec<Ref> {
    let mut out = Vec::new();
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        match e {
            Expr::Num(_) => {}
            Expr::Name(n, _) => out.push(Ref::Constant(n.clone())),
            Expr::PageSize | Expr::PageShift => out.push(Ref::Page),
            Expr::SizeofStruct(s, _) | Expr::SizeofType(s, _) | Expr::Offsetof(s, _, _) => {
                out.push(Ref::Struct(s.clone()))
            }
            Expr::Unary(_, x, _) => todo.push(x),
            Expr::Call(_, args, _) => todo.extend(args),
            Expr::Binary(_, a, b, _) => {
                todo.push(a);
                todo.push(b);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Every constant name `e` uses, with its offset, in text order.
pub(crate) fn names(e: &Expr) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        match e {
            Expr::Name(n, at) => out.push((n.as_str(), *at)),
            Expr::Unary(_, x, _) => todo.push(x),
            Expr::Call(_, args, _) => todo.extend(args),
            Expr::Binary(_, a, b, _) => {
                todo.push(b);
                todo.push(a);
            }
            _ => {}
        }
    }
    out.sort_by_key(|&(_, at)| at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct T;
    impl Env for T {
        fn page_size(&self) -> u64 {
            4096
        }
        fn constant(&self, name: &str) -> Result<u64, String> {
            match name {
                "N" => Ok(64),
                _ => Err(format!("unknown constant `{name}`")),
            }
        }
        fn sizeof_struct(&self, name: &str) -> Result<u64, String> {
            match name {
                "hdr" => Ok(8),
                _ => Err(format!("unknown struct `{name}`")),
            }
        }
        fn sizeof_type(&self, ty: &str) -> Result<u64, String> {
            match ty {
                "u64" | "unsigned long" => Ok(8),
                "hdr" => Ok(8),
                _ => Err(format!("unknown type `{ty}`")),
            }
        }
        fn offsetof(&self, s: &str, f: &str) -> Result<u64, String> {
            match (s, f) {
                ("hdr", "b") => Ok(4),
                _ => Err(format!("no field {s}.{f}")),
            }
        }
    }

    fn ev(s: &str) -> Result<u64, ExprError> {
        eval(&parse(s)?, &T)
    }

    #[test]
    fn c_precedence_and_the_kernels_forms() {
        assert_eq!(
            ev("(PAGE_SIZE - sizeof(struct hdr)) / sizeof(u64)"),
            Ok(511)
        );
        assert_eq!(ev("N + 1"), Ok(65));
        assert_eq!(ev("1 + 2 * 3"), Ok(7));
        assert_eq!(ev("1 << 2 + 1"), Ok(8));
        assert_eq!(ev("BIT(0) | BIT_ULL(3)"), Ok(9));
        assert_eq!(
            ev("offsetof(struct hdr, b) % sizeof(unsigned long) == 0"),
            Ok(0)
        );
        assert_eq!(ev("sizeof(hdr) == 8 && !0"), Ok(1));
        assert_eq!(ev("0x10UL + 0b11 + 5ULL"), Ok(24));
        assert_eq!(ev("PAGE_SHIFT"), Ok(12));
        assert_eq!(ev("~0 >> 63"), Ok(1));
        assert_eq!(ev("0 && 1 / 0"), Ok(0));
        assert_eq!(ev("10 - 3 - 2"), Ok(5));
    }

    #[test]
    fn the_kernels_integer_macros() {
        // kexec_handover.h's radix tree constants at 4 KiB pages.
        assert_eq!(ev("const_ilog2(PAGE_SIZE / sizeof(u64))"), Ok(9));
        assert_eq!(ev("PAGE_SHIFT + const_ilog2(8)"), Ok(15));
        assert_eq!(ev("DIV_ROUND_UP(64 - PAGE_SHIFT - 15, 9) + 1"), Ok(6));
        assert_eq!(ev("BITS_TO_LONGS(1 << 15)"), Ok(512));
        assert_eq!(ev("BITS_TO_LONGS(65) * 8"), Ok(16));
        assert_eq!(ev("DIV_ROUND_UP(8, 4)"), Ok(2));
        assert_eq!(ev("DIV_ROUND_UP(0, 4)"), Ok(0));
        // As the macro is written: `(n) < 2 ? 0`.
        assert_eq!(ev("ilog2(0) + ilog2(1)"), Ok(0));
        assert_eq!(ev("ilog2(~0)"), Ok(63));
        assert_eq!(ev("ilog2(4097)"), Ok(12));
        let e = ev("DIV_ROUND_UP(N, PAGE_SHIFT - 12)").unwrap_err();
        assert!(e.message.contains("division by zero"), "{e}");
        assert_eq!(e.offset, 0);
        // The macro's `n + d - 1` would wrap in C: an error, not a value.
        let e = ev("1 + DIV_ROUND_UP(~0, 1 << 2)").unwrap_err();
        assert!(e.message.contains("overflows"), "{e}");
        assert_eq!(e.offset, 4);
        assert_eq!(ev("DIV_ROUND_UP(~0, 1)"), Ok(u64::MAX));
    }

    #[test]
    fn checked_arithmetic_names_the_place() {
        let e = ev("1 - 2").unwrap_err();
        assert!(e.message.contains("negative"), "{e}");
        assert_eq!(e.offset, 2);
        assert!(ev("1 / (N - 64)")
            .unwrap_err()
            .message
            .contains("division by zero"));
        assert!(ev("1 << 64").unwrap_err().message.contains("shift of 64"));
        assert!(ev("BIT(64)").unwrap_err().message.contains("shift of 64"));
        assert!(ev("0xffffffffffffffff * 2")
            .unwrap_err()
            .message
            .contains("overflows"));
        assert!(ev("0x8000000000000000 << 1")
            .unwrap_err()
            .message
            .contains("overflows"));
        let e = ev("N + M").unwrap_err();
        assert_eq!((e.offset, e.message.as_str()), (4, "unknown constant `M`"));
    }

    #[test]
    fn malformed_text_is_refused() {
        for (text, want) in [
            ("", "empty"),
            ("1 +", "expected a value"),
            ("(1", "`)`"),
            ("1 2", "unexpected number"),
            ("010", "octal"),
            ("12abc", "malformed"),
            ("99999999999999999999", "does not fit"),
            ("foo(1)", "unknown function"),
            ("DIV_ROUND_UP(1)", "takes 2 arguments"),
            ("BIT(1, 2)", "takes 1"),
            ("ilog2()", "expected a value"),
            ("1 $ 2", "unexpected character"),
            ("sizeof()", "expected a type"),
            ("offsetof(struct hdr)", "found `)`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn nesting_and_length_are_bounded() {
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep)
            .unwrap_err()
            .message
            .contains("nests more than"));
        let neg = format!("{}1", "-".repeat(100));
        assert!(parse(&neg).unwrap_err().message.contains("nests more than"));
        let long = "1+".repeat(600) + "1";
        assert!(parse(&long).unwrap_err().message.contains("the limit is"));
        let ok = format!("{}1{}", "(".repeat(60), ")".repeat(60));
        assert_eq!(ev(&ok), Ok(1));
    }

    #[test]
    fn refs_lists_what_an_expression_needs() {
        let e = parse("(PAGE_SIZE - sizeof(struct hdr)) / N + offsetof(s, f)").unwrap();
        assert_eq!(
            refs(&e),
            vec![
                Ref::Constant("N".into()),
                Ref::Struct("hdr".into()),
                Ref::Struct("s".into()),
                Ref::Page
            ]
        );
    }
}
