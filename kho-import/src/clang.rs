//! Small safe wrappers over the libclang C API (through `clang-sys`, loaded
//! at run time). Every `unsafe` block of the crate is here; every owned
//! libclang object (index, translation unit, string, token buffer, eval
//! result) is freed by a Rust owner's `Drop`.

use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::os::raw::{c_char, c_uint, c_void};
use std::path::PathBuf;

use clang_sys::*;

/// Loads libclang into the current thread (clang-sys keeps the library per
/// thread), once. The error is clang-sys's reason (where it looked, why it
/// failed).
pub fn load() -> Result<(), String> {
    if clang_sys::is_loaded() {
        return Ok(());
    }
    clang_sys::load()?;
    // A libclang older than 14 lacks functions the importer calls: refuse
    // it here instead of failing on the first call.
    if !clang_sys::clang_Type_getOffsetOf::is_loaded()
        || !clang_sys::clang_Cursor_Evaluate::is_loaded()
        || !clang_sys::clang_Cursor_isMacroFunctionLike::is_loaded()
    {
        let _ = clang_sys::unload();
        return Err("the libclang found is older than libclang 14".into());
    }
    Ok(())
}

/// Takes ownership of a `CXString` and copies it out.
fn take(s: CXString) -> String {
    // SAFETY: `s` is a CXString libclang just returned and nobody else
    // owns; clang_getCString gives a NUL-terminated string (or NULL) that
    // lives until clang_disposeString, which is called once, after the copy.
    unsafe {
        let p = clang_getCString(s);
        let out = if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        };
        clang_disposeString(s);
        out
    }
}

/// A libclang index (owns the translation units parsed in it).
pub struct Index(CXIndex);

impl Index {
    /// A new index that prints no diagnostics itself.
    pub fn new() -> Result<Index, String> {
        // SAFETY: libclang is loaded (the caller went through `load`); the
        // arguments are plain flags.
        let idx = unsafe { clang_createIndex(0, 0) };
        if idx.is_null() {
            return Err("clang_createIndex failed".into());
        }
        Ok(Index(idx))
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        // SAFETY: the index is ours and every Tu borrowing it is gone
        // (Tu<'i> borrows the Index).
        unsafe { clang_disposeIndex(self.0) }
    }
}

/// One diagnostic of a parse.
pub struct Diagnostic {
    /// Error or fatal (warnings are not reported).
    pub error: bool,
    pub file: Option<PathBuf>,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// A parsed translation unit.
pub struct Tu<'i> {
    tu: CXTranslationUnit,
    _index: PhantomData<&'i Index>,
}

impl<'i> Tu<'i> {
    /// Parses `file` with the compiler arguments `args`; `unsaved` gives
    /// in-memory contents for file names (the probe files).
    pub fn parse(
        index: &'i Index,
        file: &str,
        args: &[String],
        unsaved: &[(String, String)],
    ) -> Result<Tu<'i>, String> {
        let cfile = CString::new(file).map_err(|_| format!("{file}: NUL in the path"))?;
        let cargs = args
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| format!("NUL in argument {a:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        let argv: Vec<*const c_char> = cargs.iter().map(|a| a.as_ptr()).collect();
        let names = unsaved
            .iter()
            .map(|(n, c)| Ok((CString::new(n.as_str())?, CString::new(c.as_str())?)))
            .collect::<Result<Vec<_>, std::ffi::NulError>>()
            .map_err(|_| "NUL in a probe file".to_string())?;
        let mut files: Vec<CXUnsavedFile> = names
            .iter()
            .map(|(n, c)| CXUnsavedFile {
                Filename: n.as_ptr(),
                Contents: c.as_ptr(),
                Length: c.as_bytes().len() as _,
            })
            .collect();
        let mut tu: CXTranslationUnit = std::ptr::null_mut();
        let flags =
            CXTranslationUnit_DetailedPreprocessingRecord | CXTranslationUnit_SkipFunctionBodies;
        // SAFETY: every pointer passed points into `cfile`, `cargs`/`argv`
        // and `names`/`files`, which outlive the call; the counts are those
        // vectors' lengths; `tu` is a valid out-pointer.
        let err = unsafe {
            clang_parseTranslationUnit2(
                index.0,
                cfile.as_ptr(),
                argv.as_ptr(),
                argv.len() as _,
                files.as_mut_ptr(),
                files.len() as _,
                flags,
                &mut tu,
            )
        };
        if err != CXError_Success || tu.is_null() {
            return Err(format!("libclang could not parse it (error {err})"));
        }
        Ok(Tu {
            tu,
            _index: PhantomData,
        })
    }

    /// The errors of the parse (warnings left out).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        // SAFETY: self.tu is a live translation unit.
        let n = unsafe { clang_getNumDiagnostics(self.tu) };
        for i in 0..n {
            // SAFETY: i < n; the diagnostic is disposed below, after its
            // last use.
            unsafe {
                let d = clang_getDiagnostic(self.tu, i);
                let sev = clang_getDiagnosticSeverity(d);
                if sev >= CXDiagnostic_Error {
                    let (file, line, col) = location(clang_getDiagnosticLocation(d));
                    let message = take(clang_getDiagnosticSpelling(d));
                    out.push(Diagnostic {
                        error: true,
                        file,
                        line,
                        col,
                        message,
                    });
                }
                clang_disposeDiagnostic(d);
            }
        }
        out
    }

    /// The translation unit's cursor.
    pub fn cursor(&self) -> Cursor<'_> {
        // SAFETY: self.tu is live; the cursor borrows self.
        Cursor {
            c: unsafe { clang_getTranslationUnitCursor(self.tu) },
            tu: self,
        }
    }

    /// The spellings of the tokens in `range`.
    fn tokens(&self, range: CXSourceRange) -> Vec<String> {
        let mut toks: *mut CXToken = std::ptr::null_mut();
        let mut n: c_uint = 0;
        // SAFETY: self.tu is live; `toks`/`n` are valid out-pointers; the
        // buffer is read only below `n` and disposed once.
        unsafe {
            clang_tokenize(self.tu, range, &mut toks, &mut n);
            if toks.is_null() {
                return Vec::new();
            }
            let slice = std::slice::from_raw_parts(toks, n as usize);
            let out = slice
                .iter()
                .map(|t| take(clang_getTokenSpelling(self.tu, *t)))
                .collect();
            clang_disposeTokens(self.tu, toks, n);
            out
        }
    }
}

/// A file the unit read and the places (file, line) of the `#include`s
/// that led to it, innermost first.
pub type Inclusion = (PathBuf, Vec<(Option<PathBuf>, u32)>);

extern "C" fn inclusion(
    file: CXFile,
    stack: *mut CXSourceLocation,
    len: c_uint,
    data: CXClientData,
) {
    // SAFETY: `data` is the Vec `inclusions` passed, alive for the whole
    // call; `stack` holds `len` locations libclang owns during the call;
    // `file` is a live file of the unit.
    unsafe {
        let out = &mut *(data as *mut Vec<Inclusion>);
        let path = PathBuf::from(take(clang_getFileName(file)));
        let locs = if stack.is_null() {
            Vec::new()
        } else {
            std::slice::from_raw_parts(stack, len as usize)
                .iter()
                .map(|l| {
                    let (f, line, _) = location(*l);
                    (f, line)
                })
                .collect()
        };
        out.push((path, locs));
    }
}

impl Tu<'_> {
    /// Every file the unit read, with its inclusion stack: the place of
    /// each `#include` that led to it, innermost first.
    pub fn inclusions(&self) -> Vec<Inclusion> {
        let mut out: Vec<Inclusion> = Vec::new();
        // SAFETY: `inclusion` only pushes into the vector passed as data,
        // which lives across the call; self.tu is live.
        unsafe {
            clang_getInclusions(
                self.tu,
                inclusion,
                &mut out as *mut Vec<Inclusion> as *mut c_void,
            );
        }
        out
    }
}

impl Drop for Tu<'_> {
    fn drop(&mut self) {
        // SAFETY: the unit is ours; every Cursor borrows self, so none
        // outlives it.
        unsafe { clang_disposeTranslationUnit(self.tu) }
    }
}

/// The file, line and column of a location.
fn location(loc: CXSourceLocation) -> (Option<PathBuf>, u32, u32) {
    let mut file: CXFile = std::ptr::null_mut();
    let (mut line, mut col, mut off) = (0, 0, 0);
    // SAFETY: the out-pointers are valid; a NULL file is handled.
    unsafe {
        // The expansion location: a declaration written through a macro
        // (`static_assert`, `DECLARE_KHOSER_PTR`) is placed where the
        // header uses the macro, not where the macro is defined.
        clang_getExpansionLocation(loc, &mut file, &mut line, &mut col, &mut off);
        let path = if file.is_null() {
            None
        } else {
            Some(PathBuf::from(take(clang_getFileName(file))))
        };
        (path, line, col)
    }
}

/// A cursor into a translation unit.
#[derive(Clone, Copy)]
pub struct Cursor<'t> {
    c: CXCursor,
    tu: &'t Tu<'t>,
}

/// A type of a translation unit.
#[derive(Clone, Copy)]
pub struct Type<'t> {
    t: CXType,
    tu: &'t Tu<'t>,
}

extern "C" fn collect(c: CXCursor, _parent: CXCursor, data: CXClientData) -> CXChildVisitResult {
    // SAFETY: `data` is the &mut Vec<CXCursor> `children` passed, alive for
    // the whole visit.
    let v = unsafe { &mut *(data as *mut Vec<CXCursor>) };
    v.push(c);
    CXChildVisit_Continue
}

impl<'t> Cursor<'t> {
    fn wrap(&self, c: CXCursor) -> Cursor<'t> {
        Cursor { c, tu: self.tu }
    }

    /// The direct children.
    pub fn children(&self) -> Vec<Cursor<'t>> {
        let mut v: Vec<CXCursor> = Vec::new();
        // SAFETY: `collect` only pushes into the vector passed as data,
        // which lives across the call.
        unsafe {
            clang_visitChildren(self.c, collect, &mut v as *mut Vec<CXCursor> as *mut c_void);
        }
        v.into_iter().map(|c| self.wrap(c)).collect()
    }

    pub fn kind(&self) -> CXCursorKind {
        // SAFETY: reads a field of a valid cursor.
        unsafe { clang_getCursorKind(self.c) }
    }

    pub fn spelling(&self) -> String {
        // SAFETY: valid cursor; the CXString is taken.
        take(unsafe { clang_getCursorSpelling(self.c) })
    }

    /// File, line and column of the cursor's start.
    pub fn location(&self) -> (Option<PathBuf>, u32, u32) {
        // SAFETY: valid cursor.
        location(unsafe { clang_getCursorLocation(self.c) })
    }

    /// The tokens of its extent, as written.
    pub fn tokens(&self) -> Vec<String> {
        // SAFETY: valid cursor.
        let range = unsafe { clang_getCursorExtent(self.c) };
        self.tu.tokens(range)
    }

    pub fn is_definition(&self) -> bool {
        // SAFETY: valid cursor.
        unsafe { clang_isCursorDefinition(self.c) != 0 }
    }

    pub fn is_anonymous(&self) -> bool {
        // SAFETY: valid cursor.
        unsafe { clang_Cursor_isAnonymous(self.c) != 0 }
    }

    pub fn is_bit_field(&self) -> bool {
        // SAFETY: valid cursor.
        unsafe { clang_Cursor_isBitField(self.c) != 0 }
    }

    /// The width of a bit field.
    pub fn bit_width(&self) -> i32 {
        // SAFETY: valid cursor.
        unsafe { clang_getFieldDeclBitWidth(self.c) }
    }

    pub fn is_macro_function_like(&self) -> bool {
        // SAFETY: valid cursor.
        unsafe { clang_Cursor_isMacroFunctionLike(self.c) != 0 }
    }

    /// The cursor's type.
    pub fn ty(&self) -> Type<'t> {
        // SAFETY: valid cursor.
        Type {
            t: unsafe { clang_getCursorType(self.c) },
            tu: self.tu,
        }
    }

    /// The value of an enum constant.
    pub fn enum_value(&self) -> i64 {
        // SAFETY: valid cursor (libclang returns LLONG_MIN for others).
        unsafe { clang_getEnumConstantDeclValue(self.c) }
    }
}

impl<'t> Type<'t> {
    fn wrap(&self, t: CXType) -> Type<'t> {
        Type { t, tu: self.tu }
    }

    pub fn kind(&self) -> CXTypeKind {
        self.t.kind
    }

    pub fn spelling(&self) -> String {
        // SAFETY: valid type.
        take(unsafe { clang_getTypeSpelling(self.t) })
    }

    pub fn canonical(&self) -> Type<'t> {
        // SAFETY: valid type.
        self.wrap(unsafe { clang_getCanonicalType(self.t) })
    }

    /// The element of an array type.
    pub fn element(&self) -> Type<'t> {
        // SAFETY: valid type (an invalid type comes back for non-arrays).
        self.wrap(unsafe { clang_getArrayElementType(self.t) })
    }

    /// The declaration of a record, enum or typedef type.
    pub fn declaration(&self) -> Cursor<'t> {
        // SAFETY: valid type.
        Cursor {
            c: unsafe { clang_getTypeDeclaration(self.t) },
            tu: self.tu,
        }
    }

    /// Its alignment in bytes (negative: not a complete type).
    pub fn align(&self) -> i64 {
        // SAFETY: valid type.
        unsafe { clang_Type_getAlignOf(self.t) }
    }

    /// The target of a pointer type.
    pub fn pointee(&self) -> Type<'t> {
        // SAFETY: valid type (an invalid type comes back for non-pointers).
        self.wrap(unsafe { clang_getPointeeType(self.t) })
    }
}
