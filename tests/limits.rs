//! The server raises its own open-file limit (one per connection) to the
//! hard limit. Its own test binary: it lowers the soft limit of this process,
//! which the server inherits.

mod common;

use common::ServerProcess;

/// The soft "Max open files" of a process, from `/proc/PID/limits`.
fn soft_nofile(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_server_raises_its_open_file_limit_to_the_hard_limit() {
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
    let low = 256.min(hard);
    rlimit::Resource::NOFILE.set(low, hard).unwrap();
    assert_eq!(soft_nofile(std::process::id()), low);
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(dir.path(), &[]).await;
    assert_eq!(soft_nofile(server.child.id()), hard);
    server.kill();
}
