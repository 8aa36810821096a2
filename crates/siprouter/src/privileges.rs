//! Running as another user and group (`-u`/`-g`, `user=`/`group=`), as Kamailio does: the
//! names are resolved at start-up (a bad name stops start-up before anything is bound), and
//! the switch happens after every socket is bound, so ports below 1024 still work.
//!
//! A user alone also sets the group to the user's primary group; the supplementary groups
//! become the user's own (`initgroups`), or just the group when only a group is given.
//!
//! `-t DIR` (change root), `-w DIR` (working directory) and the `-P`/`-G` files happen at the
//! same point, before the switch, as Kamailio does them: a change of root needs the
//! privileges the switch gives up. The config path was made absolute at start-up; after
//! `-t` a reload reads it inside the new root. Host names are resolved by the system's
//! resolver inside the new root too (it needs `/etc/resolv.conf` and NSS there), and syslog
//! needs `/dev/log` there.

use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Group, Uid, User};

/// Whom to run as, resolved from names or numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunAs {
    user: Option<User>,
    gid: Option<Gid>,
}

/// What happens once the sockets are bound, before the user switch, in Kamailio's order
/// (`daemonize()`): the change of root (`-t`), the working directory (`-w`), then the pid
/// files (`-P`, `-G`), so that relative pid file paths are relative to the new directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Confine {
    /// `-t`: the new root.
    pub(crate) chroot: Option<PathBuf>,
    /// `-w`: the working directory, inside the new root after `-t` (`/` when not given
    /// with `-t`; without either, siprouter stays where it was started, unlike Kamailio,
    /// which enters `/`).
    pub(crate) work_dir: Option<PathBuf>,
    /// `-P`: the pid file.
    pub(crate) pid_file: Option<PathBuf>,
    /// `-G`: the process group id file.
    pub(crate) pgid_file: Option<PathBuf>,
}

impl Confine {
    /// Changes root and directory and writes the pid files as asked. The files are removed
    /// when the returned guards are dropped.
    pub(crate) fn apply(&self) -> Result<Vec<PidFile>, ConfineError> {
        let dir_error = |what, dir: &PathBuf| {
            let dir = dir.clone();
            move |source| ConfineError::Dir { what, dir, source }
        };
        if let Some(root) = &self.chroot {
            std::os::unix::fs::chroot(root).map_err(dir_error("change root to", root))?;
            // The old directory is outside the new root: leave it before anything else.
            let top = PathBuf::from("/");
            std::env::set_current_dir(&top)
                .map_err(dir_error("change the working directory to", &top))?;
        }
        if let Some(dir) = &self.work_dir {
            std::env::set_current_dir(dir)
                .map_err(dir_error("change the working directory to", dir))?;
        }
        let mut files = Vec::new();
        if let Some(path) = &self.pid_file {
            files.push(PidFile::write("pid", path, std::process::id())?);
        }
        if let Some(path) = &self.pgid_file {
            let pgid = nix::unistd::getpgrp().as_raw();
            let own = u32::try_from(pgid).is_ok_and(|g| g == std::process::id());
            if own {
                files.push(PidFile::write("pgid", path, std::process::id())?);
            } else {
                // As Kamailio: a group that is not ours (the shell's, a supervisor's) is not
                // one to signal, so no (stale) file names it.
                tracing::warn!(
                    "siprouter does not lead its own process group ({pgid}): no pgid file {}",
                    path.display()
                );
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(files)
    }
}

/// `-P` or `-G`: a file that holds an id while siprouter runs, removed at a clean exit.
#[derive(Debug)]
pub(crate) struct PidFile(PathBuf);

impl PidFile {
    fn write(what: &'static str, path: &Path, id: u32) -> Result<PidFile, ConfineError> {
        std::fs::write(path, format!("{id}\n")).map_err(|source| ConfineError::File {
            what,
            path: path.to_path_buf(),
            source,
        })?;
        // Removed by its absolute name, in case the directory changes meanwhile.
        Ok(PidFile(absolute(path)))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove {}: {e}", self.0.display()),
        }
    }
}

/// `path` made absolute against the current directory (unchanged if that fails).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `-t`, `-w`, `-P` or `-G` failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfineError {
    /// A directory could not be entered.
    #[error("cannot {what} {}: {source}", dir.display())]
    Dir {
        /// What was being done.
        what: &'static str,
        /// The directory.
        dir: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A pid file could not be written.
    #[error("cannot write the {what} file {}: {source}", path.display())]
    File {
        /// Which file (`pid`, `pgid`).
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
}

/// A user or group that does not exist.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PrivilegeError {
    /// No such user name or uid.
    #[error("bad user name/uid number: {0}")]
    User(String),
    /// No such group name or gid.
    #[error("bad group name/gid number: {0}")]
    Group(String),
    /// The system refused the switch.
    #[error("cannot switch to {what}: {source}")]
    Switch {
        /// What was being set.
        what: &'static str,
        /// The system's error.
        source: nix::Error,
    },
}

impl RunAs {
    /// Resolves `user` and `group` (names or numbers); `None` when neither is given.
    pub(crate) fn resolve(
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<Option<RunAs>, PrivilegeError> {
        if user.is_none() && group.is_none() {
            return Ok(None);
        }
        let user = match user {
            None => None,
            Some(u) => Some(lookup_user(u).ok_or_else(|| PrivilegeError::User(u.into()))?),
        };
        let gid = match group {
            Some(g) => Some(lookup_group(g).ok_or_else(|| PrivilegeError::Group(g.into()))?),
            None => user.as_ref().map(|u| u.gid),
        };
        Ok(Some(RunAs { user, gid }))
    }

    /// Switches the whole process (every thread) to the group, then to the user.
    pub(crate) fn apply(&self) -> Result<(), PrivilegeError> {
        let switch = |what| move |source| PrivilegeError::Switch { what, source };
        if let Some(gid) = self.gid {
            match &self.user {
                Some(u) => {
                    let name = std::ffi::CString::new(u.name.as_bytes())
                        .map_err(|_| PrivilegeError::User(u.name.clone()))?;
                    nix::unistd::initgroups(&name, gid).map_err(switch("the user's groups"))?;
                }
                None => nix::unistd::setgroups(&[gid]).map_err(switch("the group list"))?,
            }
            nix::unistd::setgid(gid).map_err(switch("the group"))?;
        }
        if let Some(u) = &self.user {
            nix::unistd::setuid(u.uid).map_err(switch("the user"))?;
        }
        Ok(())
    }

    /// `user uid, group gid` for the log.
    pub(crate) fn describe(&self) -> String {
        let user = self
            .user
            .as_ref()
            .map_or_else(String::new, |u| format!("user {} ({}) ", u.name, u.uid));
        let group = self.gid.map_or_else(String::new, |g| format!("group {g}"));
        format!("{user}{group}").trim_end().to_string()
    }
}

/// A user by name, else by number (a number with no passwd entry still works, as in
/// Kamailio, with itself as its group).
fn lookup_user(u: &str) -> Option<User> {
    if let Ok(Some(user)) = User::from_name(u) {
        return Some(user);
    }
    let uid: u32 = u.parse().ok()?;
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => Some(user),
        _ => Some(User {
            name: u.into(),
            passwd: Default::default(),
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(uid),
            gecos: Default::default(),
            dir: Default::default(),
            shell: Default::default(),
        }),
    }
}

/// A group by name, else by number.
fn lookup_group(g: &str) -> Option<Gid> {
    if let Ok(Some(group)) = Group::from_name(g) {
        return Some(group.gid);
    }
    g.parse().ok().map(Gid::from_raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_resolve() {
        let root = RunAs::resolve(Some("root"), None).ok().flatten();
        assert_eq!(root.as_ref().and_then(|r| r.gid), Some(Gid::from_raw(0)));
        let by_number = RunAs::resolve(Some("0"), Some("0")).ok().flatten();
        assert_eq!(
            by_number.and_then(|r| r.user).map(|u| u.name),
            Some("root".into())
        );
        assert!(RunAs::resolve(None, None).ok().flatten().is_none());
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(matches!(
            RunAs::resolve(Some("no-such-user-here"), None),
            Err(PrivilegeError::User(_))
        ));
        assert!(matches!(
            RunAs::resolve(None, Some("no-such-group-here")),
            Err(PrivilegeError::Group(_))
        ));
    }
}
