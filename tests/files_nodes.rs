//! *1.2* (section 5) on two servers sharing one PostgreSQL database and
//! one files directory (`CHAT_FILES_DIR`, as a network file system shares
//! it): a file uploaded through one node is posted and served through the
//! other, with the same access decision there.

mod common;

use common::files::*;
use common::pg::PgCluster;
use common::TestServer;
use image::ImageFormat;

#[tokio::test]
async fn a_file_uploaded_through_one_node_is_posted_and_served_through_the_other() {
    let cluster = PgCluster::start();
    let shared = tempfile::tempdir().unwrap();
    let node = || chat::Config {
        files_dir: Some(shared.path().to_owned()),
        password_memory_kib: 64,
        ..cluster.node()
    };
    let a = TestServer::start(node()).await;
    let b = TestServer::start(node()).await;
    // An account: her session holds on both nodes, with a socket on each.
    let ann = common::http::signed_up(&a, "Ann").await;
    let (mut ann_a, _) = common::signed_socket(&a, &ann).await;
    ann_a.join("general").await;
    let mut reader_b = b.member("reader", "general").await;

    let up = upload(&a, &ann, "map.jpg", &picture(640, 480, ImageFormat::Jpeg)).await;
    assert_eq!(up.status, 201);
    let file = up.json();
    let url = file["url"].as_str().unwrap();
    // Not posted yet: hers alone, on either node.
    assert_eq!(fetch(&b, &ann, url).await.status, 200);
    assert_eq!(fetch(&b, "", url).await.status, 404);

    // Posted through b.
    let (mut ann_b, _) = common::signed_socket(&b, &ann).await;
    ann_b.join("general").await;
    let id = file["id"].as_str().unwrap();
    let sent = post_with(&mut ann_b, "general", "where we meet", &[id]).await;
    assert_eq!(sent["attachments"][0]["id"], id, "{sent}");
    // Node a delivers it with its attachment, read from the database.
    let at_a = ann_a.recv_type("message").await;
    assert_eq!(at_a["attachments"][0], file);
    assert_eq!(
        reader_b.recv_type("message").await["attachments"][0]["id"],
        id
    );
    for node in [&a, &b] {
        let got = fetch(node, "", url).await;
        assert_eq!(
            (got.status, got.header("content-type")),
            (200, Some("image/jpeg"))
        );
        assert_eq!(
            fetch(node, "", file["thumb_url"].as_str().unwrap())
                .await
                .status,
            200
        );
    }
}

#[tokio::test]
async fn uploads_through_both_nodes_at_once_never_pass_the_quota_together() {
    let cluster = PgCluster::start();
    let shared = tempfile::tempdir().unwrap();
    let node = || chat::Config {
        files_dir: Some(shared.path().to_owned()),
        password_memory_kib: 64,
        upload_quota_bytes: 10_000,
        ..cluster.node()
    };
    let a = std::sync::Arc::new(TestServer::start(node()).await);
    let b = std::sync::Arc::new(TestServer::start(node()).await);
    let ann = common::http::signed_up(&a, "Ann").await;
    // Twelve files of 2,000 bytes at once, six through each node: five fit.
    let sent: Vec<_> = (0..12)
        .map(|n| {
            let (node, ann) = (if n % 2 == 0 { a.clone() } else { b.clone() }, ann.clone());
            tokio::spawn(async move { upload(&node, &ann, &format!("{n}.bin"), &[7; 2000]).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for up in sent {
        statuses.push(up.await.unwrap().status);
    }
    statuses.sort();
    assert_eq!(statuses, [[201; 5].as_slice(), &[507; 7]].concat());
    // At the bound, through the other node: one byte more is refused.
    let full = upload(&b, &ann, "more.bin", &[7; 1]).await;
    assert_eq!(full.status, 507);
    assert!(full.json()["message"]
        .as_str()
        .unwrap()
        .contains("10000 bytes are used"));
}
