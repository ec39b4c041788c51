//! `chat admin …`: the administrators' command line, on the same binary.
//!
//! It asks the *running* server, over its operations listener
//! (`CHAT_OPS_ADDR`, loopback by default), with the secret the server
//! wrote to `admin.secret` in its data directory at start (so it runs as
//! the server's user, on its machine). Through the server, the data
//! directory's lock is no obstacle, SQLite and PostgreSQL work the same,
//! and a cluster's nodes hear of every change (sessions ended here close on
//! every node). With no server running, it says so and changes nothing.
//!
//! Its HTTP ([`http`]) is a few lines over a plain `TcpStream` to a
//! loopback port; no HTTP client crate is worth its weight for that.

mod http;

use crate::store::backup::Manifest;
use clap::{Parser, Subcommand};
use http::{request, save, url_escape, ANSWER_WAIT, LONG_WAIT};
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `chat admin`'s flags and commands.
#[derive(Debug, Parser)]
#[command(
    name = "chat admin",
    about = "Administer a running chat server (over its operations listener, with the secret in its data directory)"
)]
struct AdminCli {
    /// The server's data directory (where it wrote admin.secret) [default: as the server's]
    #[arg(long, env = "CHAT_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The server's operations listener
    #[arg(long, env = "CHAT_OPS_ADDR", default_value = "127.0.0.1:9090")]
    ops_addr: SocketAddr,
    /// The chat's public address, for the links it prints
    #[arg(long, default_value = "http://localhost:3000", value_name = "URL")]
    base_url: String,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Make an account (the password is read from standard input, or asked for)
    CreateUser {
        /// Its name
        name: String,
        /// Make it an administrator
        #[arg(long)]
        admin: bool,
    },
    /// Set an account's password (read as for create-user); ends its sessions
    SetPassword {
        /// The account's name
        name: String,
    },
    /// Make an account an administrator
    GrantAdmin {
        /// The account's name
        name: String,
    },
    /// Make an administrator an ordinary account
    RevokeAdmin {
        /// The account's name
        name: String,
    },
    /// Make an invite and print its sign-up link
    Invite {
        /// Sign-ups it allows (1 to 10000)
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Days it lasts (above 0, at most 365)
        #[arg(long, default_value_t = 7.0)]
        days: f64,
    },
    /// List the accounts
    ListUsers,
    /// Print the moderators' audit log, newest first (50 entries a page)
    Audit {
        /// Only this room's
        #[arg(long)]
        room: Option<String>,
        /// Entries older than this id (the next page)
        #[arg(long)]
        before: Option<u64>,
    },
    /// Sign an account out everywhere
    EndSessions {
        /// The account's name
        name: String,
    },
    /// Back the running server up into DIR (missing or empty): its database and files, and a manifest
    Backup {
        /// Where (made if missing)
        dir: PathBuf,
    },
    /// Write one room's history, or every room's, as JSON (the protocol's message objects) or a self-contained HTML page
    Export {
        /// Only this room
        #[arg(long)]
        room: Option<String>,
        /// json or html
        #[arg(long, default_value = "json")]
        format: String,
        /// Where [default: standard output]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write everything the server keeps about an account (its archive, as from its account page) as JSON
    UserData {
        /// The account's name
        name: String,
        /// Where [default: standard output]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Delete an account: sessions end, the name is freed, uploads go, messages kept as "deleted user" or removed (CHAT_DELETED_USER_MESSAGES)
    DeleteUser {
        /// The account's name
        name: String,
    },
    /// Restore a backup into an empty data directory (no server needed; start one on it after)
    Restore {
        /// The backup's directory
        dir: PathBuf,
        /// Where its files go [default: files/ in the data directory]
        #[arg(long, env = "CHAT_FILES_DIR", value_name = "DIR")]
        files_dir: Option<PathBuf>,
    },
}

/// Runs `chat admin` with `args` (the program name first, then `admin`);
/// the exit status: 0 done, 1 refused by the server, 2 a usage error
/// (clap's), 3 no server answered or its secret could not be read.
pub fn main(args: impl IntoIterator<Item = String>) -> i32 {
    let mut args: Vec<String> = args.into_iter().collect();
    if args.get(1).map(String::as_str) == Some("admin") {
        args.remove(1);
    }
    let cli = AdminCli::parse_from(args);
    match run(cli) {
        Ok(said) => {
            if !said.is_empty() {
                println!("{said}");
            }
            0
        }
        Err(Failure::Refused(why)) => {
            eprintln!("refused: {why}");
            1
        }
        Err(Failure::Unreachable(why)) => {
            eprintln!("{why}");
            3
        }
    }
}

/// Why a command did not do what it asked.
enum Failure {
    /// The server answered no (the message says why).
    Refused(String),
    /// No server answered, or its secret could not be read.
    Unreachable(String),
}

fn run(cli: AdminCli) -> Result<String, Failure> {
    let dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(crate::store::default_data_dir);
    if let Command::Restore {
        dir: from,
        files_dir,
    } = &cli.command
    {
        return restore(from, &dir, files_dir.as_deref());
    }
    let secret_path = dir.join(crate::server::SECRET_FILE);
    let secret = std::fs::read_to_string(&secret_path).map_err(|e| {
        Failure::Unreachable(format!(
            "cannot read {} ({e}): is the server running with this data directory, and are you its user?",
            secret_path.display()
        ))
    })?;
    let ask = |method: &str, path: &str, body: Option<Value>| {
        request(cli.ops_addr, secret.trim(), method, path, body, ANSWER_WAIT)
    };
    // What takes a while (a backup, removing many messages): the server
    // answers when done.
    let ask_long = |method: &str, path: &str, body: Option<Value>| {
        request(cli.ops_addr, secret.trim(), method, path, body, LONG_WAIT)
    };
    match cli.command {
        Command::CreateUser { name, admin } => {
            let password = read_password()?;
            let made = ask(
                "POST",
                "/admin/users",
                Some(json!({"name": name, "password": password, "admin": admin})),
            )?;
            Ok(format!(
                "made {} ({}), id {}",
                made["name"], made["role"], made["id"]
            ))
        }
        Command::SetPassword { name } => {
            let password = read_password()?;
            ask(
                "POST",
                "/admin/password",
                Some(json!({"name": name, "password": password})),
            )?;
            Ok(format!("password of {name:?} set; its sessions ended"))
        }
        Command::GrantAdmin { name } => {
            ask(
                "POST",
                "/admin/role",
                Some(json!({"name": name, "role": "admin"})),
            )?;
            Ok(format!("{name:?} is an administrator"))
        }
        Command::RevokeAdmin { name } => {
            ask(
                "POST",
                "/admin/role",
                Some(json!({"name": name, "role": "user"})),
            )?;
            Ok(format!("{name:?} is no administrator"))
        }
        Command::Invite { uses, days } => {
            let made = ask(
                "POST",
                "/admin/invites",
                Some(json!({"uses": uses, "days": days})),
            )?;
            let path = made["path"].as_str().unwrap_or_default();
            Ok(format!("{}{path}", cli.base_url.trim_end_matches('/')))
        }
        Command::ListUsers => {
            let listed = ask("GET", "/admin/users", None)?;
            let users = listed["users"].as_array().cloned().unwrap_or_default();
            let lines: Vec<String> = users
                .iter()
                .map(|u| {
                    format!(
                        "{}\t{}\t{}",
                        u["name"].as_str().unwrap_or(""),
                        u["role"].as_str().unwrap_or(""),
                        u["id"].as_str().unwrap_or("")
                    )
                })
                .collect();
            Ok(format!("name\trole\tid\n{}", lines.join("\n")))
        }
        Command::Audit { room, before } => {
            let mut path = String::from("/admin/audit?");
            if let Some(room) = &room {
                path.push_str(&format!("room={}&", url_escape(room)));
            }
            if let Some(before) = before {
                path.push_str(&format!("before={before}"));
            }
            let listed = ask("GET", &path, None)?;
            let entries = listed["entries"].as_array().cloned().unwrap_or_default();
            let field = |e: &Value, k: &str| match &e[k] {
                Value::String(s) => s.escape_debug().to_string(),
                Value::Null => "-".to_owned(),
                other => other.to_string(),
            };
            let lines: Vec<String> = entries
                .iter()
                .map(|e| {
                    [
                        "id", "ts", "by", "by_id", "action", "room", "user", "user_id", "reason",
                        "detail",
                    ]
                    .iter()
                    .map(|k| field(e, k))
                    .collect::<Vec<_>>()
                    .join("\t")
                })
                .collect();
            let more = match listed["more"].as_bool() {
                Some(true) => "\n(more: --before the last id)",
                _ => "",
            };
            Ok(format!(
                "id\tts\tby\tby_id\taction\troom\tuser\tuser_id\treason\tdetail\n{}{more}",
                lines.join("\n")
            ))
        }
        Command::EndSessions { name } => {
            ask("POST", "/admin/end-sessions", Some(json!({"name": name})))?;
            Ok(format!("{name:?} is signed out everywhere"))
        }
        Command::Backup { dir } => {
            let dir = std::path::absolute(&dir)
                .map_err(|e| Failure::Refused(format!("{}: {e}", dir.display())))?;
            let made = ask_long("POST", "/admin/backup", Some(json!({"dir": dir})))?;
            let manifest: Manifest = serde_json::from_value(made)
                .map_err(|e| Failure::Refused(format!("the server's answer: {e}")))?;
            Ok(format!(
                "backed up into {}: {}",
                dir.display(),
                summary(&manifest)
            ))
        }
        Command::Export { room, format, out } => {
            let mut path = format!("/admin/export?format={}", url_escape(&format));
            if let Some(room) = &room {
                path.push_str(&format!("&room={}", url_escape(room)));
            }
            save(cli.ops_addr, secret.trim(), &path, out.as_deref(), &format)
        }
        Command::UserData { name, out } => {
            let path = format!("/admin/user-data?name={}", url_escape(&name));
            save(cli.ops_addr, secret.trim(), &path, out.as_deref(), "json")
        }
        Command::DeleteUser { name } => {
            let done = ask_long("POST", "/admin/delete-user", Some(json!({"name": name})))?;
            Ok(format!(
                "{name:?} is deleted; its messages are {}",
                done["messages"].as_str().unwrap_or("kept")
            ))
        }
        Command::Restore { .. } => unreachable!("restored above"),
    }
}

/// What a manifest says, in a line.
fn summary(m: &Manifest) -> String {
    let c = &m.content;
    format!(
        "schema {}, {} rooms, {} messages, {} identities ({} accounts), {} uploads ({} bytes of files)",
        c.schema,
        c.rooms.len(),
        c.messages,
        c.identities,
        c.accounts,
        c.uploads,
        c.file_bytes
    )
}

/// `chat admin restore`: here, not through a server (none may run on an
/// empty data directory).
fn restore(from: &Path, data_dir: &Path, files: Option<&Path>) -> Result<String, Failure> {
    let files = files.map_or_else(|| data_dir.join("files"), Path::to_owned);
    match crate::store::backup::restore_sqlite(from, data_dir, &files) {
        Ok(manifest) => Ok(format!(
            "restored into {}: {}; start the server on it",
            data_dir.display(),
            summary(&manifest)
        )),
        Err(e) => Err(Failure::Refused(e.to_string())),
    }
}

/// The password, from standard input: asked for without echo on a
/// terminal, else its first line.
fn read_password() -> Result<String, Failure> {
    let stdin = std::io::stdin();
    // SAFETY: isatty has no memory-safety preconditions.
    let terminal = unsafe { libc::isatty(libc::STDIN_FILENO) } == 1;
    if terminal {
        eprint!("password: ");
        let _ = std::io::stderr().flush();
    }
    let echo = terminal.then(no_echo).flatten();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = echo {
        // SAFETY: restores the attributes read from the same descriptor.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &saved) };
        eprintln!();
    }
    read.map_err(|e| Failure::Refused(format!("cannot read the password: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(Failure::Refused(
            "no password given (on standard input)".into(),
        ));
    }
    Ok(password)
}

/// Turns the terminal's echo off; the attributes to restore.
fn no_echo() -> Option<libc::termios> {
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    unsafe {
        let mut attrs: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(libc::STDIN_FILENO, &mut attrs) != 0 {
            return None;
        }
        let saved = attrs;
        attrs.c_lflag &= !libc::ECHO;
        libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &attrs);
        Some(saved)
    }
}
