//! *1.2* accounts across two servers on one PostgreSQL database: an
//! account made on one node signs in on the other, failed sign-ins count
//! on both, and signing out everywhere on one closes the other's sockets.

mod common;

use common::http::{form, session_cookie, PASSWORD};
use common::pg::PgCluster;
use common::{signed_socket, TestServer};
use serde_json::json;

#[tokio::test]
async fn an_account_made_on_one_node_is_the_same_person_on_the_other() {
    let cluster = PgCluster::start();
    let config = || chat::Config {
        password_memory_kib: 64,
        sign_in_failures: 3,
        ..cluster.node()
    };
    let (a, b) = (
        TestServer::start(config()).await,
        TestServer::start(config()).await,
    );
    let made = form(
        &a,
        "/signup",
        &[("name", "Ada"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let laptop = session_cookie(&made);
    let signed = form(&b, "/login", &[("name", "ada"), ("password", PASSWORD)], "").await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let phone = session_cookie(&signed);
    let (mut on_a, welcome_a) = signed_socket(&a, &laptop).await;
    let (mut on_b, welcome_b) = signed_socket(&b, &phone).await;
    assert_eq!(welcome_a["user"]["id"], welcome_b["user"]["id"]);
    assert_eq!(welcome_b["user"]["account"], true);
    // Both connected, on two nodes: neither replaces the other.
    on_a.join("general").await;
    on_b.join("general").await;
    on_a.send(json!({"type": "send", "room": "general", "text": "from node a"}))
        .await;
    assert_eq!(on_b.recv_type("message").await["text"], "from node a");
    // The name is the account's on both nodes, past any lease.
    let mut other = b.client().await;
    other
        .expect_error(json!({"type": "hello", "name": "ADA"}), "name_taken")
        .await;
    // Failures on one node count on the other.
    for _ in 0..3 {
        let wrong = form(
            &a,
            "/login",
            &[("name", "Ada"), ("password", "wrong password!")],
            "",
        )
        .await;
        assert_eq!(wrong.status, 401);
    }
    let limited = form(&b, "/login", &[("name", "Ada"), ("password", PASSWORD)], "").await;
    assert_eq!(limited.status, 429, "the store's count, not a node's");
    // Signing out everywhere on one node closes the other node's socket.
    let out = form(&a, "/logout", &[("everywhere", "1")], &laptop).await;
    assert_eq!(out.status, 303);
    assert_eq!(on_b.closed().await.0, 4004, "on the other node");
    assert_eq!(on_a.closed().await.0, 4004);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn an_account_deleted_on_one_node_is_gone_on_the_other_and_its_name_free_there() {
    let cluster = PgCluster::start();
    let (a, b) = cluster.two_account_nodes().await;
    let made = form(
        &a,
        "/signup",
        &[("name", "Ada"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let laptop = session_cookie(&made);
    let signed = form(&b, "/login", &[("name", "ada"), ("password", PASSWORD)], "").await;
    let phone = session_cookie(&signed);
    let (mut on_b, welcome) = signed_socket(&b, &phone).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    let mut other = b.client().await;
    other
        .expect_error(json!({"type": "hello", "name": "Ada"}), "name_taken")
        .await;

    let gone = form(&a, "/account/delete", &[("password", PASSWORD)], &laptop).await;
    assert_eq!(gone.status, 303, "{}", gone.body);
    // Its socket on the other node closes, and the name is free there.
    let (code, _) = on_b.closed().await;
    assert_eq!(code, chat::protocol::CLOSE_SESSION_ENDED);
    let mut taken = None;
    for _ in 0..200 {
        let mut c = b.client().await;
        c.send(json!({"type": "hello", "name": "Ada"})).await;
        let answer = c.recv().await;
        if answer["type"] == "welcome" {
            taken = Some(answer);
            break;
        }
        // The other node hears of the deletion a moment later.
        assert_eq!(answer["code"], "name_taken", "{answer}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let taken = taken.expect("the name is free on the other node");
    assert_ne!(taken["user"]["id"], welcome["user"]["id"]);
}
