//! *1.2* (section 5): a file as the upload answers it and as messages carry
//! it.

use serde::{Deserialize, Serialize};

/// Most attachments one message carries.
pub const MAX_ATTACHMENTS: usize = 10;

/// Most characters of a file's name (longer names are cut).
pub const MAX_FILE_NAME_CHARS: usize = 200;

/// An uploaded file: `201` of `POST /api/v1/uploads`, and each of a
/// message's `attachments`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The upload's id (32 hex digits).
    pub id: String,
    /// Its name, as given but made safe (no path, no control or
    /// direction-changing characters, at most [`MAX_FILE_NAME_CHARS`]).
    pub name: String,
    /// Bytes (an image's after re-encoding).
    pub size: u64,
    /// The type sniffed from its bytes (never the client's):
    /// `image/png`, `image/jpeg`, `image/gif`, `image/webp` for the images
    /// shown inline; anything else is a download.
    #[serde(rename = "type")]
    pub mime: String,
    /// Where it is fetched (`/files/<id>`).
    pub url: String,
    /// An image's width in pixels (orientation applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// An image's height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// An image's thumbnail (at most 320 pixels each way), when it is
    /// larger than that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
}

impl Attachment {
    /// Whether it is shown inline (one of the re-encoded image types).
    pub fn is_image(&self) -> bool {
        self.width.is_some() && self.height.is_some()
    }
}
