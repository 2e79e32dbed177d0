//! A real `redis-server` for the cluster scenarios (spec §17): started on
//! a free loopback port with no persistence, in the scenario's state
//! directory, and stopped or restarted on the same port when a scenario
//! says so. Never a mock: if `redis-server` is not installed, the cluster
//! scenarios are skipped (or fail, with [`REQUIRE_REDIS`] set).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// Set (to anything but `0`) to make a missing `redis-server` a failure
/// rather than a reason to skip: `.ci/run` sets it.
pub const REQUIRE_REDIS: &str = "TAGARELA_REQUIRE_REDIS";

/// How long Redis may take to accept connections.
const START_WAIT: Duration = Duration::from_secs(5);

/// Where `redis-server` is on the `PATH`, if it is installed.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
}

/// Whether a missing `redis-server` must fail the run.
pub fn required() -> bool {
    std::env::var(REQUIRE_REDIS).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A running (or stopped) `redis-server` of one scenario.
#[derive(Debug)]
pub struct Redis {
    binary: PathBuf,
    dir: PathBuf,
    /// Its port, kept across restarts.
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts one on a free loopback port, with `dir` as its directory.
    pub async fn start(binary: PathBuf, dir: &Path) -> Result<Redis, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut redis = Redis {
            binary,
            dir: dir.to_owned(),
            port,
            child: None,
        };
        redis.resume().await?;
        Ok(redis)
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Sends one command (RESP) and returns the first line of the reply;
    /// an error reply is an `Err`.
    pub async fn command(&self, args: &[&str]) -> Result<String, String> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .map_err(|e| format!("redis: {e}"))?;
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        stream
            .write_all(&out)
            .await
            .map_err(|e| format!("redis: {e}"))?;
        let mut reply = String::new();
        let mut stream = BufReader::new(stream);
        tokio::time::timeout(START_WAIT, stream.read_line(&mut reply))
            .await
            .map_err(|_| "redis: no reply".to_owned())?
            .map_err(|e| format!("redis: {e}"))?;
        let reply = reply.trim_end().to_owned();
        match reply.strip_prefix('-') {
            Some(error) => Err(format!("redis: {error}")),
            None => Ok(reply),
        }
    }

    /// Kills it (SIGKILL: nothing is saved, as in a crash).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn resume(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.join("redis.log"))
            .map_err(|e| format!("redis log: {e}"))?;
        let child = Command::new(&self.binary)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start redis-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 16];
                if s.write_all(b"PING\r\n").await.is_ok()
                    && matches!(tokio::time::timeout(START_WAIT, s.read(&mut buf)).await, Ok(Ok(n)) if buf[..n].starts_with(b"+PONG"))
                {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("redis-server did not answer on port {}", self.port));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A TCP relay between one node and Redis that a scenario can cut and
/// mend (`node N cut` / `node N mend`): cut, it carries nothing either
/// way but keeps every connection open, as a network that stops carrying
/// a node's traffic to Redis (and nothing else) would; mended, it carries
/// again, starting with what it held (as TCP would retransmit it).
#[derive(Debug)]
pub struct Relay {
    /// Where the node connects, instead of Redis.
    pub port: u16,
    cut: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Relays 127.0.0.1:(a free port) to Redis on `upstream`.
    pub async fn start(upstream: u16) -> Result<Relay, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("relay: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("relay: {e}"))?
            .port();
        let (cut, watch) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let watch = watch.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(carry(cr, sw, watch.clone()), carry(sr, cw, watch));
                });
            }
        });
        Ok(Relay { port, cut, task })
    }

    /// Stops carrying anything (`true`) or carries again (`false`).
    pub fn set_cut(&self, cut: bool) {
        let _ = self.cut.send(cut);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, holding what it read while the relay is cut.
async fn carry(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut cut: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while *cut.borrow() {
            if cut.changed().await.is_err() {
                return;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
