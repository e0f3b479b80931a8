//! The state directory's files, kept private: the directory is created `0700` and must be
//! the user's own, and the runtime's files in it (checkpoints, the process id) are written
//! to a fresh temporary file and renamed into place, never through a symbolic link. A
//! predictable directory under `/tmp` that another user planted, or a link planted in it,
//! must not let the runtime write where it should not or read state that is not its own.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{}: {why}", path.display()),
    )
}

/// Creates `dir` (and its parents) if missing, the last one `0700`, and checks it is a real
/// directory (not a symbolic link) owned by this user, tightening its mode to `0700`.
pub(crate) fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(refused(dir, "the state directory is a symbolic link"));
    }
    if !meta.is_dir() {
        return Err(refused(dir, "the state directory is not a directory"));
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if meta.uid() != uid {
        return Err(refused(
            dir,
            &format!(
                "the state directory belongs to uid {}, not to this user ({uid})",
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `name` in `dir` atomically and privately (`0600`): a fresh temporary file,
/// created exclusively and never through a link, then renamed over the old file (a rename
/// replaces a link itself, not what it points to).
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))
}

/// Reads a file of the state directory as text, refusing a symbolic link.
pub(crate) fn read_to_string(path: &Path) -> io::Result<String> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("kstreams-private-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn the_directory_is_private_and_a_loose_one_is_tightened() {
        let base = scratch("dir");
        let dir = base.join("state");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let link = base.join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = ensure_private_dir(&link).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let _ = std::fs::remove_dir_all(base);
    }

    #[test]
    fn links_planted_in_the_directory_are_neither_followed_nor_read() {
        let base = scratch("links");
        let dir = base.join("state");
        ensure_private_dir(&dir).unwrap();
        let victim = base.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        // A link where the temporary file goes, and one where the file itself goes.
        std::os::unix::fs::symlink(&victim, dir.join(".checkpoint.tmp")).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join(".checkpoint")).unwrap();
        assert!(
            read_to_string(&dir.join(".checkpoint")).is_err(),
            "a link is not read"
        );
        write_atomically(&dir, ".checkpoint", b"0\n0\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(read_to_string(&dir.join(".checkpoint")).unwrap(), "0\n0\n");
        let mode = std::fs::symlink_metadata(dir.join(".checkpoint"))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(base);
    }
}
