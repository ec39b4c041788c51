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
    // Counts whose window began before the cut are forgotten; later ones stay.
    w.save_accounts(&[fail(7_000)]).unwrap();
    w.save_accounts(&[AccountChange::ForgetFailures { before_ms: 7_000 }])
        .unwrap();
    assert_eq!(count(7_000), 1, "began at the cut: kept");
    w.save_accounts(&[AccountChange::ForgetFailures { before_ms: 7_001 }])
        .unwrap();
    assert_eq!(count(7_000), 0, "one past it: forgotten");
}

/// Invites are used up at their bound and expire at their expiry; tokens
/// are kept, listed and revoked by their own account only; the account
/// list names each account. (Inside `accounts_sessions_and_failures_are_kept`'s
/// store: it made `id-ada`, whose identity row this adds.)
pub fn invites_and_tokens_are_kept(r: &dyn StoreReader, w: &mut dyn StoreWriter) {
    use chat::store::grants::{GrantChange, GrantQuery, InviteRow, TokenRow, INVITE_REFUSED};
    use chat::store::{IdentityChange, IdentityRow, StoreError};
    let invite = InviteRow {
        hash: [3; 32],
        uses_left: 2,
        expires_ms: 1_000,
        created_ms: 1,
    };
    let grant = |c: GrantChange| [AccountChange::Grant(c)];
    w.save_accounts(&grant(GrantChange::SaveInvite(invite.clone())))
        .unwrap();
    let stored = r.grants(&GrantQuery::Invite([3; 32])).unwrap().invite();
    assert_eq!(stored.as_ref(), Some(&invite));
    let use_at = |now_ms| {
        grant(GrantChange::UseInvite {
            hash: [3; 32],
            now_ms,
        })
    };
    let refused = Err(StoreError::Failed(INVITE_REFUSED.into()));
    assert_eq!(
        w.save_accounts(&use_at(1_000)),
        refused,
        "expired at its expiry"
    );
    w.save_accounts(&use_at(999)).unwrap();
    w.save_accounts(&use_at(999)).unwrap();
    assert_eq!(w.save_accounts(&use_at(999)), refused, "a third use of two");
    assert_eq!(
        r.grants(&GrantQuery::Invite([3; 32]))
            .unwrap()
            .invite()
            .unwrap()
            .uses_left,
        0
    );
    // A refused use undoes what its transaction did before it.
    let made_then_refused = [
        AccountChange::Succeeded("nothing".into()),
        AccountChange::SaveAccount(AccountRow {
            identity: "id-cy".into(),
            name_key: "cy".into(),
            password: "$argon2id$x".into(),
            role: Role::User,
            created_ms: 1,
        }),
        use_at(999)[0].clone(),
    ];
    assert_eq!(w.save_accounts(&made_then_refused), refused);
    assert_eq!(
        r.account(&AccountQuery::ByNameKey("cy".into())).unwrap(),
        None
    );
    assert_eq!(
        r.grants(&GrantQuery::Invite([4; 32])).unwrap().invite(),
        None
    );

    let token = |hash: u8, identity: &str| TokenRow {
        hash: [hash; 32],
        identity: identity.into(),
        label: "deploy bot".into(),
        rooms: vec!["general".into(), "ops".into()],
        created_ms: u64::from(hash),
    };
    for t in [token(7, "id-ada"), token(8, "id-ada"), token(9, "id-other")] {
        w.save_accounts(&grant(GrantChange::SaveToken(t))).unwrap();
    }
    let mine = r
        .grants(&GrantQuery::TokensOf("id-ada".into()))
        .unwrap()
        .tokens();
    assert_eq!(
        mine,
        [token(8, "id-ada"), token(7, "id-ada")],
        "newest first"
    );
    let revoke = |hash, identity: &str| {
        grant(GrantChange::RevokeToken {
            hash: [hash; 32],
            identity: identity.into(),
        })
    };
    w.save_accounts(&revoke(9, "id-ada")).unwrap();
    assert_eq!(
        r.grants(&GrantQuery::Token([9; 32]))
            .unwrap()
            .tokens()
            .len(),
        1,
        "another account's token is left alone"
    );
    w.save_accounts(&revoke(7, "id-ada")).unwrap();
    assert!(r
        .grants(&GrantQuery::Token([7; 32]))
        .unwrap()
        .tokens()
        .is_empty());

    w.save_identities(&[IdentityChange::Save(IdentityRow {
        id: "id-ada".into(),
        token_hash: [1; 32],
        name: "Ada".into(),
        seen_ms: 1,
    })])
    .unwrap();
    let listed = r.grants(&GrantQuery::Accounts).unwrap().accounts();
    let names: Vec<&str> = listed.iter().map(|a| a.name.as_str()).collect();
    assert!(names.contains(&"Ada"), "{listed:?}");
}
