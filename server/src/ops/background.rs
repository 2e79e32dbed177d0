//! Running the server in the background for a person at a terminal
//! (`--background`, `--stop`): the README's first command must be safe to
//! run twice and easy to stop. The server is started as a child process of
//! its own binary, detached from the terminal's process group, logging to a
//! file in the state directory; a pid file beside it records which process
//! serves which `--listen`/`--port`, so `--stop` stops that one server and
//! no other. Linux only (it reads `/proc/PID/exe`). It never serves
//! connections itself.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting server may take to say it is listening.
const START_WAIT: Duration = Duration::from_secs(10);
/// How long `--stop` waits for the server to exit after SIGTERM (its
/// shutdown grace is 3 s by default).
const STOP_WAIT: Duration = Duration::from_secs(10);
/// The first line a server prints on stdout once it listens.
const LISTENING: &str = "tagarela-server listening on ";

/// Why a background start or stop failed. The text is for the person at
/// the terminal: it says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackgroundError {
    /// A server from another build holds this address.
    #[error(
        "a tagarela-server from another build (pid {pid}, {exe}) is running on {addr}.\nStop it first with: {stop}"
    )]
    OtherBuild {
        pid: u32,
        exe: String,
        addr: String,
        stop: String,
    },
    /// The child did not report listening.
    #[error("tagarela-server did not start. The end of its log ({log}):\n{tail}")]
    DidNotStart { log: String, tail: String },
    /// `--stop` found no server of ours for this address.
    #[error("no background tagarela-server is running for {0} (nothing to stop)")]
    NotRunning(String),
    /// The process did not exit after SIGTERM.
    #[error("tagarela-server (pid {0}) did not exit within {STOP_WAIT:?} of SIGTERM")]
    StillRunning(u32),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackgroundError {
    let what = what.into();
    move |source| BackgroundError::Io { what, source }
}

/// The files of the background server for one `--listen`/`--port`.
#[derive(Debug, Clone)]
pub struct Files {
    /// `pid` on the first line, the bound address on the second.
    pub pid: PathBuf,
    /// The server's stderr (its log), appended.
    pub log: PathBuf,
}

impl Files {
    /// The files in `state_dir` for a server on `listen`:`port`.
    pub fn new(state_dir: &Path, listen: &str, port: u16) -> Files {
        let slug: String = listen
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Files {
            pid: state_dir.join(format!("server-{slug}-{port}.pid")),
            log: state_dir.join(format!("server-{slug}-{port}.log")),
        }
    }
}

/// A live background server, as its pid file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Running {
    pid: u32,
    addr: String,
}

/// What `--background` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// A new server now listens on this address.
    New { pid: u32, addr: String },
    /// This very build was already serving this address.
    AlreadyRunning { pid: u32, addr: String },
}

/// Starts `exe` with `args` in the background, unless the same build is
/// already serving (then it is reused) or another build is (an error, so
/// nobody silently joins an old server).
pub fn start(exe: &Path, args: &[OsString], files: &Files) -> Result<Started, BackgroundError> {
    if let Some(running) = read_running(&files.pid)? {
        return match process_exe(running.pid) {
            Some(theirs) if theirs == exe => Ok(Started::AlreadyRunning {
                pid: running.pid,
                addr: running.addr,
            }),
            Some(theirs) => Err(BackgroundError::OtherBuild {
                pid: running.pid,
                exe: theirs.display().to_string(),
                addr: running.addr,
                stop: format!("{} --stop", exe.display()),
            }),
            None => {
                // A stale pid file: that server is gone.
                let _ = std::fs::remove_file(&files.pid);
                start(exe, args, files)
            }
        };
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&files.log)
        .map_err(io(format!("cannot open {}", files.log.display())))?;
    let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        // Its own process group: Ctrl-C in this terminal must not stop it.
        .process_group(0)
        .spawn()
        .map_err(io(format!("cannot start {}", exe.display())))?;
    let stdout = child.stdout.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(START_WAIT).unwrap_or_default();
    match line
        .trim_end()
        .strip_prefix(LISTENING)
        .and_then(|rest| rest.split_whitespace().next())
    {
        Some(addr) => {
            let pid = child.id();
            write_pid_file(&files.pid, pid, addr)?;
            Ok(Started::New {
                pid,
                addr: addr.to_owned(),
            })
        }
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(BackgroundError::DidNotStart {
                log: files.log.display().to_string(),
                tail: log_tail(&files.log, log_start),
            })
        }
    }
}

/// Stops the background server recorded in `files` (SIGTERM, so it says
/// `BYE shutdown` to everyone) and waits for it to exit.
pub fn stop(files: &Files, what: &str) -> Result<Stopped, BackgroundError> {
    let Some(running) = read_running(&files.pid)? else {
        return Err(BackgroundError::NotRunning(what.to_owned()));
    };
    let is_server = process_exe(running.pid).is_some_and(|exe| {
        exe.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tagarela-server"))
    });
    if !is_server {
        let _ = std::fs::remove_file(&files.pid);
        return Err(BackgroundError::NotRunning(what.to_owned()));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(running.pid).unwrap_or(i32::MAX));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).map_err(|e| {
        BackgroundError::Io {
            what: format!("cannot signal pid {}", running.pid),
            source: std::io::Error::from(e),
        }
    })?;
    let deadline = Instant::now() + STOP_WAIT;
    while Path::new(&format!("/proc/{}", running.pid)).exists() && !is_zombie(running.pid) {
        if Instant::now() >= deadline {
            return Err(BackgroundError::StillRunning(running.pid));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(&files.pid);
    Ok(Stopped {
        pid: running.pid,
        addr: running.addr,
    })
}

/// A server that `stop` stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// Its process id.
    pub pid: u32,
    /// The address it served.
    pub addr: String,
}

fn read_running(path: &Path) -> Result<Option<Running>, BackgroundError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("cannot read {}", path.display()))(e)),
    };
    let mut lines = text.lines();
    let pid = lines.next().and_then(|l| l.trim().parse().ok());
    let addr = lines.next().unwrap_or("").trim().to_owned();
    match pid {
        Some(pid) if process_exe(pid).is_some() => Ok(Some(Running { pid, addr })),
        _ => {
            let _ = std::fs::remove_file(path);
            Ok(None)
        }
    }
}

fn write_pid_file(path: &Path, pid: u32, addr: &str) -> Result<(), BackgroundError> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("cannot write {}", path.display())))?;
    writeln!(file, "{pid}\n{addr}").map_err(io(format!("cannot write {}", path.display())))
}

/// The executable of a live process, if it is alive and not a zombie. A
/// binary replaced since the process started (a rebuild) reads as
/// `PATH (deleted)`, which never equals a current path.
fn process_exe(pid: u32) -> Option<PathBuf> {
    if is_zombie(pid) {
        return None;
    }
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The last lines the server wrote to its log since `from`.
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.seek(SeekFrom::Start(from));
        let _ = file.take(64 * 1024).read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("\n");
    if tail.is_empty() {
        "(empty)".to_owned()
    } else {
        tail
    }
}
