//! The history store (spec §16): public messages kept in an SQLite file so
//! that a restart loses none of what the room said, within the
//! retention the operator chose. One thread owns the database and writes
//! what connection tasks hand it through a bounded channel, one
//! transaction per batch of what arrives within 10 ms of its first event
//! (group commit); WAL mode, so a reader
//! never blocks it. At start the kept messages are read back for the
//! hub's memory ([`crate::hub::recent`]), which serves every replay: the file
//! is the durable copy, never read while the server runs.
//!
//! Private messages are never written here. The file and its WAL are
//! owner-only. Never touches sockets and never decides delivery.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use tagarela_parser::{Name, RoomName, Text, Timestamp};
use tokio::sync::mpsc;

use crate::event::{Event, EventKind, Seq};
use crate::store::{Entry, EventSink, Recording};

/// Events waiting for the writer at most; a full channel makes senders
/// wait (spec §16.4), it never drops.
const CHANNEL_BOUND: usize = 8192;

/// Most events written in one transaction.
const BATCH_MAX: usize = 4096;

/// How long the writer waits for more after the first event of a batch
/// (group commit): a busy room's messages share a transaction and its
/// sync, instead of one sync for every few messages. Far inside the one
/// second that the durability promise allows (spec §16.4).
const GATHER: Duration = Duration::from_millis(10);

/// How often old messages are deleted, at most.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// Messages a `/history` that names no count returns (spec §16.3).
pub const DEFAULT_PAGE: usize = 50;

/// Attempts at writing one batch before it is given up (and logged).
const WRITE_ATTEMPTS: u32 = 3;

/// The most messages a retention may keep (they are also held in memory).
pub const KEEP_MAX: usize = 1_000_000;

/// How much history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The most messages kept (the newest).
    pub messages: usize,
    /// Messages older than this are dropped; `None`: kept whatever their age.
    pub age: Option<Duration>,
}

impl Default for Retention {
    /// 10,000 messages, for 30 days.
    fn default() -> Self {
        Retention {
            messages: 10_000,
            age: Some(Duration::from_secs(30 * 24 * 3600)),
        }
    }
}

impl Retention {
    /// The oldest timestamp kept when it is `now`, in Unix milliseconds.
    pub fn cutoff_ms(&self, now: Timestamp) -> u64 {
        self.age.map_or(0, |age| {
            now.unix_ms()
                .saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX))
        })
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file could not be created or opened.
    #[error("cannot open history database {path}: {why}")]
    Open { path: PathBuf, why: String },
    /// SQLite refused the file or the schema.
    #[error("history database {path}: {why}")]
    Sqlite { path: PathBuf, why: String },
    /// Another process (a second server on the same state directory)
    /// holds the database.
    #[error(
        "history database {path} is in use by another process (another server on the same state directory?); give this server --history PATH of its own, or --no-history"
    )]
    InUse { path: PathBuf },
}

/// What the store held at start.
#[derive(Debug)]
pub struct Loaded {
    /// The number to give the next event: above every number given before.
    pub next_seq: u64,
    /// The kept public messages of the default room (stored before rooms,
    /// or in it), oldest first.
    pub messages: Vec<Arc<Event>>,
    /// The kept public messages of each other room, by the name stored,
    /// oldest first (§19.4); the hub takes those of its default room's
    /// name as the default room's.
    pub rooms: Vec<(RoomName<'static>, Vec<Arc<Event>>)>,
}

/// The room's history as a server starts with it.
#[derive(Debug)]
pub struct History {
    /// Where messages are written; `None`: kept in memory only, lost when
    /// the server stops (tests).
    pub store: Option<HistoryStore>,
    /// What the store held.
    pub loaded: Loaded,
}

impl History {
    /// History kept in memory only, starting empty.
    pub fn in_memory() -> History {
        History {
            store: None,
            loaded: Loaded {
                next_seq: 1,
                messages: Vec::new(),
                rooms: Vec::new(),
            },
        }
    }
}

/// Handle used by connection tasks; cheap to clone.
#[derive(Debug, Clone)]
pub struct HistoryStore {
    /// To the writer thread.
    tx: mpsc::Sender<Arc<Event>>,
}

/// Owns the writer thread; dropping every [`HistoryStore`] and then
/// calling [`HistoryWriter::finish`] writes what is left and closes.
#[derive(Debug)]
pub struct HistoryWriter {
    thread: JoinHandle<()>,
}

impl HistoryWriter {
    /// Waits for the writer to write everything handed to it.
    pub fn finish(self) {
        if self.thread.join().is_err() {
            tracing::error!("history writer panicked");
        }
    }
}

impl HistoryStore {
    /// Opens (creating, owner-only) the database at `path`, reads back what
    /// `retention` keeps, and starts the writer thread.
    pub fn open(
        path: &Path,
        retention: Retention,
    ) -> Result<(HistoryStore, HistoryWriter, Loaded), HistoryError> {
        let sqlite = |e: rusqlite::Error| HistoryError::Sqlite {
            path: path.to_owned(),
            why: e.to_string(),
        };
        // Created owner-only before SQLite sees it: its WAL and shared
        // memory files take the database file's permissions.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| HistoryError::Open {
                path: path.to_owned(),
                why: e.to_string(),
            })?;
        let db = Connection::open(path).map_err(sqlite)?;
        // One server per database: the write lock taken here is held
        // until the server stops, and a second server fails at once.
        db.busy_timeout(Duration::ZERO).map_err(sqlite)?;
        db.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN IMMEDIATE; COMMIT;")
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    HistoryError::InUse {
                        path: path.to_owned(),
                    }
                }
                _ => sqlite(e),
            })?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA secure_delete = ON;
             CREATE TABLE IF NOT EXISTS message (
                 seq    INTEGER PRIMARY KEY,
                 at_ms  INTEGER NOT NULL,
                 sender TEXT NOT NULL,
                 text   TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS message_at ON message (at_ms);
             CREATE TABLE IF NOT EXISTS meta (
                 key   TEXT PRIMARY KEY,
                 value INTEGER NOT NULL
             );",
        )
        .map_err(sqlite)?;
        add_room_column(&db).map_err(sqlite)?;
        // A file made before (or by hand) is made owner-only too; SQLite
        // gives its WAL the database file's mode.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            HistoryError::Open {
                path: path.to_owned(),
                why: e.to_string(),
            }
        })?;
        prune(&db, retention, crate::event::wall_clock()).map_err(sqlite)?;
        let loaded = load(&db, path, retention).map_err(sqlite)?;
        let (tx, rx) = mpsc::channel(CHANNEL_BOUND);
        // The writer's own clock, for pruning while the room is quiet.
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| HistoryError::Open {
                path: path.to_owned(),
                why: e.to_string(),
            })?;
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || write_loop(db, rx, retention, &timer))
            .map_err(|e| HistoryError::Open {
                path: path.to_owned(),
                why: e.to_string(),
            })?;
        Ok((HistoryStore { tx }, HistoryWriter { thread }, loaded))
    }
}

impl EventSink for HistoryStore {
    fn record(&self, entries: Vec<Entry>) -> Recording<'_> {
        Box::pin(async move {
            for entry in entries {
                // Every event, so the highest number given is kept; only
                // public messages are stored.
                if self.tx.send(entry.event).await.is_err() {
                    tracing::error!("history writer has stopped; message not kept");
                }
            }
        })
    }
}

fn load(db: &Connection, path: &Path, retention: Retention) -> rusqlite::Result<Loaded> {
    let stored_max: Option<i64> = db.query_row("SELECT max(seq) FROM message", [], |r| r.get(0))?;
    let high_water: Option<i64> = db
        .query_row("SELECT value FROM meta WHERE key = 'high_water'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let highest = stored_max.max(high_water).unwrap_or(0);
    let highest = u64::try_from(highest).unwrap_or(0);
    // A new room counts from 1. A room that existed continues above what
    // it stored and above the clock in microseconds: numbers given but
    // never stored (the last moments before a crash, batches the disk
    // refused) are all below that, unless the room had sustained more
    // than a million events a second (§16.1).
    let next_seq = if highest == 0 {
        1
    } else {
        Seq::restart_floor(Seq(highest)).0
    };
    let limit = i64::try_from(retention.messages).unwrap_or(i64::MAX);
    let mut query = db
        .prepare("SELECT seq, at_ms, sender, text, room FROM message ORDER BY seq DESC LIMIT ?1")?;
    let rows = query.query_map(params![limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    let mut messages = Vec::new();
    let mut rooms: Vec<(RoomName<'static>, Vec<Arc<Event>>)> = Vec::new();
    let mut skipped = 0usize;
    for row in rows {
        let (seq, at_ms, sender, text, room) = row?;
        let Some(event) = rebuild(seq, at_ms, sender, text) else {
            skipped += 1;
            continue;
        };
        match room.map(|r| RoomName::new(r).map(RoomName::into_owned)) {
            None => messages.push(Arc::new(event)),
            Some(Err(_)) => skipped += 1,
            Some(Ok(room)) => match rooms.iter_mut().find(|(r, _)| *r == room) {
                Some((_, kept)) => kept.push(Arc::new(event)),
                None => rooms.push((room, vec![Arc::new(event)])),
            },
        }
    }
    if skipped > 0 {
        tracing::warn!(path = %path.display(), rows = skipped, "history rows that are not valid messages were skipped");
    }
    messages.reverse();
    for (_, kept) in &mut rooms {
        kept.reverse();
    }
    Ok(Loaded {
        next_seq,
        messages,
        rooms,
    })
}

/// Adds the `room` column to a database made before rooms (§19.4): its
/// rows, with none, are the default room's.
fn add_room_column(db: &Connection) -> rusqlite::Result<()> {
    let has_room: bool = db
        .prepare("SELECT 1 FROM pragma_table_info('message') WHERE name = 'room'")?
        .exists([])?;
    if !has_room {
        db.execute_batch("ALTER TABLE message ADD COLUMN room TEXT;")?;
    }
    Ok(())
}

/// A stored row as an event; `None` if it is not one the server could
/// have accepted (a hand-edited file).
fn rebuild(seq: i64, at_ms: i64, sender: String, text: String) -> Option<Event> {
    let seq = u64::try_from(seq).ok()?;
    let at = Timestamp::from_unix_ms(u64::try_from(at_ms).ok()?)?;
    let from = Name::new(&sender).ok()?.into_owned();
    let text = Text::new(&text).ok()?.into_owned();
    if text.is_blank() {
        return None;
    }
    Some(Event::new(Seq(seq), at, EventKind::Public { from, text }))
}

fn write_loop(
    mut db: Connection,
    mut rx: mpsc::Receiver<Arc<Event>>,
    retention: Retention,
    timer: &tokio::runtime::Runtime,
) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    let mut last_prune = Instant::now();
    loop {
        match timer.block_on(async { tokio::time::timeout(PRUNE_EVERY, rx.recv()).await }) {
            Ok(Some(first)) => batch.push(first),
            Ok(None) => break,
            // Quiet: only pruning to do.
            Err(_) => {}
        }
        if !batch.is_empty() {
            // What else comes within GATHER joins this batch, unless it
            // is full already (a writer that falls behind never waits).
            // Asleep, the writer costs the senders no wake-up per event.
            drain(&mut rx, &mut batch);
            if batch.len() < BATCH_MAX {
                timer.block_on(async { tokio::time::sleep(GATHER).await });
                drain(&mut rx, &mut batch);
            }
            write_with_retries(&mut db, &batch, timer);
            batch.clear();
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            if let Err(e) = prune(&db, retention, crate::event::wall_clock()) {
                tracing::error!(error = %e, "history: cannot delete old messages");
            }
        }
    }
    if let Err(e) = prune(&db, retention, crate::event::wall_clock()) {
        tracing::error!(error = %e, "history: cannot delete old messages");
    }
}

/// Moves what is waiting into `batch`, up to [`BATCH_MAX`].
fn drain(rx: &mut mpsc::Receiver<Arc<Event>>, batch: &mut Vec<Arc<Event>>) {
    while batch.len() < BATCH_MAX {
        match rx.try_recv() {
            Ok(event) => batch.push(event),
            Err(_) => break,
        }
    }
}

/// Writes `batch`, trying again after a pause if the disk refuses (full,
/// busy); gives up after [`WRITE_ATTEMPTS`], saying so.
fn write_with_retries(db: &mut Connection, batch: &[Arc<Event>], timer: &tokio::runtime::Runtime) {
    let mut pause = Duration::from_millis(100);
    for attempt in 1..=WRITE_ATTEMPTS {
        match write_batch(db, batch) {
            Ok(()) => return,
            Err(e) if attempt < WRITE_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "history: cannot write; trying again");
                timer.block_on(async { tokio::time::sleep(pause).await });
                pause *= 5;
            }
            Err(e) => {
                tracing::error!(error = %e, events = batch.len(), "history: cannot write; these messages are not kept");
            }
        }
    }
}

fn write_batch(db: &mut Connection, batch: &[Arc<Event>]) -> rusqlite::Result<()> {
    let tx = db.transaction()?;
    let mut highest = 0u64;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO message (seq, at_ms, sender, text, room) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for event in batch {
            highest = highest.max(event.seq.0);
            if let EventKind::Public { from, text } = &event.kind {
                let added = insert.execute(params![
                    i64::try_from(event.seq.0).unwrap_or(i64::MAX),
                    i64::try_from(event.at.unix_ms()).unwrap_or(i64::MAX),
                    from.as_str(),
                    text.as_str(),
                    event.room.as_ref().map(RoomName::as_str),
                ])?;
                if added == 0 {
                    tracing::warn!(
                        seq = event.seq.0,
                        "history: a message with this number is already stored; kept the first"
                    );
                }
            }
        }
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('high_water', ?1)
         ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
        params![i64::try_from(highest).unwrap_or(i64::MAX)],
    )?;
    tx.commit()
}

/// Deletes what `retention` no longer keeps.
fn prune(db: &Connection, retention: Retention, now: Timestamp) -> rusqlite::Result<()> {
    let cutoff = i64::try_from(retention.cutoff_ms(now)).unwrap_or(i64::MAX);
    db.execute("DELETE FROM message WHERE at_ms < ?1", params![cutoff])?;
    let keep = i64::try_from(retention.messages.min(KEEP_MAX)).unwrap_or(i64::MAX);
    db.execute(
        "DELETE FROM message WHERE seq <= (SELECT seq FROM message ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
        params![keep],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_db(what: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tagarela-history-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("history.sqlite")
    }

    fn public(seq: u64, at_ms: u64, from: &str, text: &str) -> Arc<Event> {
        Arc::new(Event::new(
            Seq(seq),
            Timestamp::from_unix_ms(at_ms).unwrap(),
            EventKind::Public {
                from: Name::new(from).unwrap().into_owned(),
                text: Text::new(text).unwrap().into_owned(),
            },
        ))
    }

    fn entry(event: Arc<Event>) -> Entry {
        Entry {
            event,
            peer: "127.0.0.1:1".parse().unwrap(),
        }
    }

    fn now_ms() -> u64 {
        crate::event::wall_clock().unix_ms()
    }

    #[tokio::test]
    async fn messages_survive_a_restart_and_numbering_moves_on() {
        let path = temp_db("restart");
        let (store, writer, loaded) = HistoryStore::open(&path, Retention::default()).unwrap();
        assert_eq!(loaded.next_seq, 1);
        assert!(loaded.messages.is_empty());
        let t = now_ms();
        let join = Arc::new(Event::new(
            Seq(1),
            Timestamp::from_unix_ms(t).unwrap(),
            EventKind::Join {
                name: Name::new("ana").unwrap().into_owned(),
            },
        ));
        store
            .record(vec![
                entry(join),
                entry(public(2, t, "ana", "olá")),
                entry(public(3, t + 1, "bob", "oi")),
            ])
            .await;
        drop(store);
        writer.finish();

        let (_store, _writer, loaded) = HistoryStore::open(&path, Retention::default()).unwrap();
        let seqs: Vec<u64> = loaded.messages.iter().map(|e| e.seq.0).collect();
        assert_eq!(seqs, [2, 3], "public messages only, oldest first");
        assert_eq!(loaded.messages[0].kind, public(2, t, "ana", "olá").kind);
        let now_us = crate::event::wall_clock().unix_ms() * 1000;
        assert!(loaded.next_seq > 3 + crate::event::RESTART_GAP - 1);
        assert!(
            loaded.next_seq >= now_us - 60_000_000,
            "above the clock at start"
        );
    }

    /// §19.4: each room's messages come back as that room's; rows from
    /// before rooms (no room) are the default room's.
    #[tokio::test]
    async fn each_rooms_messages_come_back_as_its_own() {
        let path = temp_db("rooms");
        let (store, writer, _) = HistoryStore::open(&path, Retention::default()).unwrap();
        let t = now_ms();
        let in_room = |seq: u64, room: &str, text: &str| {
            let plain = public(seq, t, "ana", text);
            Arc::new(Event::new_in(
                plain.seq,
                plain.at,
                Some(RoomName::new(room.to_owned()).unwrap()),
                plain.kind.clone(),
            ))
        };
        store
            .record(vec![
                entry(public(1, t, "ana", "before rooms")),
                entry(in_room(2, "#general", "in general")),
                entry(in_room(3, "#homework", "due friday")),
                entry(in_room(4, "#homework", "done")),
            ])
            .await;
        drop(store);
        writer.finish();
        let (_store, _writer, loaded) = HistoryStore::open(&path, Retention::default()).unwrap();
        let seqs = |events: &[Arc<Event>]| events.iter().map(|e| e.seq.0).collect::<Vec<_>>();
        assert_eq!(seqs(&loaded.messages), [1], "no room: the default room's");
        let rooms: Vec<(String, Vec<u64>)> = loaded
            .rooms
            .iter()
            .map(|(r, events)| (r.as_str().to_owned(), seqs(events)))
            .collect();
        assert!(
            rooms.contains(&("#general".to_owned(), vec![2])),
            "{rooms:?}"
        );
        assert!(
            rooms.contains(&("#homework".to_owned(), vec![3, 4])),
            "{rooms:?}"
        );
    }

    /// A database made before rooms gets the room column, and its rows
    /// stay the default room's.
    #[tokio::test]
    async fn a_database_from_before_rooms_is_read_as_the_default_rooms() {
        let path = temp_db("before-rooms");
        {
            let db = Connection::open(&path).unwrap();
            db.execute_batch(
                "CREATE TABLE message (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, sender TEXT NOT NULL, text TEXT NOT NULL);",
            )
            .unwrap();
            db.execute(
                "INSERT INTO message (seq, at_ms, sender, text) VALUES (7, ?1, 'bob', 'old')",
                params![i64::try_from(now_ms()).unwrap()],
            )
            .unwrap();
        }
        let (_store, _writer, loaded) = HistoryStore::open(&path, Retention::default()).unwrap();
        assert_eq!(loaded.messages.len(), 1);
        assert!(loaded.rooms.is_empty());
    }

    #[tokio::test]
    async fn retention_keeps_the_newest_and_drops_the_old() {
        let path = temp_db("retention");
        let keep = Retention {
            messages: 3,
            age: Some(Duration::from_secs(3600)),
        };
        let (store, writer, _) = HistoryStore::open(&path, keep).unwrap();
        let t = now_ms();
        let mut entries = vec![entry(public(1, t - 7_200_000, "ana", "too old"))];
        for seq in 2..=6 {
            entries.push(entry(public(seq, t, "ana", "recent")));
        }
        store.record(entries).await;
        drop(store);
        writer.finish();
        let (store, writer, loaded) = HistoryStore::open(&path, keep).unwrap();
        let seqs: Vec<u64> = loaded.messages.iter().map(|e| e.seq.0).collect();
        assert_eq!(seqs, [4, 5, 6]);
        drop(store);
        writer.finish();
        let db = Connection::open(&path).unwrap();
        let rows: i64 = db
            .query_row("SELECT count(*) FROM message", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 3, "pruned on disk too");
    }

    #[tokio::test]
    async fn the_files_are_owner_only() {
        let path = temp_db("mode");
        let (store, writer, _) = HistoryStore::open(&path, Retention::default()).unwrap();
        store
            .record(vec![entry(public(1, now_ms(), "ana", "x"))])
            .await;
        // The schema was written at open: the WAL exists from then on,
        // while the writer holds the database.
        let mut seen = 0;
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            if let Ok(meta) = std::fs::metadata(&file) {
                assert_eq!(
                    meta.permissions().mode() & 0o777,
                    0o600,
                    "{}",
                    file.display()
                );
                seen += 1;
            }
        }
        assert!(seen >= 2, "the database and its WAL");
        drop(store);
        writer.finish();
    }

    #[tokio::test]
    async fn a_second_server_cannot_open_the_same_database() {
        let path = temp_db("in-use");
        let (store, writer, _) = HistoryStore::open(&path, Retention::default()).unwrap();
        let second = HistoryStore::open(&path, Retention::default());
        assert!(
            matches!(second, Err(HistoryError::InUse { .. })),
            "{second:?}"
        );
        drop(store);
        writer.finish();
        assert!(
            HistoryStore::open(&path, Retention::default()).is_ok(),
            "free again"
        );
    }

    #[test]
    fn rows_that_are_not_messages_are_skipped() {
        assert!(rebuild(1, 0, "ana".into(), "ok".into()).is_some());
        assert!(rebuild(1, 0, "a b".into(), "ok".into()).is_none());
        assert!(rebuild(1, 0, "ana".into(), "  ".into()).is_none());
        assert!(rebuild(1, 0, "ana".into(), "a\nb".into()).is_none());
        assert!(rebuild(-1, 0, "ana".into(), "ok".into()).is_none());
    }
}
