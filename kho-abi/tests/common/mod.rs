//! Helpers shared by the CLI tests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A file under the temp dir, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// A fresh path (not created) whose name carries `tag`.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("kho-abi-test-{}-{tag}-{n}.img", std::process::id());
        TempFile(std::env::temp_dir().join(name))
    }

    /// A file holding `bytes`.
    pub fn with(tag: &str, bytes: &[u8]) -> Self {
        let f = Self::new(tag);
        std::fs::write(&f.0, bytes).unwrap();
        f
    }

    /// The path as text (temp paths here are UTF-8).
    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
