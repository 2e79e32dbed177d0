//! The scenario language (documented in `conformance/scenarios/README.md`):
//! parses `.scn` files into [`Scenario`]s. One step per line; `#` starts a
//! comment. Parsing only: nothing here opens a socket.

use std::path::Path;

use crate::pattern::Pattern;

/// One scenario: a fresh server and a list of steps.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub spec: Vec<String>,
    /// `file:line` where it starts.
    pub origin: String,
    /// Extra `tagarela-server` flags, as `--flag value` or `--flag`.
    pub server_args: Vec<String>,
    /// `cluster: N`: N servers (nodes 1..=N) sharing one fresh
    /// `redis-server` (spec §17); `None`: one server on its own.
    pub cluster: Option<usize>,
    pub steps: Vec<Step>,
}

/// A step and the source line it came from.
#[derive(Debug, Clone)]
pub struct Step {
    pub line: usize,
    pub text: String,
    pub kind: StepKind,
}

/// How bytes are written by `->`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// One write, LF appended.
    Line,
    /// One write, nothing appended.
    Raw,
    /// One write per octet, LF appended.
    Bytewise,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// `connect NAME [@N]`: a raw TCP client (to node N of a cluster).
    Connect { peer: String, node: usize },
    /// `connect NAME tls-port`: a raw TCP client, in plain text, to the
    /// server's TLS port.
    ConnectPlainToTls(String),
    /// `connect-tls NAME`: a raw client over TLS to the TLS port, trusting
    /// the server's (self-signed) certificate.
    ConnectTls(String),
    /// `join NAME [@N]`: connect (to node N), read HELLO, register NAME,
    /// read WELCOME.
    Join { peer: String, node: usize },
    /// `spawn NAME client ARGS...`: the client binary in scripted mode.
    Spawn { peer: String, args: Vec<String> },
    /// `spawn NAME irc-library [NICK]`: Python's `irc` package registering
    /// as NICK (default: NAME) on the IRC port, through
    /// `conformance/irc-library/peer.py`.
    SpawnIrcLibrary { peer: String, nick: String },
    /// `NAME -> TEXT` (and `->raw`, `->bytes`).
    Send {
        peer: String,
        bytes: Vec<u8>,
        mode: SendMode,
    },
    /// `NAME <- PATTERN`, or `NAME <- (within Ns) PATTERN` for a longer
    /// wait than the default.
    Expect {
        peer: String,
        pattern: Pattern,
        wait: Option<std::time::Duration>,
    },
    /// `NAME <- nothing`: a ping barrier proves nothing else arrived.
    Nothing(String),
    /// `NAME <- eof`: the connection (or output) ends next.
    Eof(String),
    /// `NAME <- ... eof`: any lines, then the end, within the wait.
    SkipToEof(String),
    /// `NAME <- exit N`: the process (a client, or `server`) exits with N.
    Exit { peer: String, code: i32 },
    /// `NAME close`: close the socket (or a client's stdin).
    Close(String),
    /// `NAME reset`: abort the connection with RST.
    Reset(String),
    /// `NAME silent`: stop answering the server's PING (peers answer and
    /// hide PINGs by default, as real clients do).
    Silent(String),
    /// `server kill TERM|KILL` (node 1), `node N kill TERM|KILL|STOP|CONT`
    /// (STOP freezes a node: its sockets stay open, it answers nothing).
    Kill { node: usize, signal: String },
    /// `node N start`: start node N again (after `kill`), with the same
    /// flags and node id; waits until it is in the cluster, or (`node N
    /// start out`) only until it listens.
    NodeStart { node: usize, wait_in: bool },
    /// `node N cut` / `node N mend`: the network between node N and Redis
    /// drops everything / works again (its clients are not affected);
    /// `mend` waits until the node is back in the cluster.
    NodeCut { node: usize, cut: bool },
    /// `redis stop`: kill the cluster's Redis (nothing saved).
    RedisStop,
    /// `redis start`: start it again, empty, on the same port.
    RedisStart,
    /// `redis library N`: replace the cluster's functions in Redis by a
    /// library that says it is of version N and does nothing else (nodes
    /// of another version must refuse it, §17.5).
    RedisLibrary(u32),
    /// `node N logs TEXT`: node N's log says TEXT (within the wait);
    /// `node N logs no TEXT`: it does not, now (after a wait for
    /// something logged later, that means never).
    NodeLogs {
        node: usize,
        text: String,
        present: bool,
    },
    /// `race A B ... -> NAME`: all send NAME at once; exactly one wins.
    Race { peers: Vec<String>, name: String },
    /// `pump FROM -> TO COUNT SIZE`: FROM sends COUNT numbered lines of SIZE
    /// octets in rounds; TO must receive them all, in order.
    Pump {
        from: String,
        to: String,
        count: usize,
        size: usize,
    },
    /// `mix A,B,... -> TO COUNT`: each sender sends COUNT numbered lines, all
    /// at once; TO must receive every sender's lines once, each in order.
    Mix {
        senders: Vec<String>,
        to: String,
        count: usize,
    },
}

/// Loads every `.scn` file in `dir`, in name order.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "scn"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        all.extend(parse(&name, &text)?);
    }
    Ok(all)
}

/// Parses one file's text.
pub fn parse(file: &str, text: &str) -> Result<Vec<Scenario>, String> {
    let mut out: Vec<Scenario> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |msg: &str| format!("{file}:{line_no}: {msg}: {line}");
        if let Some(name) = line.strip_prefix("scenario:") {
            out.push(Scenario {
                name: name.trim().to_owned(),
                spec: Vec::new(),
                origin: format!("{file}:{line_no}"),
                server_args: Vec::new(),
                cluster: None,
                steps: Vec::new(),
            });
            continue;
        }
        let Some(current) = out.last_mut() else {
            return Err(err("a step before any 'scenario:'"));
        };
        if let Some(spec) = line.strip_prefix("spec:") {
            current.spec = spec
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            continue;
        }
        if let Some(n) = line.strip_prefix("cluster:") {
            let n: usize = n
                .trim()
                .parse()
                .map_err(|_| err("cluster: a number of nodes"))?;
            if !(1..=9).contains(&n) {
                return Err(err("cluster: 1 to 9 nodes"));
            }
            current.cluster = Some(n);
            continue;
        }
        if let Some(args) = line.strip_prefix("server:") {
            current.server_args = args.split_whitespace().map(str::to_owned).collect();
            continue;
        }
        let kind = parse_step(line).map_err(|m| err(&m))?;
        current.steps.push(Step {
            line: line_no,
            text: line.to_owned(),
            kind,
        });
    }
    for s in &out {
        if s.spec.is_empty() {
            return Err(format!(
                "{}: scenario '{}' names no spec section",
                s.origin, s.name
            ));
        }
    }
    Ok(out)
}

fn unescape(s: &str) -> Result<Vec<u8>, String> {
    tagarela_parser::notation::unescape(s).map_err(|e| e.to_string())
}

fn parse_step(line: &str) -> Result<StepKind, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [first, rest @ ..] = words.as_slice() else {
        return Err("empty step".into());
    };
    match (*first, rest) {
        ("connect", [peer]) => return Ok(connect(peer, 1)),
        ("connect", [peer, at]) if at.starts_with('@') => return Ok(connect(peer, node(at)?)),
        ("connect", [peer, "tls-port"]) => {
            return Ok(StepKind::ConnectPlainToTls((*peer).to_owned()));
        }
        ("connect-tls", [peer]) => return Ok(StepKind::ConnectTls((*peer).to_owned())),
        ("join", [peer]) => return Ok(join(peer, 1)),
        ("join", [peer, at]) if at.starts_with('@') => return Ok(join(peer, node(at)?)),
        ("spawn", [peer, "client", args @ ..]) => {
            return Ok(StepKind::Spawn {
                peer: (*peer).to_owned(),
                args: args.iter().map(|a| (*a).to_owned()).collect(),
            });
        }
        ("spawn", [peer, "irc-library"]) => {
            return Ok(StepKind::SpawnIrcLibrary {
                peer: (*peer).to_owned(),
                nick: (*peer).to_owned(),
            });
        }
        ("spawn", [peer, "irc-library", nick]) => {
            return Ok(StepKind::SpawnIrcLibrary {
                peer: (*peer).to_owned(),
                nick: (*nick).to_owned(),
            });
        }
        ("server", ["kill", signal @ ("TERM" | "KILL")]) => {
            return Ok(StepKind::Kill {
                node: 1,
                signal: (*signal).to_owned(),
            });
        }
        ("node", [n, "kill", signal @ ("TERM" | "KILL" | "STOP" | "CONT")]) => {
            return Ok(StepKind::Kill {
                node: node(&format!("@{n}"))?,
                signal: (*signal).to_owned(),
            });
        }
        ("node", [n, what @ ("cut" | "mend")]) => {
            return Ok(StepKind::NodeCut {
                node: node(&format!("@{n}"))?,
                cut: *what == "cut",
            });
        }
        ("node", [n, "start", rest @ ..]) if matches!(rest, [] | ["out"]) => {
            return Ok(StepKind::NodeStart {
                node: node(&format!("@{n}"))?,
                wait_in: rest.is_empty(),
            });
        }
        ("node", [n, "logs", ..]) => {
            let text = line
                .split_once(" logs ")
                .map(|(_, t)| t.to_owned())
                .ok_or("node N logs TEXT")?;
            let (text, present) = match text.strip_prefix("no ") {
                Some(absent) => (absent.to_owned(), false),
                None => (text, true),
            };
            return Ok(StepKind::NodeLogs {
                node: node(&format!("@{n}"))?,
                text,
                present,
            });
        }
        ("redis", ["library", v]) => {
            let version = v.parse().map_err(|_| "redis library N: N a number")?;
            return Ok(StepKind::RedisLibrary(version));
        }
        ("redis", ["stop"]) => return Ok(StepKind::RedisStop),
        ("redis", ["start"]) => return Ok(StepKind::RedisStart),
        ("race", _) => {
            let arrow = rest
                .iter()
                .position(|w| *w == "->")
                .ok_or("race needs '->'")?;
            let (peers, name) = (&rest[..arrow], &rest[arrow + 1..]);
            let [name] = name else {
                return Err("race sends one name".into());
            };
            return Ok(StepKind::Race {
                peers: peers.iter().map(|p| (*p).to_owned()).collect(),
                name: (*name).to_owned(),
            });
        }
        ("pump", [from, "->", to, count, size]) => {
            return Ok(StepKind::Pump {
                from: (*from).to_owned(),
                to: (*to).to_owned(),
                count: count.parse().map_err(|_| "count")?,
                size: size.parse().map_err(|_| "size")?,
            });
        }
        ("mix", [senders, "->", to, count]) => {
            return Ok(StepKind::Mix {
                senders: senders.split(',').map(str::to_owned).collect(),
                to: (*to).to_owned(),
                count: count.parse().map_err(|_| "count")?,
            });
        }
        (peer, ["close"]) => return Ok(StepKind::Close(peer.to_owned())),
        (peer, ["reset"]) => return Ok(StepKind::Reset(peer.to_owned())),
        (peer, ["silent"]) => return Ok(StepKind::Silent(peer.to_owned())),
        _ => {}
    }
    // `PEER OP REST`, where REST keeps its spaces.
    let peer = *first;
    let after_peer = line[peer.len()..].trim_start();
    let (op, arg) = after_peer.split_once(' ').unwrap_or((after_peer, ""));
    let peer = peer.to_owned();
    match op {
        "->" => Ok(StepKind::Send {
            peer,
            bytes: unescape(arg)?,
            mode: SendMode::Line,
        }),
        "->raw" => Ok(StepKind::Send {
            peer,
            bytes: unescape(arg)?,
            mode: SendMode::Raw,
        }),
        "->bytes" => Ok(StepKind::Send {
            peer,
            bytes: unescape(arg)?,
            mode: SendMode::Bytewise,
        }),
        "<-" => match arg.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["nothing"] => Ok(StepKind::Nothing(peer)),
            ["eof"] => Ok(StepKind::Eof(peer)),
            ["...", "eof"] => Ok(StepKind::SkipToEof(peer)),
            ["exit", code] => Ok(StepKind::Exit {
                peer,
                code: code.parse().map_err(|_| "exit code")?,
            }),
            _ => {
                let (wait, arg) = match arg.strip_prefix("(within ") {
                    Some(rest) => {
                        let (secs, rest) = rest.split_once("s) ").ok_or("(within Ns) PATTERN")?;
                        let secs: u64 = secs.parse().map_err(|_| "(within Ns): N seconds")?;
                        (Some(std::time::Duration::from_secs(secs)), rest)
                    }
                    None => (None, arg),
                };
                Ok(StepKind::Expect {
                    peer,
                    pattern: Pattern::new(arg)?,
                    wait,
                })
            }
        },
        _ => Err(format!("unknown step '{op}'")),
    }
}

fn connect(peer: &str, node: usize) -> StepKind {
    StepKind::Connect {
        peer: peer.to_owned(),
        node,
    }
}

fn join(peer: &str, node: usize) -> StepKind {
    StepKind::Join {
        peer: peer.to_owned(),
        node,
    }
}

/// `@N`: node N (1 to 9) of a cluster.
fn node(at: &str) -> Result<usize, String> {
    match at.strip_prefix('@').and_then(|n| n.parse().ok()) {
        Some(n @ 1..=9) => Ok(n),
        _ => Err(format!("{at}: a node is @1 to @9")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_scenario() {
        let text = "scenario: x\nspec: §5.2, §7\nserver: --ping-interval 1\njoin a\na -> hi  there\na ->raw no\\slf\na <- MSG {ts} a :{any}\na <- nothing\nrace a b -> bob\npump a -> b 10 100\n";
        let s = parse("f.scn", text).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].spec, vec!["§5.2", "§7"]);
        assert_eq!(s[0].server_args, vec!["--ping-interval", "1"]);
        assert_eq!(s[0].steps.len(), 7);
        match &s[0].steps[1].kind {
            StepKind::Send { bytes, mode, .. } => {
                assert_eq!(bytes, b"hi  there");
                assert_eq!(*mode, SendMode::Line);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            parse("f.scn", "scenario: y\njoin a\n").is_err(),
            "spec is required"
        );
        assert!(parse("f.scn", "scenario: y\nspec: §1\na frobnicate\n").is_err());
        let c = parse(
            "f.scn",
            "scenario: c\nspec: §17\ncluster: 3\njoin a @2\nnode 3 kill KILL\na <- (within 9s) LEAVE {ts} b lost\nredis stop\n",
        )
        .unwrap();
        assert_eq!(c[0].cluster, Some(3));
        assert!(matches!(c[0].steps[0].kind, StepKind::Join { node: 2, .. }));
        assert!(matches!(c[0].steps[1].kind, StepKind::Kill { node: 3, .. }));
        assert!(matches!(
            c[0].steps[2].kind,
            StepKind::Expect { wait: Some(w), .. } if w.as_secs() == 9
        ));
        assert!(parse("f.scn", "scenario: y\nspec: §1\njoin a @0\n").is_err());
    }
}
