//! YAML for `--output yaml`: block-style YAML from a `serde_json::Value`.
//!
//! The tools' results are JSON values, so the emitter needs only JSON's shapes: mappings with
//! string keys, sequences, strings, numbers, booleans and null. A string is written plain
//! only when no YAML 1.1 or 1.2 reader could take it for anything else (it starts with a
//! letter, `_` or `/`, holds only letters, digits, spaces inside and `_./-`, and is not a
//! word like `yes` or `null`); any other string is double-quoted, with every character YAML
//! does not print as itself escaped. The output is then read back as the same value by any
//! YAML reader. Writing this is cheaper than a YAML crate, none of which is both maintained
//! and small.

use serde_json::Value;

/// The value as a YAML document, ending in a newline.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => mapping(map, 0, &mut out),
        Value::Array(items) if !items.is_empty() => sequence(items, 0, &mut out),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

fn mapping(map: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in map {
        push_indent(out, indent);
        out.push_str(&string(key));
        out.push(':');
        nested(value, indent, out);
    }
}

fn sequence(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        push_indent(out, indent);
        out.push('-');
        match item {
            // `- key: value` with the rest of the mapping under the first key, and `- - x`
            // for a sequence in a sequence: render one level deeper, then put the dash in
            // place of the first line's indentation.
            Value::Object(map) if !map.is_empty() => {
                let mut inner = String::new();
                mapping(map, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            Value::Array(items) if !items.is_empty() => {
                let mut inner = String::new();
                sequence(items, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            scalar => {
                out.push(' ');
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

/// What follows `key:` — a nested block on the next lines, or a scalar on this one.
fn nested(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            mapping(map, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            sequence(items, indent + 2, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
}

/// A scalar or an empty collection, on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Words that some YAML version reads as a boolean or null.
const RESERVED: &[&str] = &["true", "false", "yes", "no", "on", "off", "y", "n", "null"];

fn string(s: &str) -> String {
    if is_plain(s) { s.to_owned() } else { quoted(s) }
}

fn is_plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || first == '/')
        && !s.ends_with(' ')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | ' '))
        && !RESERVED.iter().any(|word| s.eq_ignore_ascii_case(word))
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // Controls, and what YAML takes for line breaks or a byte order mark.
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn mappings_and_sequences_nest_in_block_style() {
        // Keys in order, so that the test holds with or without serde_json's
        // `preserve_order`.
        let value = json!({
            "configs": {},
            "internal": false,
            "matrix": [[1, 2], [], ["a"]],
            "name": "orders",
            "partitions": [
                {"isr": [], "leader": 1, "partition": 0, "replicas": [1, 2]},
                {"isr": [2], "leader": -1, "partition": 1, "replicas": [2]},
            ],
            "rack": null,
            "ratio": 0.5,
        });
        assert_eq!(
            to_string(&value),
            "\
configs: {}
internal: false
matrix:
  - - 1
    - 2
  - []
  - - a
name: orders
partitions:
  - isr: []
    leader: 1
    partition: 0
    replicas:
      - 1
      - 2
  - isr:
      - 2
    leader: -1
    partition: 1
    replicas:
      - 2
rack: null
ratio: 0.5
"
        );
    }

    #[test]
    fn top_level_scalars_and_empty_collections_are_one_line() {
        assert_eq!(to_string(&json!([])), "[]\n");
        assert_eq!(to_string(&json!({})), "{}\n");
        assert_eq!(to_string(&json!(3)), "3\n");
        assert_eq!(to_string(&json!(["a", {"b": 1}])), "- a\n- b: 1\n");
    }

    #[test]
    fn strings_another_type_could_be_read_from_are_quoted() {
        let plain = [
            "orders",
            "_x",
            "/tmp/a.log",
            "a b",
            "TOPIC_CONFIG",
            "cleanup.policy",
        ];
        for s in plain {
            assert_eq!(string(s), s, "{s}");
        }
        let quoted_as = [
            ("", r#""""#),
            ("yes", r#""yes""#),
            ("Null", r#""Null""#),
            ("off", r#""off""#),
            ("123", r#""123""#),
            ("1e3", r#""1e3""#),
            ("-1", r#""-1""#),
            (".inf", r#"".inf""#),
            ("2024-01-01", r#""2024-01-01""#),
            ("127.0.0.1:9092", r#""127.0.0.1:9092""#),
            ("a: b", r#""a: b""#),
            ("a #b", r#""a #b""#),
            ("- x", r#""- x""#),
            ("trailing ", r#""trailing ""#),
            (" leading", r#"" leading""#),
            ("{}", r#""{}""#),
            ("say \"hi\"\\", r#""say \"hi\"\\""#),
            ("line\nbreak\ttab", r#""line\nbreak\ttab""#),
            (
                "nul\u{0}del\u{7f}nel\u{85}ls\u{2028}",
                r#""nul\u0000del\u007fnel\u0085ls\u2028""#,
            ),
            ("héllo", r#""héllo""#),
        ];
        for (s, want) in quoted_as {
            assert_eq!(string(s), want, "{s:?}");
        }
        assert_eq!(to_string(&json!({"": 1, "a b": "x"})), "\"\": 1\na b: x\n");
    }
}
