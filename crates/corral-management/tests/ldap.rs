//! The LDAP provider against a real OpenLDAP: every test starts its own
//! slapd (scripts/slapd, seeded from tests/ldap_data/seed.ldif) on free
//! loopback ports in its own temp dir, so tests run in parallel.
//!
//! Needs Debian's slapd and ldap-utils (scripts/setup installs them).

use std::process::Command;
use std::time::{Duration, Instant};

use corral_management::identity::ldap::{LdapConfig, LdapProvider, TlsMode};
use corral_management::identity::{AuthError, PasswordProvider, Principal, PrincipalKind};

#[path = "support/slapd.rs"]
mod slapd;

use slapd::{Slapd, free_port, script};

/// The provider's settings for this test's slapd.
trait ProviderFor {
    fn config(&self) -> LdapConfig;
    fn provider(&self) -> LdapProvider;
}

impl ProviderFor for Slapd {
    fn config(&self) -> LdapConfig {
        LdapConfig {
            servers: vec![format!("127.0.0.1:{}", self.port)],
            connection_timeout_ms: 3000,
            service_account_distinguished_name: "cn=reader,dc=example,dc=org".into(),
            service_account_password: "reader-secret".into(),
            user_search_base: "ou=people,dc=example,dc=org".into(),
            group_search_base: "ou=groups,dc=example,dc=org".into(),
            user_disabled_attribute: "employeeType".into(),
            user_disabled_value: "disabled".into(),
            ..LdapConfig::openldap()
        }
    }

    fn provider(&self) -> LdapProvider {
        LdapProvider::new(self.config()).unwrap()
    }
}

fn group_names(groups: &[Principal]) -> Vec<String> {
    let mut names: Vec<String> = groups.iter().map(|g| g.login_name.clone()).collect();
    names.sort();
    names
}

fn group(name: &str) -> String {
    format!("openldap_group://cn={name},ou=groups,dc=example,dc=org")
}

#[tokio::test]
async fn login_returns_user_and_nested_groups() {
    let slapd = Slapd::start();
    let p = slapd.provider();
    assert_eq!(p.name(), "openldap");

    let id = p.authenticate("ann", "ann-password").await.unwrap();
    assert_eq!(
        id.user.id,
        "openldap_user://uid=ann,ou=people,dc=example,dc=org"
    );
    assert_eq!(id.user.kind, PrincipalKind::User);
    assert_eq!(id.user.provider, "openldap");
    assert_eq!(id.user.login_name, "ann");
    assert_eq!(id.user.display_name, "Ann Example");
    // ann ∈ devs ∈ engineering ∈ all-staff.
    assert_eq!(
        group_names(&id.groups),
        ["all-staff", "devs", "engineering"]
    );
    let ids: Vec<&str> = id.groups.iter().map(|g| g.id.as_str()).collect();
    assert!(ids.contains(&group("devs").as_str()), "{ids:?}");
    assert!(ids.contains(&group("engineering").as_str()), "{ids:?}");
    assert!(
        id.groups
            .iter()
            .all(|g| g.kind == PrincipalKind::Group && g.provider == "openldap")
    );

    let id = p.authenticate("bob", "bob-password").await.unwrap();
    assert_eq!(group_names(&id.groups), ["all-staff", "ops"]);
    let id = p.authenticate("eve", "eve-password").await.unwrap();
    assert!(id.groups.is_empty());
}

#[tokio::test]
async fn groups_from_member_of_and_nesting_caps() {
    let slapd = Slapd::start();
    // memberOf only (kept by slapd's memberof overlay), nested through the
    // groups' own memberOf.
    let p = LdapProvider::new(LdapConfig {
        use_member_of: true,
        group_member_mapping_attribute: String::new(),
        ..slapd.config()
    })
    .unwrap();
    let id = p.authenticate("ann", "ann-password").await.unwrap();
    assert_eq!(
        group_names(&id.groups),
        ["all-staff", "devs", "engineering"]
    );

    // Both sources together agree.
    let p = LdapProvider::new(LdapConfig {
        use_member_of: true,
        ..slapd.config()
    })
    .unwrap();
    let id = p.authenticate("ann", "ann-password").await.unwrap();
    assert_eq!(
        group_names(&id.groups),
        ["all-staff", "devs", "engineering"]
    );

    // One level of nesting, then none.
    let p = LdapProvider::new(LdapConfig {
        max_nesting_depth: 1,
        ..slapd.config()
    })
    .unwrap();
    let id = p.authenticate("ann", "ann-password").await.unwrap();
    assert_eq!(group_names(&id.groups), ["devs", "engineering"]);
    let p = LdapProvider::new(LdapConfig {
        nested_group_membership_enabled: false,
        ..slapd.config()
    })
    .unwrap();
    let id = p.authenticate("ann", "ann-password").await.unwrap();
    assert_eq!(group_names(&id.groups), ["devs"]);

    // A size cap.
    let p = LdapProvider::new(LdapConfig {
        max_groups: 2,
        ..slapd.config()
    })
    .unwrap();
    let id = p.authenticate("ann", "ann-password").await.unwrap();
    assert_eq!(id.groups.len(), 2);
}

#[tokio::test]
async fn posix_groups_by_member_uid() {
    let slapd = Slapd::start();
    let p = LdapProvider::new(LdapConfig {
        group_object_class: "posixGroup".into(),
        group_member_mapping_attribute: "memberUid".into(),
        group_member_user_attribute: "uid".into(),
        ..slapd.config()
    })
    .unwrap();
    let id = p.authenticate("eve", "eve-password").await.unwrap();
    assert_eq!(group_names(&id.groups), ["legacy"]);
    assert_eq!(id.groups[0].id, group("legacy"));
    let id = p.authenticate("ann", "ann-password").await.unwrap();
    assert_eq!(group_names(&id.groups), ["legacy"]);
    let id = p.authenticate("bob", "bob-password").await.unwrap();
    assert!(id.groups.is_empty());
}

#[tokio::test]
async fn wrong_password_unknown_user_and_empty_password() {
    let slapd = Slapd::start();
    let p = slapd.provider();
    assert!(matches!(
        p.authenticate("ann", "not-her-password").await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(matches!(
        p.authenticate("nobody", "whatever").await,
        Err(AuthError::UnknownUser)
    ));
    // An empty password is refused before any bind (it would be an
    // unauthenticated bind, which some servers answer with success).
    assert!(matches!(
        p.authenticate("ann", "").await,
        Err(AuthError::InvalidCredentials)
    ));
    assert!(matches!(
        p.authenticate("", "x").await,
        Err(AuthError::UnknownUser)
    ));
    // The same user still logs in.
    assert!(p.authenticate("ann", "ann-password").await.is_ok());
}

#[tokio::test]
async fn disabled_and_locked_users_are_refused() {
    let slapd = Slapd::start();
    let p = slapd.provider();
    // employeeType: disabled (the configured attribute and value).
    assert!(matches!(
        p.authenticate("carol", "carol-password").await,
        Err(AuthError::Disabled)
    ));
    // ppolicy's pwdAccountLockedTime.
    assert!(matches!(
        p.authenticate("dave", "dave-password").await,
        Err(AuthError::Disabled)
    ));
    // Wrong password on a disabled account says nothing about the account.
    assert!(matches!(
        p.authenticate("carol", "wrong").await,
        Err(AuthError::InvalidCredentials)
    ));
    // Without the configured check, carol's account works.
    let p = LdapProvider::new(LdapConfig {
        user_disabled_attribute: String::new(),
        ..slapd.config()
    })
    .unwrap();
    assert!(p.authenticate("carol", "carol-password").await.is_ok());
}

#[tokio::test]
async fn filter_injection_attempts_fail() {
    let slapd = Slapd::start();
    let p = slapd.provider();
    for attack in [
        "*",
        "*)(uid=*",
        "ann)(|(uid=*",
        "a*",
        "*nn",
        "ann)(objectClass=*",
        "*)(|(objectClass=*)",
        "ann\\2a",
        "ann\0",
    ] {
        for password in ["ann-password", "bob-password"] {
            match p.authenticate(attack, password).await {
                Err(AuthError::UnknownUser) => {}
                other => panic!("{attack:?} / {password}: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn starttls_with_the_test_ca_and_not_with_another() {
    let slapd = Slapd::start();
    let p = LdapProvider::new(LdapConfig {
        tls: TlsMode::StartTls,
        certificate: slapd.ca_pem(),
        ..slapd.config()
    })
    .unwrap();
    let id = p.authenticate("ann", "ann-password").await.unwrap();
    assert_eq!(
        group_names(&id.groups),
        ["all-staff", "devs", "engineering"]
    );

    let wrong_ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let p = LdapProvider::new(LdapConfig {
        tls: TlsMode::StartTls,
        certificate: wrong_ca.cert.pem(),
        ..slapd.config()
    })
    .unwrap();
    match p.authenticate("ann", "ann-password").await {
        Err(AuthError::Unavailable(msg)) => assert!(!msg.contains("ann-password"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ldaps_with_the_test_ca_and_not_with_another() {
    let slapd = Slapd::start();
    let config = LdapConfig {
        servers: vec![format!("127.0.0.1:{}", slapd.tls_port)],
        tls: TlsMode::Ldaps,
        certificate: slapd.ca_pem(),
        ..slapd.config()
    };
    let p = LdapProvider::new(config.clone()).unwrap();
    let id = p.authenticate("bob", "bob-password").await.unwrap();
    assert_eq!(group_names(&id.groups), ["all-staff", "ops"]);
    // The certificate is for 127.0.0.1 and localhost.
    let p = LdapProvider::new(LdapConfig {
        servers: vec![format!("localhost:{}", slapd.tls_port)],
        ..config.clone()
    })
    .unwrap();
    assert!(p.authenticate("bob", "bob-password").await.is_ok());

    let wrong_ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let p = LdapProvider::new(LdapConfig {
        certificate: wrong_ca.cert.pem(),
        ..config
    })
    .unwrap();
    assert!(matches!(
        p.authenticate("bob", "bob-password").await,
        Err(AuthError::Unavailable(_))
    ));
}

#[tokio::test]
async fn server_down_is_unavailable_quickly() {
    // Nothing listens: refused at once.
    let closed = free_port();
    let p = LdapProvider::new(LdapConfig {
        servers: vec![format!("127.0.0.1:{closed}")],
        user_search_base: "dc=example,dc=org".into(),
        connection_timeout_ms: 500,
        ..LdapConfig::openldap()
    })
    .unwrap();
    let start = Instant::now();
    assert!(matches!(
        p.authenticate("ann", "pw").await,
        Err(AuthError::Unavailable(_))
    ));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    // A server that accepts connections and never answers: bounded by the timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    for tls in [TlsMode::None, TlsMode::StartTls, TlsMode::Ldaps] {
        let p = LdapProvider::new(LdapConfig {
            servers: vec![addr.to_string()],
            user_search_base: "dc=example,dc=org".into(),
            service_account_distinguished_name: "cn=reader,dc=example,dc=org".into(),
            service_account_password: "reader-secret".into(),
            connection_timeout_ms: 500,
            tls,
            ..LdapConfig::openldap()
        })
        .unwrap();
        let start = Instant::now();
        match p.authenticate("ann", "pw").await {
            Err(AuthError::Unavailable(_)) => {}
            other => panic!("{tls:?}: {other:?}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{tls:?}: {:?}",
            start.elapsed()
        );
    }
    hold.abort();
}

#[tokio::test]
async fn servers_are_tried_in_order_and_stopped_server_is_unavailable() {
    let slapd = Slapd::start();
    let closed = free_port();
    let p = LdapProvider::new(LdapConfig {
        servers: vec![
            format!("127.0.0.1:{closed}"),
            format!("127.0.0.1:{}", slapd.port),
        ],
        ..slapd.config()
    })
    .unwrap();
    assert!(p.authenticate("ann", "ann-password").await.is_ok());

    // A wrong service account password is the server side's problem.
    let bad = LdapProvider::new(LdapConfig {
        service_account_password: "wrong".into(),
        ..slapd.config()
    })
    .unwrap();
    assert!(matches!(
        bad.authenticate("ann", "ann-password").await,
        Err(AuthError::Unavailable(_))
    ));

    // Stop slapd: the same provider now reports the directory unavailable.
    let dir = slapd.dir.path().to_path_buf();
    let p = slapd.provider();
    let status = Command::new(script())
        .args(["stop", dir.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    assert!(matches!(
        p.authenticate("ann", "ann-password").await,
        Err(AuthError::Unavailable(_))
    ));
    assert!(start.elapsed() < Duration::from_secs(2));
    let status = Command::new(script())
        .args(["status", dir.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(!status.success(), "status after stop");
}

#[tokio::test]
async fn refresh_groups_sees_membership_changes() {
    let slapd = Slapd::start();
    let p = slapd.provider();
    let id = p.authenticate("bob", "bob-password").await.unwrap();
    assert_eq!(group_names(&id.groups), ["all-staff", "ops"]);

    // bob joins devs (and so, nested, engineering).
    slapd.modify(
        "dn: cn=devs,ou=groups,dc=example,dc=org\nchangetype: modify\nadd: member\n\
         member: uid=bob,ou=people,dc=example,dc=org\n",
    );
    let groups = p.refresh_groups(&id.user).await.unwrap();
    assert_eq!(
        group_names(&groups),
        ["all-staff", "devs", "engineering", "ops"]
    );

    // engineering leaves all-staff; bob stays in all-staff through ops.
    slapd.modify(
        "dn: cn=all-staff,ou=groups,dc=example,dc=org\nchangetype: modify\ndelete: member\n\
         member: cn=engineering,ou=groups,dc=example,dc=org\n",
    );
    let ann = p.authenticate("ann", "ann-password").await.unwrap();
    assert_eq!(group_names(&ann.groups), ["devs", "engineering"]);
    assert_eq!(
        group_names(&p.refresh_groups(&id.user).await.unwrap()),
        ["all-staff", "devs", "engineering", "ops"]
    );

    // Disabled after login: refresh refuses.
    slapd.modify(
        "dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: modify\nadd: employeeType\n\
         employeeType: disabled\n",
    );
    assert!(matches!(
        p.refresh_groups(&id.user).await,
        Err(AuthError::Disabled)
    ));

    // Deleted: unknown.
    slapd.modify("dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: delete\n");
    assert!(matches!(
        p.refresh_groups(&id.user).await,
        Err(AuthError::UnknownUser)
    ));

    // Not this provider's principal.
    let mut other = id.user.clone();
    other.id = "local://u-abc".into();
    assert!(matches!(
        p.refresh_groups(&other).await,
        Err(AuthError::Invalid(_))
    ));
}
