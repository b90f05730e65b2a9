//! Pure helpers: formatting, percentiles, /proc readers, Status messages.

use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;
use http::StatusCode;
use serde::{Deserialize, Serialize};

/// Process-wide monotonic time base shared by watch writers and watchers.
static BASE: OnceLock<Instant> = OnceLock::new();

pub fn init_clock() {
    let _ = BASE.get_or_init(Instant::now);
}

/// Nanoseconds since the process time base (monotonic).
pub fn now_ns() -> u64 {
    let base = BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Latency histogram in microseconds (1 µs .. 1 h, 3 significant digits).
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant histogram bounds are valid")
}

/// Record a duration in µs, clamped to the histogram's range.
pub fn record_us(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.max(1));
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl LatencySummary {
    pub fn from_hist(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }

    /// "p50 4.1ms  p99 11.2ms  max 30ms"
    pub fn short(&self) -> String {
        format!(
            "p50 {}  p99 {}  max {}",
            fmt_ms(self.p50_ms),
            fmt_ms(self.p99_ms),
            fmt_ms(self.max_ms)
        )
    }
}

/// Milliseconds with precision that suits the magnitude: 0.42ms, 4.1ms, 123ms.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "-".to_string();
    }
    if ms < 1.0 {
        format!("{ms:.2}ms")
    } else if ms < 100.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.0}ms")
    }
}

/// Rates: 5464/s, 12.5/s.
pub fn fmt_rate(per_s: f64) -> String {
    if !per_s.is_finite() {
        "-".to_string()
    } else if per_s < 100.0 {
        format!("{per_s:.1}/s")
    } else {
        format!("{per_s:.0}/s")
    }
}

/// Median of a list of samples (mean of the two middle ones for even lengths).
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Median and range of repeated measurements.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(samples: &[f64]) -> Option<Spread> {
        Some(Spread {
            median: median(samples)?,
            min: samples.iter().copied().fold(f64::INFINITY, f64::min),
            max: samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// "812 (760..840)" with `f` formatting each figure; just the median for one sample.
    pub fn text(&self, f: impl Fn(f64) -> String) -> String {
        if self.min == self.max {
            f(self.median)
        } else {
            format!("{} ({}..{})", f(self.median), f(self.min), f(self.max))
        }
    }
}

/// Percent-encode a query parameter value (RFC 3986 unreserved characters pass through).
pub fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Deserialize)]
struct StatusBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// Human message for a non-success response: the Kubernetes Status message when the
/// body is a Status, otherwise the start of the body.
pub fn status_message(status: StatusCode, body: &[u8]) -> String {
    let detail = match serde_json::from_slice::<StatusBody>(body) {
        Ok(StatusBody {
            message: Some(m),
            reason,
        }) => match reason {
            Some(r) if !r.is_empty() => format!("{r}: {m}"),
            _ => m,
        },
        _ => {
            let text = String::from_utf8_lossy(body);
            let t = text.trim();
            if t.is_empty() {
                "(empty body)".to_string()
            } else {
                t.chars().take(300).collect()
            }
        }
    };
    format!("HTTP {status}: {detail}")
}

/// Error counter that keeps the first few distinct messages.
#[derive(Default)]
pub struct Errors {
    count: AtomicU64,
    first: Mutex<Vec<String>>,
}

impl Errors {
    const KEEP: usize = 5;

    pub fn record(&self, msg: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first.lock()
            && first.len() < Self::KEEP
            && !first.contains(&msg)
        {
            first.push(msg);
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn first(&self) -> Vec<String> {
        self.first.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// utime + stime in seconds from the text of /proc/PID/stat.
pub fn parse_proc_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS (or any `Key:   N kB` line) from the text of /proc/PID/status, in KiB.
pub fn parse_proc_status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// CPU seconds (user + system) a process has used so far.
pub fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(parse_proc_stat_cpu_ticks(&stat)? as f64 / clock_ticks())
}

pub fn proc_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_proc_status_kib(&status, "VmRSS")
}

/// CPU seconds (user + system, all threads) used by this process.
pub fn self_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Short random lowercase suffix (for namespace and object names).
pub fn random_suffix(len: usize) -> String {
    uuid::Uuid::new_v4().simple().to_string()[..len.min(32)].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_ms_precision_by_magnitude() {
        assert_eq!(fmt_ms(0.4249), "0.42ms");
        assert_eq!(fmt_ms(4.1234), "4.1ms");
        assert_eq!(fmt_ms(99.94), "99.9ms");
        assert_eq!(fmt_ms(123.4), "123ms");
        assert_eq!(fmt_ms(f64::NAN), "-");
        assert_eq!(fmt_rate(5464.4), "5464/s");
        assert_eq!(fmt_rate(12.54), "12.5/s");
    }

    #[test]
    fn latency_summary_percentiles() {
        let mut h = new_hist();
        for us in 1..=1000u64 {
            record_us(&mut h, us * 100); // 0.1ms .. 100ms
        }
        let s = LatencySummary::from_hist(&h);
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "p50 {}", s.p50_ms);
        assert!((s.p99_ms - 99.0).abs() < 0.1, "p99 {}", s.p99_ms);
        assert!((s.max_ms - 100.0).abs() < 0.1, "max {}", s.max_ms);
        assert_eq!(s.short(), "p50 50.0ms  p99 99.0ms  max 100ms");
        assert_eq!(LatencySummary::from_hist(&new_hist()).count, 0);
    }

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn spread_median_and_range() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).expect("samples");
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(s.text(|x| format!("{x:.0}")), "2 (1..3)");
        let one = Spread::of(&[5.0]).expect("one sample");
        assert_eq!(one.text(|x| format!("{x:.1}")), "5.0");
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query_value("abc-_.~"), "abc-_.~");
        assert_eq!(encode_query_value("a+b/c=="), "a%2Bb%2Fc%3D%3D");
    }

    #[test]
    fn status_messages() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"configmaps \"x\" already exists","reason":"AlreadyExists","code":409}"#;
        assert_eq!(
            status_message(StatusCode::CONFLICT, body),
            "HTTP 409 Conflict: AlreadyExists: configmaps \"x\" already exists"
        );
        assert_eq!(
            status_message(StatusCode::BAD_GATEWAY, b"  upstream down \n"),
            "HTTP 502 Bad Gateway: upstream down"
        );
        assert_eq!(
            status_message(StatusCode::INTERNAL_SERVER_ERROR, b""),
            "HTTP 500 Internal Server Error: (empty body)"
        );
    }

    #[test]
    fn proc_parsing() {
        let stat = "1234 (corral (x) srv) S 1 1234 1234 0 -1 4194560 2000 0 0 0 150 37 0 0 20 0 9 0 100 200000000 5000";
        assert_eq!(parse_proc_stat_cpu_ticks(stat), Some(187));
        assert_eq!(parse_proc_stat_cpu_ticks("garbage"), None);
        let status = "Name:\tcorral\nVmPeak:\t  99999 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n";
        assert_eq!(parse_proc_status_kib(status, "VmRSS"), Some(40960));
        assert_eq!(parse_proc_status_kib(status, "VmHWM"), None);
    }

    #[test]
    fn errors_keep_first_distinct() {
        let e = Errors::default();
        for i in 0..10 {
            e.record(format!("err {}", i % 3));
        }
        assert_eq!(e.count(), 10);
        assert_eq!(e.first(), vec!["err 0", "err 1", "err 2"]);
    }
}
