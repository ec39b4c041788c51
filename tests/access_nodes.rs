//! *1.2* (section 2) across two servers on one PostgreSQL database: a
//! private room made on one node exists on the other only for its members
//! and the invited; an invitation reaches the other node's connection; a
//! member who leaves on one node stops receiving on the other at once; and
//! an outsider on the other node hears nothing of it.

mod common;

use common::http::signed_up as sign_up;
use common::pg::PgCluster;
use common::{answer, signed_socket};
use serde_json::json;

#[tokio::test]
async fn a_private_room_made_on_one_node_is_shared_with_its_members_only_on_the_other() {
    let cluster = PgCluster::start();
    let (a, b) = cluster.two_account_nodes().await;
    let ann = sign_up(&a, "Ann").await;
    let bo = sign_up(&a, "Bo").await;
    let otto = sign_up(&b, "Otto").await;
    let (mut ann_a, _) = signed_socket(&a, &ann).await;
    let (mut bo_b, _) = signed_socket(&b, &bo).await;
    let (mut bo_a, _) = signed_socket(&a, &bo).await;
    let (mut otto_b, _) = signed_socket(&b, &otto).await;
    otto_b.join("general").await;

    let made = answer(
        &mut ann_a,
        json!({"type": "create", "room": "team", "visibility": "private"}),
        "joined",
    )
    .await;
    assert_eq!(made["visibility"], "private", "{made}");
    answer(
        &mut ann_a,
        json!({"type": "invite", "room": "team", "user": "Bo"}),
        "invited",
    )
    .await;
    // The invitation reaches Bo's connection on the other node.
    let told = bo_b.recv_type("invited").await;
    assert_eq!(
        (told["room"].as_str(), told["by"].as_str()),
        (Some("team"), Some("Ann"))
    );
    bo_a.recv_type("invited").await;
    let joined = bo_b.join("team").await;
    assert_eq!(joined["role"], "member");
    ann_a
        .send(json!({"type": "send", "room": "team", "text": "secret across nodes"}))
        .await;
    assert_eq!(
        bo_b.recv_type("message").await["text"],
        "secret across nodes"
    );
    // An outsider on node b: the room does not exist.
    let e = answer(
        &mut otto_b,
        json!({"type": "join", "room": "team"}),
        "joined",
    )
    .await;
    assert_eq!(e["code"], "no_such_room");
    let e = answer(
        &mut otto_b,
        json!({"type": "watch", "room": "team"}),
        "watching",
    )
    .await;
    assert_eq!(e["code"], "no_such_room");
    let rooms = answer(&mut otto_b, json!({"type": "rooms"}), "rooms").await;
    assert!(!rooms.to_string().contains("team"), "{rooms}");
    // Bo leaves on node a: his connection on node b stops receiving at once.
    answer(&mut bo_a, json!({"type": "leave", "room": "team"}), "left").await;
    let left = bo_b.recv_type("left").await;
    assert_eq!(left["room"], "team");
    ann_a
        .send(json!({"type": "send", "room": "team", "text": "secret after"}))
        .await;
    ann_a.recv_type("message").await;
    let e = answer(
        &mut bo_b,
        json!({"type": "history", "room": "team"}),
        "history",
    )
    .await;
    assert_eq!(e["code"], "not_in_room");
    // Nothing about the room reached the outsider, nor Bo after he left.
    for (who, c) in [("otto", &mut otto_b), ("bo", &mut bo_b)] {
        c.send(json!({"type": "ping"})).await;
        loop {
            let v = c.recv().await;
            if v["type"] == "pong" {
                break;
            }
            let text = v.to_string();
            assert!(!text.contains("secret"), "{who} received {text}");
            if who == "otto" {
                assert!(!text.contains("team"), "{who} received {text}");
            }
        }
    }
    a.stop().await;
    b.stop().await;
}
