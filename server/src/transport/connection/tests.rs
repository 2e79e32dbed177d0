//! Scripted-I/O tests of the connection's timers and flow control, over an
//! in-memory transport with tokio's clock paused: every figure below is
//! exact, and no test sleeps.

use super::*;
use crate::flow::pressure::Pressure;
use crate::flow::rate_limit::Rate;
use crate::hub::local::LocalHub;
use crate::transport::admission::Admission;
use tagarela_parser::ServerLine;
use tagarela_reader::LineReader;
use tokio::io::{DuplexStream, ReadHalf, WriteHalf};

/// A room served by real connection tasks over in-memory pipes.
struct Room {
    ctx: Arc<Shared>,
    admission: Arc<Admission>,
    stop: CancellationToken,
    clients: u16,
}

/// The far end of one connection.
struct Client {
    reader: LineReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
}

/// The next line, waiting as long as it takes (the paused clock jumps
/// to the next timer while everyone waits).
async fn next_line(reader: &mut LineReader<ReadHalf<DuplexStream>>) -> String {
    match reader.next_text().await {
        Ok(Some(line)) => line,
        other => panic!("no line: {other:?}"),
    }
}

impl Room {
    fn new(settings: Settings) -> Room {
        Room {
            ctx: Arc::new(Shared {
                hub: Arc::new(LocalHub::new()),
                settings,
                sink: None,
                pressure: Arc::new(Pressure::new()),
                metrics: Arc::default(),
                access: None,
                irc: None,
                web_origins: Arc::from([]),
            }),
            admission: Admission::new(100, 100),
            stop: CancellationToken::new(),
            clients: 0,
        }
    }

    /// Connects a client whose pipe holds `pipe` octets each way.
    async fn connect(&mut self, pipe: usize) -> Client {
        self.clients += 1;
        let (ours, theirs) = tokio::io::duplex(pipe);
        let peer = SocketAddr::from(([127, 0, 0, 1], self.clients));
        let permit = self
            .admission
            .admit(peer.ip())
            .unwrap_or_else(|_| unreachable!());
        tokio::spawn(serve(
            theirs,
            peer,
            Arc::clone(&self.ctx),
            self.stop.clone(),
            permit,
            TransportKind::Tcp,
            super::Protocol::Tagarela,
        ));
        let (r, w) = tokio::io::split(ours);
        let mut client = Client {
            reader: LineReader::server_lines(r),
            writer: w,
        };
        crate::assert_line!(client.line().await, ServerLine::Hello { .. });
        client
    }

    async fn join(&mut self, name: &str, pipe: usize) -> Client {
        let mut c = self.connect(pipe).await;
        c.send(name).await;
        crate::assert_line!(c.line().await, ServerLine::Welcome { name: ref got, .. } if got.as_str() == name);
        c
    }
}

impl Client {
    async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap_or_else(|_| unreachable!());
    }

    async fn line(&mut self) -> String {
        next_line(&mut self.reader).await
    }
}

fn settings() -> Settings {
    Settings {
        rate_limit: None,
        ..Settings::default()
    }
}

#[tokio::test(start_paused = true)]
async fn an_unregistered_client_is_timed_out_at_the_registration_timeout() {
    let mut room = Room::new(settings());
    let start = Instant::now();
    let mut c = room.connect(4096).await;
    crate::assert_line!(
        c.line().await,
        ServerLine::Bye {
            reason: ByeReason::Timeout,
            ..
        }
    );
    assert_eq!(start.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_pinged_then_timed_out_and_any_line_resets_the_clock() {
    let mut room = Room::new(settings());
    let mut watcher = room.join("watcher", 1 << 16).await;
    let mut c = room.join("quiet", 4096).await;
    crate::assert_line!(watcher.line().await, ServerLine::Join { .. });
    // The watcher answers every PING, as a client does, and reports
    // everything else it sees.
    let (seen_tx, mut seen) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let line = watcher.line().await;
            match line.strip_prefix("PING ") {
                Some(token) => watcher.send(&format!("/pong {token}")).await,
                None => {
                    let _ = seen_tx.send(line).await;
                }
            }
        }
    });
    let start = Instant::now();
    tokio::time::advance(Duration::from_secs(50)).await;
    c.send("").await;
    let since_line = Instant::now();
    assert_eq!(c.line().await, "PING 1");
    assert_eq!(since_line.elapsed(), Duration::from_secs(60));
    // Answered: a second PING a full interval later, then the end.
    c.send("/pong 1").await;
    let answered = Instant::now();
    assert_eq!(c.line().await, "PING 2");
    assert_eq!(answered.elapsed(), Duration::from_secs(60));
    crate::assert_line!(
        c.line().await,
        ServerLine::Bye {
            reason: ByeReason::Timeout,
            ..
        }
    );
    assert_eq!(start.elapsed(), Duration::from_secs(50 + 60 + 60 + 30));
    let leave = seen.recv().await.unwrap_or_default();
    assert!(leave.ends_with(" quiet timeout"), "{leave}");
}

/// Review finding (issue 20): a hold of the room's input (Redis or a
/// store behind, §17.4) is not the clients' silence; they are pinged
/// only once they are read again.
#[tokio::test(start_paused = true)]
async fn a_client_held_back_for_long_is_not_timed_out_for_it() {
    let mut room = Room::new(settings());
    let mut c = room.join("held", 4096).await;
    let start = Instant::now();
    room.ctx.pressure.press();
    tokio::time::sleep(Duration::from_secs(300)).await;
    room.ctx.pressure.release();
    assert_eq!(c.line().await, "PING 1");
    assert!(
        start.elapsed() > Duration::from_secs(300),
        "{:?}",
        start.elapsed()
    );
    crate::assert_line!(
        c.line().await,
        ServerLine::Bye {
            reason: ByeReason::Timeout,
            ..
        }
    );
}

#[tokio::test(start_paused = true)]
async fn octets_without_a_line_are_not_activity_for_the_keepalive() {
    let mut room = Room::new(settings());
    let Client {
        mut reader,
        mut writer,
    } = room.join("trickle", 4096).await;
    let start = Instant::now();
    // One octet of a line every second, never its LF (spec §10).
    tokio::spawn(async move {
        while writer.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    assert_eq!(next_line(&mut reader).await, "PING 1");
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    crate::assert_line!(
        next_line(&mut reader).await,
        ServerLine::Bye {
            reason: ByeReason::Timeout,
            ..
        }
    );
    assert_eq!(start.elapsed(), Duration::from_secs(90));
}

#[tokio::test(start_paused = true)]
async fn past_its_burst_a_client_is_read_at_the_rate_and_nothing_is_lost() {
    let mut room = Room::new(Settings {
        rate_limit: Rate::new(5.0, 25),
        ..Settings::default()
    });
    let mut reader = room.join("reader", 1 << 20).await;
    let mut paster = room.join("paster", 1 << 20).await;
    crate::assert_line!(reader.line().await, ServerLine::Join { .. });
    // The name line took one line of the burst: let it refill.
    tokio::time::advance(Duration::from_secs(10)).await;
    let start = Instant::now();
    let block: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    paster
        .writer
        .write_all(block.as_bytes())
        .await
        .unwrap_or_else(|_| unreachable!());
    for i in 1..=30 {
        let line = reader.line().await;
        assert!(line.ends_with(&format!(" paster :line {i}")), "{line}");
        let due = Duration::from_millis(200 * (i.max(25) - 25));
        assert_eq!(start.elapsed(), due, "line {i}");
    }
}

/// A reader that stops reading holds the senders back for the pressure
/// window, then is removed `slow-grace` after it fell behind; a healthy
/// reader gets every line, in order.
#[tokio::test(start_paused = true)]
async fn a_stalled_reader_holds_senders_for_the_window_then_is_removed_at_slow_grace() {
    let mut room = Room::new(Settings {
        outbox_soft_bytes: 4 * 1024,
        outbox_bytes: 1 << 20,
        ..settings()
    });
    let mut healthy = room.join("healthy", 1 << 20).await;
    let _stalled = room.join("stalled", 256).await;
    let mut sender = room.join("sender", 1 << 20).await;
    crate::assert_line!(healthy.line().await, ServerLine::Join { .. });
    crate::assert_line!(healthy.line().await, ServerLine::Join { .. });
    let start = Instant::now();
    let block: String = (1..=200).map(|i| format!("{i:0>99}\n")).collect();
    sender
        .writer
        .write_all(block.as_bytes())
        .await
        .unwrap_or_else(|_| unreachable!());
    let mut late = None;
    for i in 1..=200 {
        let line = healthy.line().await;
        assert!(line.ends_with(&format!(":{i:0>99}")), "{line}");
        if late.is_none() && !start.elapsed().is_zero() {
            late = Some((i, start.elapsed()));
        }
    }
    // Some lines were held back, and exactly for the window.
    let (first_late, at) = late.unwrap_or_else(|| unreachable!());
    assert!(first_late > 1);
    assert_eq!(at, Duration::from_secs(2));
    let leave = healthy.line().await;
    assert!(leave.ends_with(" stalled slow"), "{leave}");
    assert_eq!(start.elapsed(), Duration::from_secs(10));
}

/// A reader that pauses (as a busy terminal does) is never removed: the
/// sender waits for it instead (within its share of pressing time,
/// `pressure::DUTY_PERCENT`).
#[tokio::test(start_paused = true)]
async fn a_reader_that_pauses_is_waited_for_not_removed() {
    let mut room = Room::new(Settings {
        outbox_soft_bytes: 4 * 1024,
        outbox_bytes: 64 * 1024,
        ..settings()
    });
    let mut pauser = room.join("pauser", 256).await;
    let mut sender = room.join("sender", 1 << 20).await;
    crate::assert_line!(pauser.line().await, ServerLine::Join { .. });
    let block: String = (1..=2000).map(|i| format!("{i:0>99}\n")).collect();
    let send = tokio::spawn(async move {
        sender
            .writer
            .write_all(block.as_bytes())
            .await
            .unwrap_or_else(|_| unreachable!());
        sender
    });
    for i in 1..=2000 {
        // Reading takes time: a millisecond per ten lines (100 kB/s)...
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // ...and every 200 lines (20 ms of reading) the terminal stops
        // for 5 ms: a fifth of the time, as a busy terminal does.
        if i % 200 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let line = pauser.line().await;
        assert!(line.ends_with(&format!(":{i:0>99}")), "{line}");
    }
    let _sender = send.await.unwrap_or_else(|_| unreachable!());
}
