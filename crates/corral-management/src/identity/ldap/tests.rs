use super::*;

fn provider(tls: TlsMode) -> LdapProvider {
    LdapProvider {
        config: LdapConfig {
            servers: vec!["ldap.example".into()],
            user_search_base: "dc=example".into(),
            tls,
            ..LdapConfig::openldap()
        },
        tls: None,
    }
}

#[test]
fn urls_take_the_tls_modes_default_port() {
    assert_eq!(provider(TlsMode::None).url("h"), "ldap://h:389");
    assert_eq!(provider(TlsMode::StartTls).url("h"), "ldap://h:389");
    assert_eq!(provider(TlsMode::Ldaps).url("h"), "ldaps://h:636");
    assert_eq!(provider(TlsMode::Ldaps).url("h:1636"), "ldaps://h:1636");
    assert_eq!(provider(TlsMode::None).url("[::1]"), "ldap://[::1]:389");
    assert_eq!(
        provider(TlsMode::None).url("[::1]:10389"),
        "ldap://[::1]:10389"
    );
}

#[test]
fn principal_ids() {
    let p = provider(TlsMode::None);
    assert_eq!(p.user_id("uid=ann,dc=x"), "openldap_user://uid=ann,dc=x");
    assert_eq!(p.group_id("cn=g,dc=x"), "openldap_group://cn=g,dc=x");
    let ad = LdapProvider {
        config: LdapConfig {
            flavor: Flavor::ActiveDirectory,
            ..p.config.clone()
        },
        tls: None,
    };
    assert_eq!(
        ad.user_id("CN=Ann,DC=x"),
        "activedirectory_user://CN=Ann,DC=x"
    );
    assert_eq!(ad.name(), "activedirectory");
}

fn entry(attrs: &[(&str, &str)]) -> SearchEntry {
    let mut map = std::collections::HashMap::new();
    for (k, v) in attrs {
        map.entry(k.to_string())
            .or_insert_with(Vec::new)
            .push(v.to_string());
    }
    SearchEntry {
        dn: "cn=x".into(),
        attrs: map,
        bin_attrs: Default::default(),
    }
}

#[test]
fn active_directory_disabled_bit() {
    let p = LdapProvider {
        config: LdapConfig {
            servers: vec!["dc".into()],
            user_search_base: "DC=corp".into(),
            ..LdapConfig::active_directory()
        },
        tls: None,
    };
    assert!(
        p.check_enabled(&entry(&[("userAccountControl", "512")]))
            .is_ok()
    );
    assert!(matches!(
        p.check_enabled(&entry(&[("userAccountControl", "514")])),
        Err(AuthError::Disabled)
    ));
    assert!(matches!(
        p.check_enabled(&entry(&[("useraccountcontrol", "66050")])),
        Err(AuthError::Disabled)
    ));
}

#[test]
fn openldap_disabled_attribute_and_lock() {
    let mut p = provider(TlsMode::None);
    p.config.user_disabled_attribute = "employeeType".into();
    p.config.user_disabled_value = "disabled".into();
    assert!(
        p.check_enabled(&entry(&[("employeeType", "staff")]))
            .is_ok()
    );
    assert!(matches!(
        p.check_enabled(&entry(&[("employeeType", "Disabled")])),
        Err(AuthError::Disabled)
    ));
    assert!(matches!(
        p.check_enabled(&entry(&[("pwdAccountLockedTime", "000001010000Z")])),
        Err(AuthError::Disabled)
    ));
}

#[test]
fn settings_merge_over_flavor_defaults() {
    let c = LdapConfig::from_settings(&serde_json::json!({
        "flavor": "activedirectory",
        "servers": ["dc1.corp:636"],
        "tls": "ldaps",
        "userSearchBase": "DC=corp",
        "serviceAccountDistinguishedName": "CN=svc,DC=corp",
        "serviceAccountPassword": "pw",
    }))
    .unwrap();
    assert_eq!(c.user_login_attribute, "sAMAccountName");
    assert_eq!(c.user_disabled_bit_mask, 2);
    assert_eq!(c.tls, TlsMode::Ldaps);
    assert!(!format!("{c:?}").contains("pw\""), "{c:?}");
    assert!(
        LdapConfig::from_settings(
            &serde_json::json!({"servers": ["h"], "userSearchBase": "dc=x", "bogus": 1})
        )
        .is_err()
    );
    // A service DN without a password is an unauthenticated bind: refused.
    assert!(
        LdapConfig::from_settings(&serde_json::json!({
            "servers": ["h"], "userSearchBase": "dc=x", "serviceAccountDistinguishedName": "cn=svc"
        }))
        .is_err()
    );
    assert!(
        LdapConfig::from_settings(&serde_json::json!({
            "servers": ["h"], "userSearchBase": "dc=x", "userSearchFilter": "(unbalanced"
        }))
        .is_err()
    );
}

#[tokio::test]
async fn empty_password_is_refused_without_network() {
    // The server does not exist: an attempt to connect would be Unavailable.
    let p = LdapProvider::new(LdapConfig {
        servers: vec!["127.0.0.1:1".into()],
        user_search_base: "dc=x".into(),
        ..LdapConfig::openldap()
    })
    .unwrap();
    assert!(matches!(
        p.authenticate("ann", "").await,
        Err(AuthError::InvalidCredentials)
    ));
}

#[test]
fn dn_under_base() {
    assert!(under("cn=devs,ou=groups,dc=x", "ou=groups,dc=x"));
    assert!(under("CN=devs, OU=Groups,DC=x", "ou=groups,dc=x"));
    assert!(under("ou=groups,dc=x", "ou=groups,dc=x"));
    assert!(!under("cn=devs,ou=othergroups,dc=x", "ou=groups,dc=x"));
    assert!(!under("cn=devs,ou=people,dc=x", "ou=groups,dc=x"));
    assert!(!under("dc=x", "ou=groups,dc=x"));
}

#[test]
fn rdn_values() {
    assert_eq!(first_rdn_value("cn=devs,ou=groups,dc=x"), "devs");
    assert_eq!(first_rdn_value("weird"), "weird");
}
