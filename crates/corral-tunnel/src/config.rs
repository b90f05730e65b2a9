//! Knobs shared by both ends of a session, and the agent's reconnect backoff.

use std::time::Duration;

/// Settings of one tunnel session (WebSocket + yamux), used by both ends.
///
/// Both ends should use the same values; nothing breaks if they differ, but
/// the stricter `keepalive_timeout` decides when a silent link is dropped.
#[derive(Debug, Clone)]
pub struct TunnelConfig {
    /// How often each end sends a WebSocket ping (default 5 s). Every ping
    /// is answered, so an idle but healthy link still carries traffic both
    /// ways, several times per `keepalive_timeout`.
    pub keepalive_interval: Duration,
    /// A session that has received nothing (data, ping or pong) for this long
    /// is declared dead: it is dropped and every stream on it fails (default
    /// 20 s: a peer that vanished, or a link that silently drops packets, is
    /// noticed within 20 s plus a moment, well inside the 30 s the product
    /// requires; four pings can be lost before a healthy link is dropped).
    pub keepalive_timeout: Duration,
    /// Most concurrent streams per session. `dial` fails with
    /// [`TooManyStreams`](crate::TunnelError::TooManyStreams) past it; yamux
    /// itself is given twice this so that the lag between a stream being
    /// dropped and yamux forgetting it can never kill the session.
    pub max_streams: usize,
    /// Receive-window budget (bytes) that streams may grow into beyond the
    /// fixed initial 256 KiB window yamux gives each stream (per session).
    /// yamux 0.14 has no knob for the per-stream window itself: it starts
    /// every stream at 256 KiB and doubles the window of a stream whose
    /// reader keeps up (measured against the round-trip time, which yamux
    /// pings for), so a fast stream reaches a window fitting the link's
    /// bandwidth-delay product while idle and slow streams stay at 256 KiB.
    /// Nothing is preallocated: a window is only a permission to send, and
    /// memory is used only for data that arrived and is not read yet. This
    /// caps what one busy session can make us buffer beyond 256 KiB per
    /// stream.
    pub extra_receive_window: usize,
    /// Largest yamux data frame we send; bigger writes are split. Larger
    /// frames mean fewer frames, wakeups and syscalls per byte
    /// (throughput); smaller frames interleave streams more finely.
    pub split_send_size: usize,
    /// Size of the read buffer WebSocket frame headers (and small frames)
    /// are read through, per session. Large payload reads bypass it and go
    /// straight into yamux's frame buffer. Allocated on first use and given
    /// back when the session has been idle for a keepalive interval.
    pub ws_read_buffer: usize,
    /// Largest WebSocket message (frame) we send; what yamux writes between
    /// two flushes (one frame, usually) goes out as one message unless it
    /// is larger than this. The receiver streams payloads without buffering
    /// whole messages, so this only bounds our own send buffer.
    pub ws_message_size: usize,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            keepalive_interval: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(20),
            max_streams: 1024,
            extra_receive_window: 64 << 20,
            split_send_size: 64 << 10,
            ws_read_buffer: 16 << 10,
            ws_message_size: 256 << 10,
        }
    }
}

/// yamux's fixed initial per-stream receive window (the spec's 256 KiB).
const YAMUX_INITIAL_WINDOW: usize = yamux::DEFAULT_CREDIT as usize;

/// Cap on `ws_message_size` (what we send; we accept any message size,
/// since payloads are streamed, not buffered).
pub(crate) const MAX_WS_MESSAGE: usize = 2 << 20;

impl TunnelConfig {
    /// The yamux configuration this session config implies.
    pub(crate) fn yamux(&self) -> yamux::Config {
        let streams = self.max_streams.max(1).saturating_mul(2);
        let window = streams
            .saturating_mul(YAMUX_INITIAL_WINDOW)
            .saturating_add(self.extra_receive_window);
        let mut cfg = yamux::Config::default();
        // yamux asserts window >= streams * 256 KiB on every set: lift the
        // window limit, set the stream count, then set the real window.
        cfg.set_max_connection_receive_window(None);
        cfg.set_max_num_streams(streams);
        cfg.set_max_connection_receive_window(Some(window));
        cfg.set_split_send_size(self.split_send_size.clamp(1024, 1 << 20));
        cfg
    }
}

/// Exponential backoff with jitter for the agent's reconnect loop.
///
/// The delay before retry `n` (0-based) is
/// `min(max, min * multiplier^n)`, then reduced by a random fraction of at
/// most `jitter` (so it never exceeds `max`, and agents that lost the server
/// at the same moment do not all come back at the same moment).
#[derive(Debug, Clone)]
pub struct Backoff {
    /// Delay before the first retry.
    pub min: Duration,
    /// Cap on the delay.
    pub max: Duration,
    /// Growth factor per failed attempt (values below 1 are treated as 1).
    pub multiplier: f64,
    /// Fraction (0..=1) of the delay that is randomized away.
    pub jitter: f64,
    /// A session that stayed up at least this long resets the attempt
    /// counter; shorter ones keep growing the delay (so a flapping link does
    /// not turn into a tight reconnect loop).
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_millis(500),
            max: Duration::from_secs(5),
            multiplier: 2.0,
            jitter: 0.5,
            reset_after: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The un-jittered delay before retry `attempt` (0-based): grows
    /// geometrically from `min` and is capped at `max`.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let factor = self.multiplier.max(1.0).powi(attempt.min(64) as i32);
        let secs = self.min.as_secs_f64() * factor;
        let max = self.max.max(self.min);
        if !secs.is_finite() || secs >= max.as_secs_f64() {
            max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The jittered delay before retry `attempt`, in
    /// `[base * (1 - jitter), base]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.base_delay(attempt);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let cut: f64 = rand::random::<f64>() * jitter;
        base.mul_f64(1.0 - cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            multiplier: 2.0,
            jitter: 0.5,
            reset_after: Duration::from_secs(1),
        };
        assert_eq!(b.base_delay(0), Duration::from_millis(100));
        assert_eq!(b.base_delay(1), Duration::from_millis(200));
        assert_eq!(b.base_delay(3), Duration::from_millis(800));
        assert_eq!(b.base_delay(4), Duration::from_millis(1000));
        assert_eq!(b.base_delay(u32::MAX), Duration::from_millis(1000));
        for attempt in 0..20 {
            let base = b.base_delay(attempt);
            for _ in 0..50 {
                let d = b.delay(attempt);
                assert!(d <= base && d >= base.mul_f64(0.5), "{d:?} vs {base:?}");
            }
        }
    }

    /// The product's liveness requirements, checked against the defaults:
    /// a dead or silently partitioned peer is noticed within 30 s, and an
    /// agent whose network is back reconnects within 10 s.
    #[test]
    fn defaults_meet_liveness_requirements() {
        let t = TunnelConfig::default();
        // The watchdog fires at `keepalive_timeout` after the last arrival.
        assert!(t.keepalive_timeout + Duration::from_secs(1) <= Duration::from_secs(30));
        // A healthy idle link hears several pings per timeout.
        assert!(t.keepalive_interval * 3 <= t.keepalive_timeout);
        let b = Backoff::default();
        assert!(b.max <= Duration::from_secs(5));
        assert!(b.jitter > 0.0);
        // The longest wait between attempts, whatever the attempt count.
        assert!(b.base_delay(u32::MAX) <= Duration::from_secs(5));
        for attempt in 0..100 {
            assert!(b.delay(attempt) <= Duration::from_secs(5));
        }
    }

    #[test]
    fn yamux_config_accepts_extremes() {
        for streams in [0, 1, 1000, 100_000] {
            let cfg = TunnelConfig {
                max_streams: streams,
                extra_receive_window: 0,
                ..TunnelConfig::default()
            };
            let _ = cfg.yamux();
        }
    }
}
