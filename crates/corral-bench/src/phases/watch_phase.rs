//! The watch phase: many watchers, a steady writer, delivery latency and an
//! exactly-once, in-order check per watcher.

use super::*;
#[derive(Debug, Clone, Serialize)]
pub struct WatchResult {
    pub watchers: usize,
    pub watchers_connected: usize,
    pub watchers_complete: usize,
    pub connect_all_ms: f64,
    pub events_planned: usize,
    pub events_written: u64,
    pub write_errors: u64,
    pub write_rate_target: f64,
    pub write_rate_actual: f64,
    pub writers: usize,
    pub write_latency: LatencySummary,
    /// Delivery latency over all (watcher, event) pairs.
    pub delivery_latency: LatencySummary,
    pub check: OrderCheck,
    pub all_in_order: bool,
    pub watcher_errors: u64,
    pub parse_errors: u64,
    pub first_errors: Vec<String>,
    pub cost: Cost,
    pub server_cpu_s_per_1000_writes: Option<f64>,
    pub client_cpu_s_per_1000_writes: Option<f64>,
}

impl WatchResult {
    pub fn line(&self) -> String {
        let mut s = format!(
            "watch: {} watchers (connected in {}) x {} writes at {} (target {}, {} writers): delivery {}  ({} deliveries; writes {})",
            self.watchers,
            fmt_ms(self.connect_all_ms),
            self.events_written,
            fmt_rate(self.write_rate_actual),
            fmt_rate(self.write_rate_target),
            self.writers,
            self.delivery_latency.short(),
            self.delivery_latency.count,
            self.write_latency.short(),
        );
        s.push_str(&cost_text(
            &self.cost,
            self.events_written,
            1000.0,
            "1000 writes",
        ));
        s.push_str(&format!(
            "\n  all {} watchers saw all {} events in order: {}  (complete {}, missing {}, duplicates {}, out-of-order {}, unexpected {})",
            self.watchers,
            self.events_written,
            if self.all_in_order { "yes" } else { "no" },
            self.watchers_complete,
            self.check.missing,
            self.check.duplicates,
            self.check.out_of_order,
            self.check.unexpected,
        ));
        let errs = self.write_errors + self.watcher_errors + self.parse_errors;
        if errs > 0 {
            s.push_str(&format!(
                "\n  write errors {}, watcher errors {}, unparsable lines {}; first: {}",
                self.write_errors,
                self.watcher_errors,
                self.parse_errors,
                self.first_errors.first().map(String::as_str).unwrap_or("?")
            ));
        }
        s
    }
}

struct WatcherOut {
    connected: bool,
    seen: Vec<Seen>,
    hist: Histogram<u64>,
    error: Option<String>,
    parse_errors: u64,
    first_parse_error: Option<String>,
}

/// Max bytes of an unterminated line before the watcher gives up.
const MAX_LINE: usize = 64 << 20;

async fn watcher(
    target: Target,
    path: String,
    ready: mpsc::Sender<Result<(), String>>,
    mut stop: watch::Receiver<bool>,
    total: usize,
    done: Arc<AtomicUsize>,
) -> WatcherOut {
    let mut out = WatcherOut {
        connected: false,
        seen: Vec::with_capacity(total + 8),
        hist: new_hist(),
        error: None,
        parse_errors: 0,
        first_parse_error: None,
    };
    let mut conn = target.conn();
    let (status, mut body) = match conn.stream(&path).await {
        Ok(x) => x,
        Err(e) => {
            let m = format!("{e:#}");
            let _ = ready.send(Err(m.clone())).await;
            out.error = Some(m);
            return out;
        }
    };
    if !status.is_success() {
        let b = body.read_limited(8192).await;
        let m = format!("GET {path}: {}", status_message(status, &b));
        let _ = ready.send(Err(m.clone())).await;
        out.error = Some(m);
        return out;
    }
    out.connected = true;
    let _ = ready.send(Ok(())).await;
    drop(ready);

    let mut got = vec![false; total];
    let mut distinct = 0usize;
    let mut splitter = LineSplitter::default();
    while distinct < total {
        let chunk = tokio::select! {
            biased;
            _ = stop.changed() => break,
            c = body.next_chunk() => c,
        };
        let now = now_ns();
        let bytes = match chunk {
            None => {
                out.error = Some(format!(
                    "watch stream closed by the server after {distinct} of {total} events"
                ));
                break;
            }
            Some(Err(e)) => {
                out.error = Some(format!("watch stream error after {distinct} events: {e:#}"));
                break;
            }
            Some(Ok(b)) => b,
        };
        splitter.feed(&bytes, |line| match parse_watch_line(line) {
            Ok(ev) => match ev.kind {
                EventType::Bookmark => {}
                EventType::Error => {
                    if out.error.is_none() {
                        out.error = ev.message;
                    }
                }
                _ => {
                    out.seen.push(Seen {
                        seq: ev.seq,
                        rv: ev.resource_version.as_deref().and_then(|r| r.parse().ok()),
                    });
                    if let Some(sent) = ev.sent_ns {
                        record_us(&mut out.hist, now.saturating_sub(sent) / 1000);
                    }
                    if let Some(seq) = ev.seq.and_then(|s| usize::try_from(s).ok())
                        && seq < total
                        && !got[seq]
                    {
                        got[seq] = true;
                        distinct += 1;
                    }
                }
            },
            Err(e) => {
                out.parse_errors += 1;
                if out.first_parse_error.is_none() {
                    out.first_parse_error = Some(e);
                }
            }
        });
        if splitter.pending() > MAX_LINE {
            out.error = Some(format!("watch line longer than {MAX_LINE} bytes"));
            break;
        }
    }
    if distinct >= total {
        done.fetch_add(1, Ordering::Relaxed);
    }
    out
}

/// W watchers from a fresh list's resourceVersion, then E creates at a steady rate;
/// delivery latency and exactly-once, in-order verification.
pub async fn watch_phase(ctx: &Ctx) -> Result<WatchResult> {
    let a = &ctx.args;
    let (nw, ne) = (a.watchers, a.events);
    let probe = Probe::start(a.server_pid);
    let errors = Arc::new(Errors::default());
    let mut conn = ctx.target.conn();
    let base = ctx.cm_path();

    // A fresh list's resourceVersion (limit=1 keeps it cheap; metadata.resourceVersion
    // of a paginated list is the RV of the whole snapshot).
    let r = conn
        .request(Method::GET, &format!("{base}?limit=1"), None)
        .await?;
    if !r.is_success() {
        bail!("GET {base}?limit=1: {}", r.error_message());
    }
    let list: ListBody = serde_json::from_slice(&r.body).context("list for watch: bad JSON")?;
    let rv = list
        .metadata
        .and_then(|m| m.resource_version)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("list response has no metadata.resourceVersion"))?;

    let rate = a.watch_rate.max(0.1);
    let writes_s = ne as f64 / rate;
    let timeout_s = (writes_s + a.watch_grace.max(0.0) + 60.0).ceil() as u64;
    let path = format!(
        "{base}?watch=1&resourceVersion={}&timeoutSeconds={timeout_s}",
        encode_query_value(&rv)
    );

    let (ready_tx, mut ready_rx) = mpsc::channel(nw.max(1));
    let (stop_tx, stop_rx) = watch::channel(false);
    let done = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    let t_connect = Instant::now();
    for _ in 0..nw {
        set.spawn(watcher(
            ctx.target.clone(),
            path.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
            ne,
            done.clone(),
        ));
    }
    drop(ready_tx);
    let ready_deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut connected = 0usize;
    let mut failed = 0usize;
    while connected + failed < nw {
        match tokio::time::timeout_at(ready_deadline, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => connected += 1,
            Ok(Some(Err(m))) => {
                failed += 1;
                errors.record(m);
            }
            Ok(None) | Err(_) => break,
        }
    }
    let connect_all_ms = t_connect.elapsed().as_secs_f64() * 1000.0;
    if connected == 0 && nw > 0 {
        let _ = stop_tx.send(true);
        set.abort_all();
        bail!(
            "no watcher could connect: {}",
            errors
                .first()
                .first()
                .map(String::as_str)
                .unwrap_or("timed out")
        );
    }

    // Writers: open loop. Write i is due at t0 + i/rate and goes out on writer
    // connection i % K as soon as it is due and that connection is free, so the rate
    // holds as long as K writes in flight keep up. Each write carries its send time.
    let tag: Arc<str> = Arc::from(crate::util::random_suffix(6));
    let nwriters = a.watch_writers.clamp(1, ne.max(1));
    let deadline = ctx.phase_deadline();
    let write_errors = Arc::new(AtomicUsize::new(0));
    let base_arc: Arc<str> = Arc::from(base.as_str());
    let t_write = Instant::now();
    let t0 = tokio::time::Instant::now();
    let mut writers = JoinSet::new();
    for k in 0..nwriters {
        let mut wconn = ctx.target.conn();
        let (errors, write_errors, tag, base) = (
            errors.clone(),
            write_errors.clone(),
            tag.clone(),
            base_arc.clone(),
        );
        let (ns, payload, max_errors) = (ctx.ns.clone(), ctx.payload.clone(), a.max_errors);
        writers.spawn(async move {
            let mut ok = Vec::new();
            let mut wh = new_hist();
            for i in (k..ne).step_by(nwriters) {
                tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / rate)).await;
                if Instant::now() >= deadline
                    || write_errors.load(Ordering::Relaxed) as u64 >= max_errors
                {
                    errors.record(format!(
                        "writer {k} stopped at write {i} (deadline or errors)"
                    ));
                    break;
                }
                let name = format!("watch-{tag}-{i:05}");
                let sent = now_ns();
                let body = configmap_body(
                    &ns,
                    &name,
                    &payload,
                    &[(SEQ_KEY, i.to_string()), (SENT_KEY, sent.to_string())],
                );
                let t = Instant::now();
                match wconn.request(Method::POST, &base, Some(body)).await {
                    Ok(r) if r.is_success() => {
                        ok.push(i);
                        record_us(&mut wh, t.elapsed().as_micros() as u64);
                    }
                    Ok(r) => {
                        write_errors.fetch_add(1, Ordering::Relaxed);
                        errors.record(format!("POST {base} ({name}): {}", r.error_message()));
                    }
                    Err(e) => {
                        write_errors.fetch_add(1, Ordering::Relaxed);
                        errors.record(format!("{e:#}"));
                    }
                }
            }
            (ok, wh)
        });
    }
    let mut expected = vec![false; ne];
    let mut wh = new_hist();
    while let Some(r) = writers.join_next().await {
        if let Ok((ok, h)) = r {
            for i in ok {
                expected[i] = true;
            }
            let _ = wh.add(&h);
        }
    }
    let write_errors = write_errors.load(Ordering::Relaxed) as u64;
    let write_elapsed = t_write.elapsed().as_secs_f64();
    let written = expected.iter().filter(|x| **x).count() as u64;

    // Let the watchers catch up, then stop the rest.
    let grace_end = Instant::now() + Duration::from_secs_f64(a.watch_grace.max(0.0));
    while done.load(Ordering::Relaxed) < connected && Instant::now() < grace_end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let mut outs = Vec::with_capacity(nw);
    let join_deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(join_deadline, set.join_next()).await {
            Ok(Some(Ok(o))) => outs.push(o),
            Ok(Some(Err(_))) => {}
            Ok(None) => break,
            Err(_) => {
                errors.record("some watchers did not stop within 30s".into());
                set.abort_all();
                break;
            }
        }
    }
    let cost = probe.finish();

    let mut check = OrderCheck::default();
    let mut hist = new_hist();
    let (mut complete, mut watcher_errors, mut parse_errors) = (0usize, 0u64, 0u64);
    for o in &outs {
        let c = verify(&o.seen, &expected, nwriters == 1);
        if c.ok() {
            complete += 1;
        }
        check.add(&c);
        let _ = hist.add(&o.hist);
        if let Some(e) = &o.error {
            // Connection failures were already recorded from the ready channel.
            if o.connected {
                errors.record(e.clone());
            }
            watcher_errors += 1;
        }
        parse_errors += o.parse_errors;
        if let Some(p) = &o.first_parse_error {
            errors.record(p.clone());
        }
    }
    // Watchers that never reported back missed everything.
    let lost = nw.saturating_sub(outs.len()) as u64;
    check.missing += lost * written;
    let all_in_order =
        nw > 0 && complete == nw && check.ok() && write_errors == 0 && written as usize == ne;

    Ok(WatchResult {
        watchers: nw,
        watchers_connected: connected,
        watchers_complete: complete,
        connect_all_ms,
        events_planned: ne,
        events_written: written,
        write_errors,
        write_rate_target: rate,
        writers: nwriters,
        write_rate_actual: if write_elapsed > 0.0 {
            written as f64 / write_elapsed
        } else {
            0.0
        },
        write_latency: LatencySummary::from_hist(&wh),
        delivery_latency: LatencySummary::from_hist(&hist),
        check,
        all_in_order,
        watcher_errors,
        parse_errors,
        first_errors: errors.first(),
        server_cpu_s_per_1000_writes: cost.server_cpu_s.and_then(|c| per(c, written, 1000.0)),
        client_cpu_s_per_1000_writes: per(cost.client_cpu_s, written, 1000.0),
        cost,
    })
}
