//! The examples of `docs/cli.md`, run as written.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::harness::*;
use super::support::BIN;

/// The docs' examples: every `$ ` line of a `console` block in `docs/cli.md`, run in order
/// in one shell each against a fresh broker (with `streambus` on the PATH and
/// STREAMBUS_BROKERS set). A command whose shown output starts with `error:` must fail with
/// exactly that line on stderr; any other must succeed quietly and print what is shown,
/// up to what differs from run to run (see [`normalize`]), a line `...` standing for any
/// number of lines.
#[test]
fn the_examples_in_the_cli_docs_work_as_written() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
    let text = std::fs::read_to_string(&docs).unwrap();
    let examples = console_examples(&text);
    assert!(examples.len() > 20, "{} examples", examples.len());
    // The defaults a user has, but for groups that form at once.
    let broker = Broker::start_with("group_initial_rebalance_delay_ms = 0\n");
    let bin_dir = PathBuf::from(BIN).parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let bootstrap = broker.bootstrap();
    for (command, output) in examples {
        let child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(broker.dir.path())
            .env("PATH", &path)
            .env("STREAMBUS_BROKERS", &bootstrap)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let ran = finish(child, "", COMMAND_TIMEOUT);
        match output.first().filter(|line| line.starts_with("error:")) {
            Some(error) => {
                assert_eq!(ran.code, Some(1), "{command}: {ran:?}");
                assert_eq!(ran.stderr.trim_end(), error, "{command}");
            }
            None => {
                assert_eq!(ran.code, Some(0), "{command}: {ran:?}");
                assert_eq!(ran.stderr, "", "{command}");
                let port = broker.port().to_string();
                let printed: Vec<String> = ran
                    .stdout
                    .lines()
                    .map(|line| normalize(&line.replace(&port, "9092")))
                    .collect();
                let shown: Vec<String> = output.iter().map(|line| normalize(line)).collect();
                assert!(
                    matches(&shown, &printed),
                    "{command}: the docs show\n{}\nbut it printed\n{}",
                    shown.join("\n"),
                    printed.join("\n")
                );
            }
        }
    }
}

/// `(command, output lines)` of every `$ ` line in the docs' ```console blocks.
fn console_examples(text: &str) -> Vec<(String, Vec<String>)> {
    let mut examples: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_console = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_console = line == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            examples.push((command.to_owned(), Vec::new()));
        } else if let Some((_, output)) = examples.last_mut() {
            output.push(line.to_owned());
        }
    }
    examples
}

/// A line without what differs between runs: runs of spaces (column widths follow the
/// values), 22-character ids (topic and cluster ids) and 13-digit timestamps.
fn normalize(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = String::new();
    let mut token = String::new();
    let is_id_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let flush = |token: &mut String, out: &mut String| {
        if token.len() == 22 {
            out.push_str("<id>");
        } else if token.len() == 13 && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("<timestamp>");
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in words.join(" ").chars() {
        if is_id_char(c) {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// Whether `printed` is `shown`, where a shown line `...` matches any number of lines.
fn matches(shown: &[String], printed: &[String]) -> bool {
    match shown.split_first() {
        None => printed.is_empty(),
        Some((first, rest)) if first == "..." => {
            (0..=printed.len()).any(|skip| matches(rest, &printed[skip..]))
        }
        Some((first, rest)) => printed
            .split_first()
            .is_some_and(|(line, tail)| line == first && matches(rest, tail)),
    }
}

#[test]
fn shown_output_matches_with_ellipses_and_without_run_specific_values() {
    let lines = |text: &str| -> Vec<String> { text.lines().map(normalize).collect() };
    assert!(matches(&lines("a\n...\nd"), &lines("a\nb\nc\nd")));
    assert!(matches(&lines("a\n...\nd"), &lines("a\nd")));
    assert!(!matches(&lines("a\n...\nd"), &lines("a\nb")));
    assert!(matches(
        &lines("Id: eqDMP8srTL-PEA30m2h1_A  x"),
        &lines("Id: AAAAAAAAAAAAAAAAAAAAAQ x")
    ));
    assert!(matches(
        &lines("\"timestamp\":1796165408955,"),
        &lines("\"timestamp\":1700000000000,")
    ));
    assert!(!matches(&lines("offset: 1"), &lines("offset: 2")));
}
