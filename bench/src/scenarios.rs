//! The load scenarios: fan-out (in one room, or in many rooms, spec §19),
//! private pairs, idle connections (in one room or in several each) and
//! connect/disconnect churn. Each builds a [`Report`]; none prints.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::client::{self, Counts, Totals};
use crate::process;
use crate::report::{LatencyUs, Report};
use crate::run::{self, Common};

/// Settling (setup traffic draining) may take this long at most.
const SETTLE: Duration = Duration::from_secs(120);

fn server_stats(
    common: &Common,
    report: &mut Report,
    rss_before: Option<u64>,
    cpu_before: Option<f64>,
) {
    if let Some(pid) = common.pid {
        report.server_rss_before_kib = rss_before;
        report.server_rss_after_kib = process::rss_kib(pid);
        report.server_cpu_seconds = process::cpu_seconds(pid)
            .zip(cpu_before)
            .map(|(a, b)| a - b);
    }
}

fn merge(common: &Common, clients: &[client::Client]) -> LatencyUs {
    let mut all = client::histogram();
    for (_, c) in clients
        .iter()
        .enumerate()
        .filter(|(i, _)| common.measured(*i))
    {
        if let Ok(h) = c.latencies.lock() {
            let _ = all.add(&*h);
        }
    }
    LatencyUs::of(&all)
}

fn finish(report: &mut Report, totals: &Totals, send_start_ns: u64) {
    report.delivered = totals.delivered.load(Ordering::Relaxed);
    report.lost = report.expected.saturating_sub(report.delivered);
    report.garbled = totals.garbled.load(Ordering::Relaxed);
    report.out_of_order = totals.out_of_order.load(Ordering::Relaxed);
    report.disconnects = totals.disconnects.load(Ordering::Relaxed);
    let span = totals
        .last_delivery_ns
        .load(Ordering::Relaxed)
        .saturating_sub(send_start_ns) as f64
        / 1e9;
    report.seconds = span;
    report.deliveries_per_sec = (span > 0.0).then(|| report.delivered as f64 / span);
}

/// N clients, S of them senders of M messages of D octets each.
pub async fn fanout(
    common: &Common,
    clients: usize,
    senders: usize,
    messages: u64,
    size: usize,
    rate: Option<f64>,
) -> anyhow::Result<Report> {
    let senders = senders.min(clients);
    let report = Report {
        scenario: "fanout".into(),
        clients,
        senders,
        messages_per_sender: messages,
        size,
        rate_per_sender: rate,
        expected: senders as u64 * messages * (clients as u64).saturating_sub(1),
        ..Report::default()
    };
    let plan = (0..senders).map(|i| (i, String::new())).collect();
    load(common, Counts::Public, plan, report, |_| None).await
}

/// R rooms of N clients each (spec §19); in each room, S of its clients
/// send M public messages of D octets to it. Every client is also in the
/// default room, where nothing is said.
pub async fn rooms(
    common: &Common,
    rooms: usize,
    per_room: usize,
    senders: usize,
    messages: u64,
    size: usize,
    rate: Option<f64>,
) -> anyhow::Result<Report> {
    let senders = senders.min(per_room);
    let clients = rooms * per_room;
    let report = Report {
        scenario: "rooms".into(),
        clients,
        senders: senders * rooms,
        messages_per_sender: messages,
        size,
        rate_per_sender: rate,
        expected: (rooms * senders) as u64 * messages * (per_room as u64).saturating_sub(1),
        ..Report::default()
    };
    let plan = (0..rooms)
        .flat_map(|r| (0..senders).map(move |s| (r * per_room + s, format!("/msg #r{r} "))))
        .collect();
    load(common, Counts::InRooms, plan, report, |i| {
        Some(format!("/join #r{}\n", i / per_room))
    })
    .await
}

/// P pairs; the first of each pair sends M private messages to the second.
pub async fn private(
    common: &Common,
    pairs: usize,
    messages: u64,
    size: usize,
    rate: Option<f64>,
) -> anyhow::Result<Report> {
    let report = Report {
        scenario: "private".into(),
        clients: pairs * 2,
        senders: pairs,
        messages_per_sender: messages,
        size,
        rate_per_sender: rate,
        expected: pairs as u64 * messages,
        ..Report::default()
    };
    let plan = (0..pairs)
        .map(|p| (2 * p, format!("@{}{} ", common.prefix, 2 * p + 1)))
        .collect();
    load(common, Counts::PrivateTo, plan, report, |_| None).await
}

/// Connects `report.clients` clients, has each send what `setup` gives
/// it (its joins), settles, then has each `(client, line prefix)` in
/// `plan` send its messages, and measures the deliveries.
async fn load(
    common: &Common,
    counts: Counts,
    plan: Vec<(usize, String)>,
    mut report: Report,
    setup: impl Fn(usize) -> Option<String>,
) -> anyhow::Result<Report> {
    let totals = Totals::new();
    let pid = common.pid;
    let rss_before = pid.and_then(process::rss_kib);
    let mut all = run::connect_all(common, report.clients, counts, &totals).await?;
    run::setup(&mut all, setup).await?;
    if counts == Counts::InRooms {
        // Each client's join of the default room and of its own room: a
        // cluster orders them in Redis, after the node answered the
        // barrier's ping (§19.7).
        run::await_own_joins(&totals, 2 * report.clients, SETTLE).await?;
    }
    run::barrier(&mut all, &totals, SETTLE).await?;
    let cpu_before = pid.and_then(process::cpu_seconds);
    let started = Instant::now();
    let send_start = totals.now_ns();
    let (messages, size, senders) = (report.messages_per_sender, report.size, plan.len());
    let mut tasks = Vec::new();
    for (id, (client, prefix)) in plan.into_iter().enumerate() {
        let mut writer = all[client]
            .writer
            .take()
            .ok_or_else(|| anyhow::anyhow!("sender has no writer"))?;
        let totals = Arc::clone(&totals);
        // Senders are phase-shifted so they do not fire in lock-step.
        let phase = report
            .rate_per_sender
            .map(|r| (r, Duration::from_secs_f64(id as f64 / (senders as f64 * r))));
        tasks.push(tokio::spawn(async move {
            // The writer comes back: closing it would end the connection
            // while the sender is still receiving.
            let sent = run::send(
                &mut writer,
                id as u32,
                messages,
                size,
                &prefix,
                phase,
                &totals,
            )
            .await;
            (writer, sent)
        }));
    }
    report.outcome = run::wait_for(&totals, report.expected, common, started)
        .await
        .into();
    let mut writers = Vec::new();
    for t in tasks {
        let (writer, sent) = t.await?;
        sent?;
        writers.push(writer);
    }
    finish(&mut report, &totals, send_start);
    report.latency_us = Some(merge(common, &all));
    server_stats(common, &mut report, rss_before, cpu_before);
    Ok(report)
}

/// N registered clients held idle for `hold` seconds; the server's RSS per
/// client is what it grew by. With `rooms` (R, K): each client is a
/// rooms client in the default room and K - 1 of R other rooms (spec §19),
/// K in all.
pub async fn idle(
    common: &Common,
    clients: usize,
    hold: f64,
    rooms: Option<(usize, usize)>,
) -> anyhow::Result<Report> {
    let totals = Totals::new();
    let pid = common.pid;
    let rss_before = pid.and_then(process::rss_kib);
    let cpu_before = pid.and_then(process::cpu_seconds);
    let started = Instant::now();
    let counts = if rooms.is_some() {
        Counts::InRooms
    } else {
        Counts::Public
    };
    let mut all = run::connect_all(common, clients, counts, &totals).await?;
    if let Some((count, each)) = rooms {
        // Client i's rooms: i, i + stride, ... (mod R), all different.
        let stride = (count / each.max(1)).max(1);
        run::setup(&mut all, |i| {
            let names: Vec<String> = (0..each.saturating_sub(1))
                .map(|k| format!("#r{}", (i + k * stride) % count.max(1)))
                .collect();
            (!names.is_empty()).then(|| format!("/join {}\n", names.join(",")))
        })
        .await?;
    }
    run::barrier(&mut all, &totals, SETTLE).await?;
    tokio::time::sleep(Duration::from_secs_f64(hold)).await;
    let mut report = Report {
        scenario: if rooms.is_some() {
            "idle-rooms"
        } else {
            "idle"
        }
        .into(),
        clients,
        outcome: "complete".into(),
        ..Report::default()
    };
    report.seconds = started.elapsed().as_secs_f64();
    report.disconnects = totals.disconnects.load(Ordering::Relaxed);
    server_stats(common, &mut report, rss_before, cpu_before);
    if let (Some(b), Some(a)) = (report.server_rss_before_kib, report.server_rss_after_kib) {
        report.server_rss_per_client_bytes =
            Some(a.saturating_sub(b) as f64 * 1024.0 / clients as f64);
    }
    drop(all);
    Ok(report)
}

/// `cycles` times: connect, register, `/quit`, wait for the close; `parallel`
/// at once. Latency is one whole cycle.
pub async fn churn(common: &Common, cycles: usize, parallel: usize) -> anyhow::Result<Report> {
    let totals = Totals::new();
    let pid = common.pid;
    let rss_before = pid.and_then(process::rss_kib);
    let cpu_before = pid.and_then(process::cpu_seconds);
    let started = Instant::now();
    let mut hist = client::histogram();
    let via = common.via()?;
    let mut done = 0;
    while done < cycles {
        let batch = parallel.max(1).min(cycles - done);
        let tasks: Vec<_> = (done..done + batch)
            .map(|i| {
                let (addr, src, totals) = (common.target(i), common.source(i), Arc::clone(&totals));
                let via = via.clone();
                let name = format!("{}{i}", common.prefix);
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let mut c =
                        client::connect(addr, src, &name, Counts::Public, false, totals, &via)
                            .await?;
                    if let Some(w) = c.writer.as_mut() {
                        w.write_all(b"/quit\n").await?;
                        w.flush().await?;
                    }
                    tokio::time::timeout(Duration::from_secs(10), &mut c.reader).await??;
                    anyhow::Ok(t0.elapsed())
                })
            })
            .collect();
        for t in tasks {
            let took = t.await??;
            let _ = hist.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1));
        }
        done += batch;
        if started.elapsed().as_secs_f64() > common.max_secs {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut report = Report {
        scenario: "churn".into(),
        clients: parallel,
        outcome: if done == cycles {
            "complete".into()
        } else {
            "timeout".into()
        },
        seconds,
        cycles_per_sec: Some(done as f64 / seconds),
        disconnects: totals.disconnects.load(Ordering::Relaxed),
        latency_us: Some(LatencyUs::of(&hist)),
        ..Report::default()
    };
    server_stats(common, &mut report, rss_before, cpu_before);
    Ok(report)
}
