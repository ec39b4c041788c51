//! The binary's settings (clap): `chat --help` lists every one with its
//! variable, default and bounds; a bad value stops the server naming the
//! variable (exit 2), before anything else; an unknown `CHAT_*` variable
//! is warned about.

use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output};

fn chat(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat"));
    command
        .args(args)
        .env("CHAT_DATA_DIR", dir.path())
        .env("LEPTOS_OUTPUT_NAME", "chat")
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("CHAT_OPS_ADDR", "off");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_setting_with_its_variable_default_and_bounds_whatever_the_environment_holds() {
    let bad = std::ffi::OsStr::new("not a number");
    let out = chat(&["--help"], &[("CHAT_RATE_PER_SEC", bad)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for expected in [
        "--rate-per-sec",
        "[env: CHAT_RATE_PER_SEC=",
        "[default: 10]",
        "--search-budget-secs",
        "0.01 to 86400",
        "[env: CHAT_OPS_ADDR=",
        "[default: 127.0.0.1:9090]",
        "--data-dir",
        "[env: CHAT_DATA_DIR=",
        "at least 1",
    ] {
        assert!(help.contains(expected), "{expected:?} in\n{help}");
    }
    // Every CHAT_* the README's table has is a setting, and the other way round.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut documented: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `CHAT_"))
        .filter_map(|l| l.split('`').next())
        .collect();
    documented.sort();
    documented.dedup();
    for var in &documented {
        let var = format!("CHAT_{var}");
        if var == "CHAT_TLS_CERT" {
            continue; // one row for the pair
        }
        assert!(
            help.contains(&format!("[env: {var}=")),
            "{var} documented, not a setting"
        );
    }
    for var in help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split('=').next())
    {
        let name = var.trim_start_matches("CHAT_");
        assert!(
            documented.contains(&name) || (name == "TLS_KEY" && documented.contains(&"TLS_CERT")),
            "{var} is a setting the README's table does not have"
        );
    }
}

#[test]
fn a_value_out_of_bounds_stops_the_server_naming_the_variable() {
    for (var, value) in [
        ("CHAT_RATE_BURST", "0.5"),
        ("CHAT_SEARCH_BURST", "0"),
        ("CHAT_PING_INTERVAL_SECS", "0"),
        ("CHAT_OUTBOUND_BYTES", "65535"),
        ("CHAT_MAX_ROOMS", "0"),
        ("CHAT_SYNC", "sometimes"),
        ("CHAT_DELETED_USER_MESSAGES", "hide"),
    ] {
        let out = chat(&[], &[(var, std::ffi::OsStr::new(value))]);
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let said = text(&out.stderr);
        assert!(said.contains(var), "{var} in {said}");
    }
}

#[test]
fn a_value_that_is_not_utf8_is_refused_not_dropped() {
    let not_utf8 = std::ffi::OsStr::from_bytes(b"\xff10");
    let out = chat(&[], &[("CHAT_RATE_PER_SEC", not_utf8)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("CHAT_RATE_PER_SEC"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_unknown_chat_variable_is_warned_about_at_start() {
    // A data directory that is a file stops the server right after the
    // warnings: no need to serve.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let out = chat(
        &["--data-dir", file.to_str().unwrap()],
        &[("CHAT_RATE_PER_SECOND", std::ffi::OsStr::new("5"))],
    );
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        said.contains("unknown CHAT_* variable") && said.contains("CHAT_RATE_PER_SECOND"),
        "{said}"
    );
    assert!(
        !said.contains("variable=CHAT_DATA_DIR"),
        "known ones are not warned about"
    );
}
