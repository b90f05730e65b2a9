//! Search filters, built from configuration and user input. Every value
//! that comes from outside (a login name, a DN) is escaped per RFC 4515
//! before it is placed in a filter.

use super::config::{Flavor, LdapConfig};

/// LDAP_MATCHING_RULE_IN_CHAIN: Active Directory's transitive match, so
/// `(member:1.2.840.113556.1.4.1941:=<dn>)` matches every group `dn` is in,
/// directly or through nested groups.
pub const MATCHING_RULE_IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

/// Escapes a value for an LDAP filter (RFC 4515 section 3): `*`, `(`,
/// `)`, `\` and NUL become `\2a`, `\28`, `\29`, `\5c`, `\00`. Other bytes,
/// UTF-8 included, are valid as they are.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// A configured filter fragment, parenthesized if it is not already.
pub fn wrap(filter: &str) -> String {
    let f = filter.trim();
    if f.starts_with('(') {
        f.to_string()
    } else {
        format!("({f})")
    }
}

/// An attribute name from configuration, checked to be a plain attribute
/// description (letters, digits, `-`, `;`, or a numeric OID), so that it
/// cannot smuggle filter syntax either.
pub fn is_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ';' || c == '.')
}

/// How a login name is looked up: the attribute and the value.
pub fn login_lookup<'a>(config: &'a LdapConfig, username: &'a str) -> (&'a str, &'a str) {
    if config.flavor == Flavor::ActiveDirectory {
        // `DOMAIN\user` → sAMAccountName=user; `user@domain` → userPrincipalName.
        if let Some((_, user)) = username.split_once('\\') {
            return (&config.user_login_attribute, user);
        }
        if username.contains('@')
            && config
                .user_login_attribute
                .eq_ignore_ascii_case("sAMAccountName")
        {
            return ("userPrincipalName", username);
        }
    }
    (&config.user_login_attribute, username)
}

/// The filter finding the user who logs in as `username`.
pub fn user_filter(config: &LdapConfig, username: &str) -> String {
    let (attr, value) = login_lookup(config, username);
    format!(
        "(&(objectClass={}){}({}={}))",
        escape(&config.user_object_class),
        extra(&config.user_search_filter),
        attr,
        escape(value)
    )
}

/// The filter finding the groups whose member attribute holds any of `values`.
pub fn groups_with_members(config: &LdapConfig, values: &[&str]) -> String {
    let attr = &config.group_member_mapping_attribute;
    let members = match values {
        [one] => format!("({attr}={})", escape(one)),
        many => {
            let alts: String = many
                .iter()
                .map(|v| format!("({attr}={})", escape(v)))
                .collect();
            format!("(|{alts})")
        }
    };
    format!(
        "(&(objectClass={}){}{members})",
        escape(&config.group_object_class),
        extra(&config.group_search_filter)
    )
}

/// Active Directory: every group `user_dn` belongs to, nested ones included,
/// in one search (LDAP_MATCHING_RULE_IN_CHAIN on the member attribute).
pub fn groups_in_chain(config: &LdapConfig, user_dn: &str) -> String {
    format!(
        "(&(objectClass={}){}({}:{MATCHING_RULE_IN_CHAIN}:={}))",
        escape(&config.group_object_class),
        extra(&config.group_search_filter),
        config.group_member_mapping_attribute,
        escape(user_dn)
    )
}

/// The filter checking that a known entry is a group (base-scope reads).
pub fn is_group(config: &LdapConfig) -> String {
    format!(
        "(&(objectClass={}){})",
        escape(&config.group_object_class),
        extra(&config.group_search_filter)
    )
}

fn extra(filter: &str) -> String {
    if filter.trim().is_empty() {
        String::new()
    } else {
        wrap(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_rfc4515_specials() {
        assert_eq!(escape("ann"), "ann");
        assert_eq!(escape("*"), "\\2a");
        assert_eq!(escape("a(b)c"), "a\\28b\\29c");
        assert_eq!(escape("back\\slash"), "back\\5cslash");
        assert_eq!(escape("nul\0"), "nul\\00");
        assert_eq!(escape("Zoë"), "Zoë");
        // RFC 4515's own examples.
        assert_eq!(
            escape("Parens R Us (for all your parenthetical needs)"),
            "Parens R Us \\28for all your parenthetical needs\\29"
        );
        assert_eq!(escape("C:\\MyFile"), "C:\\5cMyFile");
    }

    #[test]
    fn injection_attempts_stay_one_value() {
        let config = LdapConfig::openldap();
        for attack in [
            "*",
            "*)(uid=*",
            "ann)(|(uid=*",
            "*)(&",
            "ann\0",
            "a*",
            "ann)(objectClass=*",
        ] {
            let f = user_filter(&config, attack);
            // Parses as a filter, and the user's input is one assertion value
            // with no wildcard: exactly three assertions, no substring match.
            assert!(ldap3::parse_filter(&f).is_ok(), "{f}");
            let body = f
                .strip_prefix("(&(objectClass=inetOrgPerson)(uid=")
                .unwrap();
            let value = body.strip_suffix("))").unwrap();
            assert!(!value.contains(['*', '(', ')']), "{f}");
        }
        assert_eq!(
            user_filter(&config, "*)(uid=*"),
            "(&(objectClass=inetOrgPerson)(uid=\\2a\\29\\28uid=\\2a))"
        );
    }

    #[test]
    fn user_filter_with_extra_filter() {
        let config = LdapConfig {
            user_search_filter: "employeeType=staff".into(),
            ..LdapConfig::openldap()
        };
        assert_eq!(
            user_filter(&config, "ann"),
            "(&(objectClass=inetOrgPerson)(employeeType=staff)(uid=ann))"
        );
    }

    #[test]
    fn active_directory_login_forms() {
        let config = LdapConfig::active_directory();
        assert_eq!(
            user_filter(&config, "CORP\\ann"),
            "(&(objectClass=person)(sAMAccountName=ann))"
        );
        assert_eq!(
            user_filter(&config, "ann@corp.example"),
            "(&(objectClass=person)(userPrincipalName=ann@corp.example))"
        );
        assert_eq!(
            user_filter(&config, "ann"),
            "(&(objectClass=person)(sAMAccountName=ann))"
        );
    }

    #[test]
    fn active_directory_nested_groups_filter() {
        let config = LdapConfig::active_directory();
        let f = groups_in_chain(&config, "CN=Ann (Ops),OU=People,DC=corp,DC=example");
        assert_eq!(
            f,
            "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=CN=Ann \\28Ops\\29,OU=People,DC=corp,DC=example))"
        );
        assert!(ldap3::parse_filter(&f).is_ok());
    }

    #[test]
    fn group_member_filters() {
        let config = LdapConfig::openldap();
        assert_eq!(
            groups_with_members(&config, &["uid=ann,ou=people,dc=example,dc=org"]),
            "(&(objectClass=groupOfNames)(member=uid=ann,ou=people,dc=example,dc=org))"
        );
        let f = groups_with_members(&config, &["cn=a,dc=x", "cn=b\\2c c,dc=x"]);
        assert_eq!(
            f,
            "(&(objectClass=groupOfNames)(|(member=cn=a,dc=x)(member=cn=b\\5c2c c,dc=x)))"
        );
        assert!(ldap3::parse_filter(&f).is_ok());
    }

    #[test]
    fn attribute_names() {
        assert!(is_attribute_name("sAMAccountName"));
        assert!(is_attribute_name("1.2.3"));
        assert!(!is_attribute_name("uid=*)(cn"));
        assert!(!is_attribute_name(""));
    }
}
