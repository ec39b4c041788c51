//! *1.2*: standings after a resync: what another node changed while the
//! link to it was down is read again, and a member who lost the room
//! meanwhile stops receiving here.

use super::*;
use crate::store::access::AccessChange;
use crate::store::accounts::AccountChange;
use crate::store::pg::cluster::Snapshot;
use crate::store::pg::Notice;

#[test]
fn a_resync_reads_the_standings_again_and_evicts_who_lost_the_room() {
    let mut h = Harness::new(Config::default());
    let mut ann = h.user("Ann");
    let mut bo = h.connect();
    h.frame(&bo, json!({"type": "hello", "name": "Bo"}));
    let bo_id = bo.only()["user"]["id"].as_str().unwrap().to_owned();
    h.frame(
        &ann,
        json!({"type": "create", "room": "team", "visibility": "private"}),
    );
    h.frame(
        &ann,
        json!({"type": "invite", "room": "team", "user": "Bo"}),
    );
    h.frame(&bo, json!({"type": "join", "room": "team"}));
    h.commit();
    assert_eq!(bo.of_type("joined").len(), 1);
    ann.frames();
    // Another node ended Bo's membership while this one heard nothing.
    let gone = AccessChange::Remove {
        room: "team".into(),
        identity: bo_id,
    };
    h.writer
        .save_accounts(&[AccountChange::Access(gone)])
        .unwrap();
    h.handle(Command::Remote(Notice::Resync(Snapshot::default())));
    let left = bo.of_type("left");
    assert_eq!(left.len(), 1, "evicted as if told");
    h.frame(&bo, json!({"type": "history", "room": "team"}));
    assert_eq!(bo.only()["code"], "not_in_room");
    h.send(&ann, "team", "after");
    h.commit();
    assert!(bo.frames().is_empty(), "nothing more reaches Bo");
    assert_eq!(ann.of_type("message").len(), 1);
}

#[test]
fn a_resync_reads_bans_and_settings_again_and_puts_out_who_was_banned_meanwhile() {
    use crate::store::moderation::{ModerationChange, Sanction, SanctionKind};
    let mut h = Harness::new(Config::default());
    let mut ann = h.user("Ann");
    let mut bo = h.connect();
    h.frame(&bo, json!({"type": "hello", "name": "Bo"}));
    let bo_id = bo.only()["user"]["id"].as_str().unwrap().to_owned();
    h.frame(&ann, json!({"type": "join", "room": "pub"}));
    h.frame(&bo, json!({"type": "join", "room": "pub"}));
    h.commit();
    assert_eq!(bo.of_type("joined").len(), 1);
    ann.frames();
    // Another node banned Bo and set a topic while this one heard nothing.
    let ban = ModerationChange::Sanction(Sanction {
        room: Some("pub".into()),
        identity: bo_id,
        kind: SanctionKind::Ban,
        until_ms: None,
    });
    let topic = ModerationChange::Settings {
        room: "pub".into(),
        settings: crate::protocol::RoomSettings {
            topic: "rules".into(),
            ..Default::default()
        },
    };
    for change in [ban, topic] {
        let change = AccountChange::Moderation {
            change: Some(change),
            audit: None,
        };
        h.writer.save_accounts(&[change]).unwrap();
    }
    h.handle(Command::Remote(Notice::Resync(Snapshot::default())));
    let left = bo.of_type("left");
    assert_eq!(left.len(), 1, "banned as if told");
    assert_eq!(left[0]["reason"], "banned");
    assert_eq!(ann.of_type("room_updated")[0]["topic"], "rules");
    h.frame(&bo, json!({"type": "join", "room": "pub"}));
    assert_eq!(bo.only()["code"], "banned");
}
