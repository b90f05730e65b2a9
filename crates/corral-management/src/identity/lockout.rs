//! Brute-force protection: failed logins are counted per key (a username, a
//! client address); `max_failures` failures within `window` lock the key for
//! `lock_for`, doubling with each further lockout (up to 16×). A success
//! clears the key. State is per replica and bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub max_failures: u32,
    pub lock_for: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
}

struct Counter {
    failures: u32,
    first: Instant,
    locked_until: Option<Instant>,
    lockouts: u32,
}

pub struct Lockout {
    policy: Policy,
    keys: Mutex<HashMap<String, Counter>>,
}

/// The most keys tracked; beyond it, keys neither locked nor recent are dropped.
const MAX_KEYS: usize = 100_000;

impl Lockout {
    pub fn new(policy: Policy) -> Lockout {
        Lockout {
            policy,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` while `key` is locked.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match keys.get(key).and_then(|c| c.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Count a failure; `Some(lock duration)` if this failure locked the key.
    pub fn failure(&self, key: &str) -> Option<Duration> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if keys.len() >= MAX_KEYS {
            let window = self.policy.window;
            keys.retain(|_, c| {
                c.locked_until.is_some_and(|u| u > now) || now.duration_since(c.first) < window
            });
        }
        let c = keys.entry(key.to_string()).or_insert(Counter {
            failures: 0,
            first: now,
            locked_until: None,
            lockouts: 0,
        });
        if now.duration_since(c.first) > self.policy.window {
            c.failures = 0;
            c.first = now;
        }
        c.failures += 1;
        if c.failures >= self.policy.max_failures {
            let lock = self.policy.lock_for * 2u32.pow(c.lockouts.min(4));
            c.locked_until = Some(now + lock);
            c.lockouts += 1;
            c.failures = 0;
            c.first = now;
            return Some(lock);
        }
        None
    }

    pub fn success(&self, key: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_and_doubles() {
        let l = Lockout::new(Policy {
            max_failures: 3,
            lock_for: Duration::from_millis(50),
            window: Duration::from_secs(60),
        });
        assert!(l.check("ann").is_ok());
        assert!(l.failure("ann").is_none());
        assert!(l.failure("ann").is_none());
        assert_eq!(l.failure("ann"), Some(Duration::from_millis(50)));
        assert!(l.check("ann").is_err());
        assert!(l.check("bob").is_ok());
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.check("ann").is_ok());
        l.failure("ann");
        l.failure("ann");
        assert_eq!(l.failure("ann"), Some(Duration::from_millis(100)));
        l.success("ann");
        assert!(l.check("ann").is_ok());
    }
}
