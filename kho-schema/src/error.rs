//! The one error type of kho-schema.

use std::fmt;

use crate::diag::{Diag, Diags};
use crate::fs::{FsError, FsErrorKind};
#[cfg(feature = "emit")]
use crate::project::Problem;

/// Why a kho-schema operation failed.
///
/// Its [`Display`](fmt::Display) is what a tool prints: one line per
/// problem, each naming its place (`file:line:col: message` for a schema,
/// the path for a file). [`source`](std::error::Error::source) is the
/// operating system's error where there is one.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The schemas do not compile, or a schema file or directory cannot be
    /// read: every diagnostic, each with its place, in the order found.
    Schema(Diags),
    /// A file or directory was refused (a FIFO, a symlink where kho writes,
    /// too large, a path that leaves its directory) or the operating
    /// system failed: its path and why.
    Fs(FsError),
    /// `abi.lock` is not a lock file: what is wrong, starting `abi.lock:`.
    Lock(String),
    /// What [`Project::generate`](crate::project::Project::generate)
    /// refused, writing nothing: layouts changed without a version bump,
    /// files under `generated/` that are not kho's to touch, a failed
    /// write. One problem each, in the order found.
    #[cfg(feature = "emit")]
    Project(Vec<Problem>),
    /// [`Config::generate`](crate::Config::generate) has no output
    /// directory: `OUT_DIR` is not set and none was given.
    NoOutDir,
}

impl Error {
    /// The schema diagnostics of an [`Error::Schema`], each with its place;
    /// none for any other error.
    pub fn diagnostics(&self) -> &[Diag] {
        match self {
            Error::Schema(d) => &d.list,
            _ => &[],
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Schema(d) => write!(f, "{d}"),
            Error::Fs(e) => write!(f, "{e}"),
            Error::Lock(msg) => f.write_str(msg),
            #[cfg(feature = "emit")]
            Error::Project(problems) => {
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
            Error::NoOutDir => {
                f.write_str("OUT_DIR is not set: call out_dir() outside a build script")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Fs(FsError {
                kind: FsErrorKind::Io(e),
                ..
            }) => Some(e),
            _ => None,
        }
    }
}

impl From<Diags> for Error {
    fn from(d: Diags) -> Self {
        Error::Schema(d)
    }
}

impl From<FsError> for Error {
    fn from(e: FsError) -> Self {
        Error::Fs(e)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn an_io_failure_is_the_source() {
        let missing = std::env::temp_dir().join("kho-schema-error-test-missing.toml");
        let e = Error::Fs(crate::fs::read_text(&missing, 16).unwrap_err());
        let source = e.source().expect("an io::Error source");
        let io = source.downcast_ref::<std::io::Error>().expect("io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        assert!(e
            .to_string()
            .starts_with(&format!("{}: ", missing.display())));
    }

    #[test]
    fn a_refusal_has_no_source() {
        let e = Error::Fs(crate::fs::read_text(std::path::Path::new("/dev/null"), 16).unwrap_err());
        assert!(e.source().is_none());
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(Error::NoOutDir.source().is_none());
    }
}
