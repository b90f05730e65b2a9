//! `pattern` keyword: regular expressions with Go `regexp` (RE2) semantics,
//! compiled with size limits so a hostile schema cannot exhaust memory.
//!
//! The `regex` crate shares RE2's syntax and linear-time guarantee, but its
//! Perl classes (`\d`, `\w`, `\s`, `\b`) are Unicode-aware where Go's are
//! ASCII-only, so those escapes are rewritten to their ASCII spelling
//! before compiling.

use regex::{Regex, RegexBuilder};

/// Upper bound on the compiled program of one pattern (bytes). Far above
/// any realistic validation pattern, far below what would hurt the server.
const REGEX_SIZE_LIMIT: usize = 2 << 20;
/// Upper bound on the lazy DFA cache of one pattern (bytes).
const DFA_SIZE_LIMIT: usize = 2 << 20;
/// Longest accepted pattern source; longer ones are rejected outright.
const MAX_PATTERN_LEN: usize = 16 * 1024;

/// A compiled `pattern`. Keeps the source for messages.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles `source` with Go semantics; the error text follows Go's
    /// `error parsing regexp: <reason>: ` + "`" + `<pattern>` + "`" shape.
    pub fn new(source: &str) -> Result<Pattern, String> {
        compile(source).map(|regex| Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// The pattern as written in the schema.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Unanchored search, as Go's `MatchString`.
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
}

/// Compiles a Go-syntax regular expression, bounded in size.
pub(crate) fn compile(source: &str) -> Result<Regex, String> {
    if source.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "error parsing regexp: expression too long: `{}...`",
            truncate(source, 64)
        ));
    }
    let translated = ascii_perl_classes(source);
    RegexBuilder::new(&translated)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            let reason = match &e {
                regex::Error::CompiledTooBig(_) => "expression too large".to_string(),
                other => {
                    // The syntax error's last line is the reason ("error: ...").
                    let text = other.to_string();
                    let last = text.lines().last().unwrap_or("invalid syntax").trim();
                    go_reason(last.strip_prefix("error: ").unwrap_or(last))
                }
            };
            format!("error parsing regexp: {reason}: `{source}`")
        })
}

/// Go's `syntax.ErrorCode` text for the common `regex-syntax` reasons.
fn go_reason(rust: &str) -> String {
    const MAP: &[(&str, &str)] = &[
        ("unclosed group", "missing closing )"),
        ("unopened group", "unexpected )"),
        ("unclosed character class", "missing closing ]"),
        (
            "repetition operator missing expression",
            "missing argument to repetition operator",
        ),
        ("unrecognized escape sequence", "invalid escape sequence"),
        (
            "incomplete escape sequence",
            "trailing backslash at end of expression",
        ),
        ("invalid repetition count", "invalid repeat count"),
        ("unclosed counted repetition", "invalid repeat count"),
        (
            "repetition quantifier expects a valid decimal",
            "invalid repeat count",
        ),
        (
            "invalid character class range",
            "invalid character class range",
        ),
        ("look-around", "invalid or unsupported Perl syntax"),
        (
            "backreferences are not supported",
            "invalid escape sequence",
        ),
        ("unrecognized flag", "invalid or unsupported Perl syntax"),
    ];
    MAP.iter()
        .find(|(prefix, _)| rust.starts_with(prefix))
        .map_or_else(|| rust.to_string(), |(_, go)| (*go).to_string())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Rewrites `\d \D \w \W \s \S \b \B` to Go's ASCII meaning, inside and
/// outside bracket classes; every other escape is copied verbatim.
fn ascii_perl_classes(src: &str) -> String {
    const DIGIT: &str = "0-9";
    const WORD: &str = "0-9A-Za-z_";
    const SPACE: &str = "\\t\\n\\f\\r ";
    let mut out = String::with_capacity(src.len() + 16);
    let mut chars = src.chars().peekable();
    // Depth of (possibly nested) bracket classes; `at_class_start` marks the
    // position right after `[` or `[^`, where `]` is a literal.
    let mut class_depth = 0usize;
    let mut at_class_start = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                at_class_start = false;
                let set = match e {
                    'd' | 'D' => Some(DIGIT),
                    'w' | 'W' => Some(WORD),
                    's' | 'S' => Some(SPACE),
                    _ => None,
                };
                match (set, class_depth > 0) {
                    (Some(set), false) => {
                        let neg = if e.is_ascii_uppercase() { "^" } else { "" };
                        out.push_str(&format!("[{neg}{set}]"));
                    }
                    (Some(set), true) if e.is_ascii_lowercase() => out.push_str(set),
                    // A negated class inside a class: nest it (the regex
                    // crate supports class nesting, RE2 resolves it the same).
                    (Some(set), true) => out.push_str(&format!("[^{set}]")),
                    (None, false) if e == 'b' || e == 'B' => {
                        out.push_str(&format!("(?-u:\\{e})"));
                    }
                    (None, _) => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' => {
                if class_depth > 0 && chars.peek() == Some(&':') {
                    // POSIX class `[:alpha:]`: copy through the closing `:]`.
                    out.push('[');
                    let mut prev = '[';
                    for n in chars.by_ref() {
                        out.push(n);
                        if prev == ':' && n == ']' {
                            break;
                        }
                        prev = n;
                    }
                    at_class_start = false;
                    continue;
                }
                class_depth += 1;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                at_class_start = true;
            }
            ']' if class_depth > 0 && !at_class_start => {
                class_depth -= 1;
                out.push(']');
            }
            other => {
                at_class_start = false;
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_ascii_classes() {
        let p = Pattern::new(r"^\d+$").expect("compiles");
        assert!(p.is_match("123"));
        assert!(!p.is_match("١٢٣"), "Go's \\d is ASCII-only");
        let p = Pattern::new(r"^[\w.-]+$").expect("compiles");
        assert!(p.is_match("a_b.c-d"));
        assert!(!p.is_match("é"));
        let p = Pattern::new(r"^[^\D]$").expect("compiles");
        assert!(p.is_match("5"));
        let p = Pattern::new(r"^[]a]+$").expect("compiles");
        assert!(p.is_match("]a"));
        let p = Pattern::new(r"^[[:alpha:]\d]+$").expect("compiles");
        assert!(p.is_match("ab12"));
        assert_eq!(ascii_perl_classes(r"\\d"), r"\\d");
    }

    #[test]
    fn bad_and_huge_patterns_fail_cleanly() {
        let err = Pattern::new("(abc").expect_err("unclosed group");
        assert_eq!(err, "error parsing regexp: missing closing ): `(abc`");
        let err = Pattern::new(r"(\w{1000}){1000}").expect_err("too big");
        assert!(err.contains("error parsing regexp"), "{err}");
        assert!(Pattern::new(&"a".repeat(MAX_PATTERN_LEN + 1)).is_err());
    }
}
