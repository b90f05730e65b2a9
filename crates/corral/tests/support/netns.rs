//! Hosts made of network namespaces, for tests that need separate machines
//! (and to cut one off): every host gets `eth0` on one bridge that lives in
//! its own "switch" namespace, so nothing touches the machine's network.
//! Needs root.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Namespaced hosts on one bridge; host `i` (in the order given) has the
/// address `10.77.0.<i+1>/24`.
pub struct Net {
    prefix: String,
    hosts: Vec<&'static str>,
}

impl Net {
    pub fn create(hosts: &[&'static str]) -> Net {
        // Tests of this binary run in parallel: one set of names each.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("crl{}x{n}", std::process::id());
        let net = Net {
            prefix,
            hosts: hosts.to_vec(),
        };
        let sw = net.ns("sw");
        sh(&["ip", "netns", "add", &sw]);
        sh(&["ip", "-n", &sw, "link", "add", "br0", "type", "bridge"]);
        sh(&["ip", "-n", &sw, "link", "set", "br0", "up"]);
        sh(&["ip", "-n", &sw, "link", "set", "lo", "up"]);
        for (i, host) in hosts.iter().enumerate() {
            let ns = net.ns(host);
            sh(&["ip", "netns", "add", &ns]);
            let outer = format!("v-{host}");
            sh(&[
                "ip", "-n", &sw, "link", "add", &outer, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ]);
            sh(&["ip", "-n", &sw, "link", "set", &outer, "master", "br0"]);
            sh(&["ip", "-n", &sw, "link", "set", &outer, "up"]);
            sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            let addr = format!("10.77.0.{}/24", i + 1);
            sh(&["ip", "-n", &ns, "addr", "add", &addr, "dev", "eth0"]);
            sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        }
        net
    }

    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// The address of `host` (one of those given to [`Net::create`]).
    pub fn ip(&self, host: &str) -> String {
        let i = self
            .hosts
            .iter()
            .position(|h| *h == host)
            .unwrap_or_else(|| panic!("no host {host:?}"));
        format!("10.77.0.{}", i + 1)
    }

    /// A command run on `host`.
    pub fn on(&self, host: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host)]).arg(program);
        c
    }

    pub fn link(&self, host: &str, up: bool) {
        let state = if up { "up" } else { "down" };
        sh(&[
            "ip",
            "-n",
            &self.ns("sw"),
            "link",
            "set",
            &format!("v-{host}"),
            state,
        ]);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for host in self.hosts.iter().chain(["sw"].iter()) {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(host)])
                .status();
        }
    }
}

pub fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run a command");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A process that is killed when the test ends, however it ends.
pub struct Proc {
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Proc {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = file.try_clone().expect("log file");
        let child = cmd
            .stdout(file)
            .stderr(err)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn");
        Proc {
            child: Some(child),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().ok().flatten().is_some(),
            None => true,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}
