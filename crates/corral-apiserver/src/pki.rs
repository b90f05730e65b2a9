//! The server's own certificate authority and serving certificate, made on
//! first start and reused afterwards (as k3s does).

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Tls(String),
}

/// PEM material of the server's CA and serving certificate.
#[derive(Clone)]
pub struct Pki {
    pub ca_cert_pem: String,
    /// Signs client certificates (CN = user, O = groups).
    pub client_ca_cert_pem: String,
    client_ca_key_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Write a file readable only by the server's user (keys must not leak to other local users).
pub fn write_private(path: &Path, contents: &str) -> Result<(), PkiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io_err = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err)?;
        f.write_all(contents.as_bytes()).map_err(io_err)?;
        f.sync_all().map_err(io_err)?;
    }
    fs::rename(&tmp, path).map_err(io_err)
}

/// Load the CA and serving certificate from `dir`, creating what is missing.
/// The serving certificate is re-issued when the wanted subject alternative names change.
pub fn load_or_create(dir: &Path, sans: &[String]) -> Result<Pki, PkiError> {
    fs::create_dir_all(dir).map_err(|source| PkiError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let (ca_cert_pem, ca_key_pem) = load_or_create_ca(dir, "server-ca", "corral-server-ca")?;
    let (client_ca_cert_pem, client_ca_key_pem) =
        load_or_create_ca(dir, "client-ca", "corral-client-ca")?;

    let serving_cert_path = dir.join("serving.crt");
    let serving_key_path = dir.join("serving.key");
    let sans_path = dir.join("serving.sans");
    // The serving certificate is re-issued when the names change or when the CA
    // does (a replica joining an HA setup adopts the shared CA).
    let ca_fingerprint: String = {
        ring::digest::digest(&ring::digest::SHA256, ca_cert_pem.as_bytes())
            .as_ref()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let wanted_sans = format!("{}|{ca_fingerprint}", sans.join(","));
    if let (Some(c), Some(k), Some(s)) = (
        read(&serving_cert_path)?,
        read(&serving_key_path)?,
        read(&sans_path)?,
    ) && s == wanted_sans
    {
        return Ok(Pki {
            client_ca_cert_pem: client_ca_cert_pem.clone(),
            client_ca_key_pem: client_ca_key_pem.clone(),
            ca_cert_pem,
            serving_cert_pem: c,
            serving_key_pem: k,
        });
    }
    let ca_key = KeyPair::from_pem(&ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, ca_key)?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.subject_alt_names = sans
        .iter()
        .map(|s| match s.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => s.clone().try_into().map(SanType::DnsName),
        })
        .collect::<Result<_, _>>()?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "corral-server");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let cert = params.signed_by(&key, &issuer)?;
    let (c, k) = (cert.pem(), key.serialize_pem());
    write_private(&serving_key_path, &k)?;
    write_private(&serving_cert_path, &c)?;
    write_private(&sans_path, &wanted_sans)?;
    Ok(Pki {
        client_ca_cert_pem: client_ca_cert_pem.clone(),
        client_ca_key_pem: client_ca_key_pem.clone(),
        ca_cert_pem,
        serving_cert_pem: c,
        serving_key_pem: k,
    })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A rustls server configuration offering HTTP/2 and HTTP/1.1 (kubectl prefers h2).
pub fn server_tls_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    let certs = rustls_pemfile::certs(&mut pki.serving_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    let key = rustls_pemfile::private_key(&mut pki.serving_key_pem.as_bytes())
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .ok_or_else(|| PkiError::Tls("no private key in serving.key".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_client_cert_verifier(
            crate::authn::x509::client_verifier(&pki.client_ca_cert_pem).map_err(PkiError::Tls)?,
        )
        .with_single_cert(certs, key)
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A CA certificate and key named `<file>.crt`/`<file>.key` in `dir`, made if missing.
fn load_or_create_ca(
    dir: &Path,
    file: &str,
    common_name: &str,
) -> Result<(String, String), PkiError> {
    let cert_path = dir.join(format!("{file}.crt"));
    let key_path = dir.join(format!("{file}.key"));
    if let (Some(c), Some(k)) = (read(&cert_path)?, read(&key_path)?) {
        return Ok((c, k));
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{common_name}@{}", unix_now()));
    params.distinguished_name = dn;
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let cert = params.self_signed(&key)?;
    let (c, k) = (cert.pem(), key.serialize_pem());
    write_private(&key_path, &k)?;
    write_private(&cert_path, &c)?;
    Ok((c, k))
}

impl Pki {
    /// A client certificate for `user` in `groups`, signed by the client CA: (certificate PEM, key PEM).
    pub fn issue_client_cert(
        &self,
        user: &str,
        groups: &[&str],
    ) -> Result<(String, String), PkiError> {
        let ca_key = KeyPair::from_pem(&self.client_ca_key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.client_ca_cert_pem, ca_key)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, user);
        for g in groups {
            dn.push(DnType::OrganizationName, *g);
        }
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}
