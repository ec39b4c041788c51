//! A dead hub task or commit thread is noticed: the real hub task and commit
//! thread (not the harness), started by `spawn`.

use super::*;
use crate::protocol::ChatMessage;
use crate::server::hub::{spawn, HubHandle};
use crate::store::{IdentityChange, NewMessage, StoreError, StoreReader, Stored};

/// A store writer that panics on its first room, as a bug would.
struct PanickingWriter;

impl StoreWriter for PanickingWriter {
    fn create_room(&mut self, _: &str) -> Result<(), StoreError> {
        panic!("the writer panics, as asked by a test")
    }
    fn delete_room(&mut self, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    fn probe(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    fn expire(&mut self, _: u64, _: usize) -> Result<usize, StoreError> {
        Ok(0)
    }
    fn append(&mut self, batch: &[NewMessage]) -> Vec<Result<Stored, StoreError>> {
        batch
            .iter()
            .map(|_| Err(StoreError::Failed("no".into())))
            .collect()
    }
    fn save_identities(&mut self, _: &[IdentityChange]) -> Result<(), StoreError> {
        Ok(())
    }
    fn save_reads(&mut self, _: &[crate::store::reads::ReadMark]) -> Result<(), StoreError> {
        Ok(())
    }
    /// *1.2*: rooms are made with their kind, through the access changes.
    fn save_accounts(
        &mut self,
        _: &[crate::store::accounts::AccountChange],
    ) -> Result<(), StoreError> {
        panic!("the writer panics, as asked by a test")
    }
}

/// An empty store to read.
struct EmptyReader;

impl StoreReader for EmptyReader {
    fn another(&self) -> Result<Box<dyn StoreReader>, StoreError> {
        Ok(Box::new(EmptyReader))
    }
    fn rooms(&self) -> Result<Vec<crate::store::RoomRow>, StoreError> {
        Ok(Vec::new())
    }
    fn identities(&self) -> Result<Vec<crate::store::IdentityRow>, StoreError> {
        Ok(Vec::new())
    }
    fn range(&self, _: &str, _: u64, _: u64) -> Result<Vec<ChatMessage>, StoreError> {
        Ok(Vec::new())
    }
    fn last_read(&self, _: &str, _: &str) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
    fn search(
        &self,
        _: &crate::store::search::Search,
    ) -> Result<crate::store::search::Found, StoreError> {
        Ok(Default::default())
    }
}

/// Resolves with what died, or fails the test after 5 s.
async fn death_of(hub: &HubHandle) -> String {
    tokio::time::timeout(Duration::from_secs(5), hub.died())
        .await
        .expect("the death is noticed")
}

#[tokio::test]
async fn a_panic_in_the_hub_task_is_reported_as_its_death() {
    let hub = spawn(
        Arc::new(Config::default()),
        EmptyReader,
        PanickingWriter,
        None,
    )
    .unwrap();
    hub.panic().await;
    assert_eq!(death_of(&hub).await, "the hub task");
}

#[tokio::test]
async fn a_panic_in_the_commit_thread_is_reported_as_its_death() {
    let hub = spawn(
        Arc::new(Config::default()),
        EmptyReader,
        PanickingWriter,
        None,
    )
    .unwrap();
    let outbox = Outbox::new(Config::default().outbound_bytes);
    assert!(hub.connect(1, outbox, client("127.0.0.1", None)).await);
    for frame in [
        json!({"type": "hello", "name": "ada"}),
        json!({"type": "join", "room": "r"}),
    ] {
        let frame = ClientFrame::parse(&frame.to_string()).unwrap();
        assert!(hub.frame(1, frame).await);
    }
    assert_eq!(death_of(&hub).await, "the store's commit thread");
}
