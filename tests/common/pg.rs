//! A throw-away PostgreSQL cluster for a test: `initdb` in a temporary
//! directory and `pg_ctl start` on a free port (as the `postgres` user when
//! the tests run as root, since PostgreSQL refuses root), stopped and
//! removed when dropped. Debian's `postgresql` package (`make setup`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster; `url` reaches its `postgres` database as `chat`.
pub struct PgCluster {
    pub url: String,
    /// The server's options (port, socket directory…), for a restart.
    options: String,
    dir: Where,
}

/// Where a cluster's files are.
enum Where {
    /// A directory of its own, removed with the cluster.
    Own(tempfile::TempDir),
    /// Under a test's data directory, kept for a restart.
    Kept(PathBuf),
}

/// Where Debian keeps the server programs (not on PATH).
pub fn bin(program: &str) -> PathBuf {
    let debian = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(debian)
        .ok()
        .and_then(|dirs| dirs.filter_map(Result::ok).map(|d| d.path()).max());
    match newest {
        Some(dir) => dir.join("bin").join(program),
        None => PathBuf::from(program),
    }
}

/// `program args…`, as `postgres` when this process is root.
fn run_as_owner(program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin(program));
        c
    } else {
        Command::new(bin(program))
    }
}

fn is_root() -> bool {
    // /proc/self/status: "Uid:\treal\teffective…"
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

impl PgCluster {
    /// Starts a fresh cluster; panics with the reason if PostgreSQL is missing.
    pub fn start() -> PgCluster {
        let dir = tempfile::tempdir().unwrap();
        PgCluster::start_at(Where::Own(dir))
    }

    /// Starts the cluster kept in `dir` (made there first if there is none):
    /// a server restarted on one data directory finds its database again.
    /// Stopped, but not removed, when dropped.
    pub fn in_dir(dir: &Path) -> PgCluster {
        std::fs::create_dir_all(dir).unwrap();
        // The postgres user must reach it through the test's directory.
        if let Some(parent) = dir.parent() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        PgCluster::start_at(Where::Kept(dir.to_owned()))
    }

    /// A test server's configuration (`fast`) storing in this cluster.
    pub fn node(&self) -> chat::Config {
        let mut c = super::fast();
        c.store.database_url = Some(self.url.clone());
        c
    }

    /// Two servers on this cluster that take accounts (cheap password
    /// hashing, as `http::accounts_config`).
    pub async fn two_account_nodes(&self) -> (super::TestServer, super::TestServer) {
        let config = || chat::Config {
            password_memory_kib: 64,
            ..self.node()
        };
        (
            super::TestServer::start(config()).await,
            super::TestServer::start(config()).await,
        )
    }

    fn path(&self) -> &Path {
        match &self.dir {
            Where::Own(dir) => dir.path(),
            Where::Kept(dir) => dir,
        }
    }

    fn start_at(place: Where) -> PgCluster {
        let root = match &place {
            Where::Own(dir) => dir.path().to_owned(),
            Where::Kept(dir) => dir.clone(),
        };
        if is_root() {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root)
                .status()
                .unwrap();
            assert!(owned.success(), "chown the cluster directory to postgres");
        }
        let data = root.join("data");
        let port = super::free_addr().port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            root.display()
        );
        let cluster = PgCluster {
            url: format!("postgres://chat@127.0.0.1:{port}/postgres"),
            options,
            dir: place,
        };
        if !data.join("PG_VERSION").exists() {
            cluster.init(&data);
        }
        cluster.ctl("start");
        cluster
    }

    fn init(&self, data: &Path) {
        let init = run_as_owner("initdb")
            .args(["-A", "trust", "-U", "chat", "--no-sync", "-D"])
            .arg(data)
            .output()
            .expect("initdb from Debian's postgresql package (make setup)");
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }

    /// `pg_ctl stop` (fast) or `start` again, on the same data.
    pub fn ctl(&self, action: &str) {
        let data = self.path().join("data");
        let mut c = run_as_owner("pg_ctl");
        c.arg(action).args(["-w", "-t", "60", "-D"]).arg(&data);
        if action == "stop" {
            c.args(["-m", "fast"]);
        } else {
            c.arg("-l").arg(self.path().join("log"));
            c.args(["-o", &self.options]);
        }
        let done = c.output().unwrap();
        assert!(
            done.status.success(),
            "pg_ctl {action}: {}",
            String::from_utf8_lossy(&done.stderr)
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.path().join("data");
        let _ = run_as_owner("pg_ctl")
            .args(["stop", "-w", "-m", "fast", "-D"])
            .arg(&data)
            .output();
    }
}
