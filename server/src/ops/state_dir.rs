//! Where the server keeps its files when the operator names none: a
//! per-user state directory, `$XDG_STATE_HOME/tagarela` or
//! `~/.local/state/tagarela`, created owner-only (0700). Only paths and
//! directory creation live here; it must never open the files themselves.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why no state directory could be had.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    /// Neither variable gives an absolute path.
    #[error("neither XDG_STATE_HOME nor HOME is set to an absolute path")]
    NoHome,
    /// The directory could not be created.
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The state directory from these variables' values, without touching the
/// file system. An XDG_STATE_HOME that is not absolute is ignored, as the
/// XDG Base Directory specification says.
pub fn locate(xdg_state_home: Option<&str>, home: Option<&str>) -> Result<PathBuf, StateDirError> {
    fn absolute(v: Option<&str>) -> Option<&Path> {
        v.map(Path::new).filter(|p| p.is_absolute())
    }
    if let Some(state) = absolute(xdg_state_home) {
        return Ok(state.join("tagarela"));
    }
    absolute(home)
        .map(|home| home.join(".local/state/tagarela"))
        .ok_or(StateDirError::NoHome)
}

/// The state directory of the user running the server, created (with any
/// missing parents) owner-only if it does not exist yet.
pub fn ensure() -> Result<PathBuf, StateDirError> {
    let xdg = std::env::var("XDG_STATE_HOME").ok();
    let home = std::env::var("HOME").ok();
    let dir = locate(xdg.as_deref(), home.as_deref())?;
    create_owner_only(&dir)?;
    Ok(dir)
}

/// Creates `dir` and its missing parents with mode 0700. An existing
/// directory is left as it is.
pub fn create_owner_only(dir: &Path) -> Result<(), StateDirError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StateDirError::Create {
            path: dir.to_owned(),
            source,
        })?;
    if let Ok(meta) = std::fs::metadata(dir)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(dir = %dir.display(), "state directory is readable by others");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_state_home_wins_over_home_when_absolute() {
        assert_eq!(
            locate(Some("/s"), Some("/h")).unwrap(),
            PathBuf::from("/s/tagarela")
        );
        assert_eq!(
            locate(Some("relative"), Some("/h")).unwrap(),
            PathBuf::from("/h/.local/state/tagarela")
        );
        assert_eq!(
            locate(None, Some("/h")).unwrap(),
            PathBuf::from("/h/.local/state/tagarela")
        );
        assert!(locate(None, None).is_err());
    }

    #[test]
    fn created_directories_are_owner_only() {
        let base = std::env::temp_dir().join(format!("tagarela-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("a/tagarela");
        create_owner_only(&dir).unwrap();
        for d in [&base.join("a"), &dir] {
            let mode = std::fs::metadata(d).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", d.display());
        }
        let _ = std::fs::remove_dir_all(&base);
    }
}
