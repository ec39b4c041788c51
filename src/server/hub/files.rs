//! *1.2* (section 5): who may upload and who may fetch a file, asked of
//! the one authorization point ([`Hub::authorize`]): a file posted in a
//! room is read as the room is (a room one may not read, or a file one may
//! not fetch, is answered as a missing file); a file not posted yet is its
//! uploader's alone. The file's row is read by the route, off the hub.

use super::access::Act;
use super::{Client, Command, Hub, HubHandle};
use std::sync::Arc;
use tokio::sync::oneshot;

/// What is asked about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileAsk {
    /// Upload one: who the request speaks as, if it may.
    Upload,
    /// Fetch the file `uploader` uploaded, posted in `room` (or not yet).
    Fetch {
        /// Its uploader's identity.
        uploader: String,
        /// The room it was posted in, if it was.
        room: Option<String>,
    },
}

impl Hub {
    /// Whether `ask` is allowed `client`: `Some` with the identity it
    /// speaks as (`None` inside: a visitor without one, who may read a
    /// public room's files), or `None`: no.
    pub(super) fn on_file(&self, client: &Client, ask: &FileAsk) -> Option<Option<Arc<str>>> {
        let identity = self.identity_of(client);
        let mut viewer = self.viewer_of(identity.as_deref());
        if viewer.banned {
            return None;
        }
        viewer.token_rooms = client.account.as_ref().and_then(|s| s.rooms.as_deref());
        let allowed = match ask {
            FileAsk::Upload => identity.is_some(),
            FileAsk::Fetch {
                uploader,
                room: None,
            } => identity
                .as_deref()
                .is_some_and(|me| me == uploader.as_str()),
            FileAsk::Fetch {
                room: Some(room), ..
            } => self.authorize(&viewer, room, Act::Read).is_ok(),
        };
        allowed.then_some(identity)
    }
}

impl HubHandle {
    /// Whether `ask` is allowed `client`, and as whom (see
    /// [`Hub::on_file`]); `None` too when the hub is gone: unknown means no.
    pub(crate) async fn file_access(
        &self,
        client: Client,
        ask: FileAsk,
    ) -> Option<Option<Arc<str>>> {
        let (reply, answer) = oneshot::channel();
        let command = Command::File { client, ask, reply };
        self.commands.send(command).await.ok()?;
        answer.await.ok().flatten()
    }
}
