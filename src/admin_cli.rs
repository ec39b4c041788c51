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
//! Its HTTP is a few lines over a plain `TcpStream` to a loopback port:
//! one request, `Connection: close`, a JSON answer with a length; no HTTP
//! client crate is worth its weight for that.

use crate::store::backup::Manifest;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
            // A large database takes a while: the server answers when done.
            let asked = Some(json!({"dir": dir}));
            let made = request(
                cli.ops_addr,
                secret.trim(),
                "POST",
                "/admin/backup",
                asked,
                LONG_WAIT,
            )?;
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
            // Removing many messages takes a while: the server answers when done.
            let asked = Some(json!({"name": name}));
            let done = request(
                cli.ops_addr,
                secret.trim(),
                "POST",
                "/admin/delete-user",
                asked,
                LONG_WAIT,
            )?;
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

/// `s` for a URL's query (room names are ASCII letters, digits, `-`, `_`;
/// anything else is escaped).
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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

/// One request to the operations listener; the JSON answer of a 2xx.
/// How long an ordinary admin request may take to be answered.
const ANSWER_WAIT: Duration = Duration::from_secs(30);
/// How long a backup, or a pause within an export, may take.
const LONG_WAIT: Duration = Duration::from_secs(24 * 3600);

fn request(
    addr: SocketAddr,
    secret: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    wait: Duration,
) -> Result<Value, Failure> {
    let unreachable = |e: std::io::Error| {
        Failure::Unreachable(format!(
            "no chat server answers on {addr} (CHAT_OPS_ADDR): {e}"
        ))
    };
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(unreachable)?;
    let _ = stream.set_read_timeout(Some(wait));
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).map_err(unreachable)?;
    stream.write_all(body.as_bytes()).map_err(unreachable)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(unreachable)?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(json);
    }
    let why = json["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("HTTP {status}: {body}"));
    Err(Failure::Refused(why))
}

/// [`download`] into `out` (standard output when `None`); what to print.
fn save(
    addr: SocketAddr,
    secret: &str,
    path: &str,
    out: Option<&Path>,
    format: &str,
) -> Result<String, Failure> {
    let Some(file) = out else {
        let mut stdout = std::io::stdout().lock();
        download(addr, secret, path, &mut stdout, format)?;
        return Ok(String::new());
    };
    let mut f = std::fs::File::create(file)
        .map_err(|e| Failure::Refused(format!("cannot write {}: {e}", file.display())))?;
    let bytes = download(addr, secret, path, &mut f, format)?;
    Ok(format!("wrote {bytes} bytes into {}", file.display()))
}

/// `GET path` of an export in `format` streamed into `out` (HTTP/1.0, so
/// the body ends with the connection and is not chunked); the bytes
/// written, or the refusal. A server that stops midway only closes the
/// connection: an export is whole when it ends as its format ends.
fn download(
    addr: SocketAddr,
    secret: &str,
    path: &str,
    out: &mut dyn Write,
    format: &str,
) -> Result<u64, Failure> {
    let unreachable = |e: std::io::Error| {
        Failure::Unreachable(format!(
            "no chat server answers on {addr} (CHAT_OPS_ADDR): {e}"
        ))
    };
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(unreachable)?;
    let _ = stream.set_read_timeout(Some(LONG_WAIT));
    let head =
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\n\r\n");
    stream.write_all(head.as_bytes()).map_err(unreachable)?;
    let mut reader = std::io::BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).map_err(unreachable)?;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(unreachable)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if status != 200 {
        let mut body = String::new();
        let _ = reader.read_to_string(&mut body);
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        return Err(Failure::Refused(
            json["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("HTTP {status}: {body}")),
        ));
    }
    let stopped = |e: std::io::Error| Failure::Refused(format!("the export stopped: {e}"));
    let (mut copied, mut tail, mut buf) = (0u64, Vec::new(), vec![0; 64 * 1024]);
    loop {
        let n = reader.read(&mut buf).map_err(stopped)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(stopped)?;
        copied += n as u64;
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(16);
        tail.drain(..keep);
    }
    out.flush().map_err(stopped)?;
    let end: &[u8] = if format == "html" {
        b"</html>\n"
    } else {
        b"]}\n"
    };
    if !tail.ends_with(end) {
        return Err(Failure::Refused(format!(
            "the export stopped after {copied} bytes (see the server's log); what was written is incomplete"
        )));
    }
    Ok(copied)
}
