//! `kho-abi import`: one schema per C header, read through libclang.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use super::fail;

/// The long help of `import`.
pub const HELP: &str = "\
Reads each HEADER as the C compiler does (libclang, loaded at run time, with
the -I, -D and --include given: pass the kernel build's own) and writes one
schema per header into --out DIR, named after the header (memfd.h ->
memfd.toml): its structs and unions, fields with their types as written, bit
fields, DECLARE_KHOSER_PTR unions (khoser_ptr<T>), flexible arrays, array
lengths as written (KHO_VMALLOC_SIZE), __packed and __aligned(N), its macros
(compatible strings, constants, expressions over other macros, PAGE_SIZE or
sizeof; macros from other headers as external constants with the value the
compiler computes), static_asserts and its kernel-doc. Headers whose structs
these use are read too, and every schema written must compile.

It refuses, writing nothing, a construct kho schemas cannot express (a
pointer that is not a KHOSER union, a long/unsigned long/size_t field, an
enum field, an anonymous struct, a compatible string not of the form
name-vN), naming it and its header:line:col; with several *_COMPATIBLE
macros, a struct whose kernel-doc does not say which one must be updated.
The files are written only once every schema is ready (each staged beside its
target, then renamed into place).

Exit status: 0 when every schema is written; 1 when a header is refused or
cannot be read; 2 for bad arguments or when libclang cannot be loaded (then it
says what to install).";

/// Write one schema per C header.
#[derive(Debug, clap::Args)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// An include directory (-I DIR), as for the compiler; repeat it.
    #[arg(short = 'I', value_name = "DIR")]
    include_dirs: Vec<PathBuf>,

    /// A macro definition (-D NAME or -D NAME=VALUE); repeat it.
    #[arg(short = 'D', value_name = "NAME[=VALUE]")]
    defines: Vec<String>,

    /// A file read before each header (the compiler's -include); repeat it.
    #[arg(long = "include", value_name = "FILE")]
    includes: Vec<PathBuf>,

    /// The directory the schemas go to (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// The headers.
    #[arg(value_name = "HEADER", required = true)]
    headers: Vec<PathBuf>,
}

/// `-D` values as kho-import takes them.
pub fn defines(raw: &[String]) -> Vec<(String, Option<String>)> {
    raw.iter()
        .map(|d| match d.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (d.clone(), None),
        })
        .collect()
}

/// Reports an import error: libclang missing is exit 2, the rest exit 1.
pub fn import_failed(e: &kho_import::Error) -> ExitCode {
    if matches!(e, kho_import::Error::NoLibclang(_)) {
        let _ = writeln!(io::stderr().lock(), "kho-abi: {e}");
        return ExitCode::from(2);
    }
    fail(&e.to_string())
}

/// Runs `import`: every schema is written, or (status 1 or 2) none is.
pub fn exec(args: &Args) -> ExitCode {
    if let Some(d) = args
        .defines
        .iter()
        .find(|d| d.split('=').next().is_none_or(str::is_empty))
    {
        let _ = writeln!(
            io::stderr().lock(),
            "kho-abi: -D {d:?}: the macro name is empty"
        );
        return ExitCode::from(2);
    }
    let opts = kho_import::Options {
        include_dirs: args.include_dirs.clone(),
        defines: defines(&args.defines),
        includes: args.includes.clone(),
    };
    let imported = match kho_import::import(&args.headers, &opts) {
        Ok(i) => i,
        Err(e) => return import_failed(&e),
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        return fail(&format!("{}: {e}", args.out.display()));
    }
    let files: Vec<(String, Vec<u8>)> = imported
        .iter()
        .map(|i| (i.schema_file.clone(), i.toml.clone().into_bytes()))
        .collect();
    if let Err(e) = kho_schema::fs::write_files(&args.out, &files) {
        return fail(&e.to_string());
    }
    for i in &imported {
        let _ = writeln!(
            io::stderr().lock(),
            "kho-abi: {} -> {}",
            i.header.display(),
            args.out.join(&i.schema_file).display()
        );
    }
    ExitCode::SUCCESS
}
