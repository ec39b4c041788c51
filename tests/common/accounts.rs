//! What both stores must do with accounts, sessions and failed sign-ins
//! (`chat::store::accounts`), checked on each by `tests/store.rs` (SQLite)
//! and `tests/postgres.rs`.

use chat::store::accounts::{
    AccountChange, AccountQuery, AccountRow, Role, SessionRow, MAX_LISTED_SESSIONS,
};
use chat::store::{StoreReader, StoreWriter};

fn session(hash: u8, identity: &str, used_ms: u64) -> SessionRow {
    SessionRow {
        hash: [hash; 32],
        identity: identity.into(),
        created_ms: 1,
        used_ms,
        addr: "192.0.2.1".into(),
        agent: "Firefox".into(),
    }
}

pub fn accounts_sessions_and_failures_are_kept(r: &dyn StoreReader, w: &mut dyn StoreWriter) {
    let ada = AccountRow {
        identity: "id-ada".into(),
        name_key: "ada".into(),
        password: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: Role::User,
        created_ms: 10,
    };
    w.save_accounts(&[AccountChange::SaveAccount(ada.clone())])
        .unwrap();
    let by_name = r.account(&AccountQuery::ByNameKey("ada".into())).unwrap();
    assert_eq!(by_name.as_ref(), Some(&ada));
    let by_id = r
        .account(&AccountQuery::ByIdentity("id-ada".into()))
        .unwrap();
    assert_eq!(by_id, by_name);
    assert_eq!(
        r.account(&AccountQuery::ByNameKey("grace".into())).unwrap(),
        None
    );
    // A rename, a new password and a role replace the row; the key follows.
    let renamed = AccountRow {
        name_key: "lovelace".into(),
        role: Role::Admin,
        ..ada.clone()
    };
    w.save_accounts(&[AccountChange::SaveAccount(renamed.clone())])
        .unwrap();
    assert_eq!(
        r.account(&AccountQuery::ByNameKey("ada".into())).unwrap(),
        None
    );
    assert_eq!(
        r.account(&AccountQuery::ByNameKey("lovelace".into()))
            .unwrap(),
        Some(renamed)
    );
    assert_eq!(
        r.account_roles().unwrap(),
        [("id-ada".to_owned(), Role::Admin)]
    );
    // A second account cannot take a name key another holds.
    let thief = AccountRow {
        identity: "id-thief".into(),
        ..ada.clone()
    };
    let taken = AccountRow {
        name_key: "lovelace".into(),
        ..thief
    };
    assert!(w
        .save_accounts(&[AccountChange::SaveAccount(taken)])
        .is_err());

    // Sessions: kept by hash, listed newest use first, ended one by one,
    // all but one, or by age.
    let changes: Vec<_> = (1..=3)
        .map(|i| AccountChange::SaveSession(session(i, "id-ada", 100 * i as u64)))
        .chain([AccountChange::SaveSession(session(9, "id-other", 500))])
        .collect();
    w.save_accounts(&changes).unwrap();
    assert_eq!(
        r.session(&[2; 32]).unwrap(),
        Some(session(2, "id-ada", 200))
    );
    assert_eq!(r.session(&[7; 32]).unwrap(), None);
    let hashes = |id: &str| -> Vec<u8> {
        r.sessions_of(id)
            .unwrap()
            .iter()
            .map(|s| s.hash[0])
            .collect()
    };
    assert_eq!(hashes("id-ada"), [3, 2, 1]);
    // A later use moves it up.
    let used = session(1, "id-ada", 400);
    w.save_accounts(&[AccountChange::SaveSession(used)])
        .unwrap();
    assert_eq!(hashes("id-ada"), [1, 3, 2]);
    w.save_accounts(&[AccountChange::EndSession([3; 32])])
        .unwrap();
    assert_eq!(hashes("id-ada"), [1, 2]);
    let everywhere_but_1 = AccountChange::EndSessions {
        identity: "id-ada".into(),
        except: Some([1; 32]),
    };
    w.save_accounts(&[everywhere_but_1]).unwrap();
    assert_eq!(hashes("id-ada"), [1]);
    assert_eq!(hashes("id-other"), [9], "another account's stay");
    let everywhere = AccountChange::EndSessions {
        identity: "id-ada".into(),
        except: None,
    };
    w.save_accounts(&[everywhere]).unwrap();
    assert_eq!(hashes("id-ada"), Vec::<u8>::new());
    // Expiry: unused since 500 ends; used at 500 stays.
    w.save_accounts(&[AccountChange::SaveSession(session(4, "id-ada", 499))])
        .unwrap();
    w.save_accounts(&[AccountChange::ExpireSessions { before_ms: 500 }])
        .unwrap();
    assert_eq!((hashes("id-ada"), hashes("id-other")), (vec![], vec![9]));
    // The listing is bounded: at the bound, and one past it.
    let many: Vec<_> = (0..=MAX_LISTED_SESSIONS)
        .map(|i| {
            let mut s = session(0, "id-many", i as u64);
            s.hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
            AccountChange::SaveSession(s)
        })
        .collect();
    w.save_accounts(&many[..MAX_LISTED_SESSIONS]).unwrap();
    assert_eq!(r.sessions_of("id-many").unwrap().len(), MAX_LISTED_SESSIONS);
    w.save_accounts(&many[MAX_LISTED_SESSIONS..]).unwrap();
    let listed = r.sessions_of("id-many").unwrap();
    assert_eq!(listed.len(), MAX_LISTED_SESSIONS);
    assert_eq!(
        listed[0].used_ms, MAX_LISTED_SESSIONS as u64,
        "the newest first"
    );

    // Failures count within their window, which starts at the first.
    let fail = |at_ms: u64| AccountChange::Failed {
        key: "addr:192.0.2.1".into(),
        at_ms,
        window_ms: 1_000,
    };
    let count = |now: u64| r.sign_in_failures("addr:192.0.2.1", now, 1_000).unwrap();
    assert_eq!(count(0), 0);
    w.save_accounts(&[fail(5_000), fail(5_500), fail(5_999)])
        .unwrap();
    assert_eq!(count(5_999), 3, "the window's last instant");
    assert_eq!(count(6_000), 0, "one past it: the window has passed");
    w.save_accounts(&[fail(6_000)]).unwrap();
    assert_eq!(count(6_000), 1, "a failure past the window starts it again");
    assert_eq!(
        r.sign_in_failures("account:id-ada", 6_000, 1_000).unwrap(),
        0
    );
    w.save_accounts(&[AccountChange::Succeeded("addr:192.0.2.1".into())])
        .unwrap();
    assert_eq!(count(6_000), 0);
}
