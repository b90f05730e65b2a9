//! A real OpenLDAP (slapd) of a test's own on free loopback ports, seeded
//! from tests/ldap_data/seed.ldif (as tests/ldap.rs starts it).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PW: &str = "admin-secret";

/// A slapd of this test's own, stopped (by PID) on drop.
pub struct Slapd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub tls_port: u16,
}

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slapd")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Slapd {
    pub fn start() -> Slapd {
        assert!(
            Path::new("/usr/sbin/slapd").exists() && Path::new("/usr/bin/ldapmodify").exists(),
            "slapd and ldap-utils are not installed: run scripts/setup"
        );
        let mut last = String::new();
        // Free ports can be taken between the probe and slapd's bind: retry.
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("corral-slapd-")
                .tempdir()
                .unwrap();
            let (port, tls_port) = (free_port(), free_port());
            let out = Command::new(script())
                .args(["start", dir.path().to_str().unwrap()])
                .args([port.to_string(), tls_port.to_string()])
                .env("SLAPD_OWNER_PID", std::process::id().to_string())
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let slapd = Slapd {
                dir,
                port,
                tls_port,
            };
            if out.status.success() {
                let uris = String::from_utf8_lossy(&out.stdout);
                assert!(uris.contains(&format!("ldap://127.0.0.1:{port}")), "{uris}");
                return slapd;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        panic!("scripts/slapd start failed: {last}");
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tls/ca.crt")).unwrap()
    }

    /// Applies an LDIF change as the rootdn (ldapmodify, as an operator would).
    pub fn modify(&self, ldif: &str) {
        use std::io::Write;
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-H", &format!("ldap://127.0.0.1:{}", self.port)])
            .args(["-D", ADMIN_DN, "-w", ADMIN_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ldapmodify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["stop", self.dir.path().to_str().unwrap()])
            .stdin(Stdio::null())
            .status();
    }
}
