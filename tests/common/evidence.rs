//! Scratch directories that outlive a failing test, so its lake can be inspected.

use std::path::Path;

use tempfile::TempDir;

/// A temporary directory, removed when the test passes and kept (its path printed) when
/// the test panics: a rare failure is worth nothing without the files that show it.
pub struct Evidence(Option<TempDir>);

impl Evidence {
    pub fn new() -> Self {
        Self(Some(
            tempfile::tempdir().expect("create a temporary directory"),
        ))
    }

    pub fn path(&self) -> &Path {
        self.0.as_ref().expect("present until dropped").path()
    }
}

impl Drop for Evidence {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(dir) = self.0.take() {
                eprintln!(
                    "test failed; its files are kept at {}",
                    dir.keep().display()
                );
            }
        }
    }
}
