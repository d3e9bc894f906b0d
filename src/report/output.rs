//! Output files are written whole or not at all: the bytes go to a
//! temporary file beside the target, which is flushed to disk and then
//! renamed over it. A reader never sees half a file, and a failure leaves
//! any earlier file in place.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::Error;

/// Temporary files being written now (removed by [`remove_pending`] when
/// the process is interrupted).
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    PENDING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes the temporary files of writes in progress: called when the
/// process is interrupted, so it leaves no partial file behind.
pub fn remove_pending() {
    for tmp in pending().drain(..) {
        let _ = fs::remove_file(tmp);
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let fail = |what: &str, e: std::io::Error| {
        Error::Failure(format!("cannot write {}: {what}: {e}", path.display()))
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    if !dir.is_dir() {
        return Err(Error::Failure(format!(
            "cannot write {}: the directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    pending().push(tmp.clone());
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| fail("creating a temporary file", e))?;
        f.write_all(bytes).map_err(|e| fail("writing", e))?;
        f.sync_all().map_err(|e| fail("flushing to disk", e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| fail("renaming into place", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    pending().retain(|p| *p != tmp);
    result
}

/// Serialises `value` as pretty JSON (with a final newline) and writes it
/// atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Failure(format!("cannot encode JSON: {e}")))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Serialises `value` as compact JSON (one line) and writes it atomically:
/// for machine files such as shards and checkpoints.
pub fn write_json_compact<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let mut bytes = serde_json::to_vec(value)
        .map_err(|e| Error::Failure(format!("cannot encode JSON: {e}")))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope").join("out.json");
        assert!(write_atomic(&path, b"x").is_err());
    }
}
