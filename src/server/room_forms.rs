//! *1.2*: the page's forms for rooms, for browsers without JavaScript:
//! `POST /rooms` (make a room: `room`, `visibility` `public`/`private`,
//! `invite` names), `POST /r/{room}/invite` (`user`), `POST /r/{room}/join`,
//! `POST /dm` (`user`).
//! Same-origin only, as every form; each goes through the hub
//! ([`HubHandle::room_form`]) and its one authorization point, then
//! redirects to the room (303), or renders the page again with the reason.

use super::cookies;
use super::hosts::same_origin_request;
use super::hub::RoomForm;
use super::pages::{not_same_origin, read_form, refused_page, signed_in_name, PageState, Refused};
use crate::protocol::GENERAL_ROOM;
use crate::ui::room_path;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Largest room form read.
const MAX_ROOM_FORM_BYTES: usize = 8 * 1024;

/// `POST /rooms`'s fields.
#[derive(Debug, Default, Deserialize)]
struct CreateForm {
    /// The new room's name.
    #[serde(default)]
    room: String,
    /// `private` (else public).
    #[serde(default)]
    visibility: String,
    /// Names to invite, comma-separated.
    #[serde(default)]
    invite: String,
}

/// `POST /r/{room}/invite`'s fields.
#[derive(Debug, Default, Deserialize)]
struct InviteForm {
    /// Whom (a display name).
    #[serde(default)]
    user: String,
}

/// `POST /rooms`.
pub(crate) async fn create(State(state): State<PageState>, req: Request) -> Response {
    answer(&state, req, GENERAL_ROOM.to_owned(), |form: CreateForm| {
        RoomForm::Create {
            room: form.room,
            private: form.visibility == "private",
            invite: form.invite,
        }
    })
    .await
}

/// `POST /r/{room}/invite`.
pub(crate) async fn invite(
    State(state): State<PageState>,
    Path(room): Path<String>,
    req: Request,
) -> Response {
    let shown = room.clone();
    answer(&state, req, shown, move |form: InviteForm| {
        RoomForm::Invite {
            room,
            user: form.user,
        }
    })
    .await
}

/// `POST /dm` (`user`): the direct message with `user`.
pub(crate) async fn dm(State(state): State<PageState>, req: Request) -> Response {
    answer(&state, req, GENERAL_ROOM.to_owned(), |form: InviteForm| {
        RoomForm::Dm { user: form.user }
    })
    .await
}

/// `POST /r/{room}/join`.
pub(crate) async fn join(
    State(state): State<PageState>,
    Path(room): Path<String>,
    req: Request,
) -> Response {
    let shown = room.clone();
    answer(&state, req, shown, move |_: InviteForm| RoomForm::Join {
        room,
    })
    .await
}

/// Checks the request, reads its form, asks the hub; redirects to the
/// room, or renders `shown` (else `general`) with the reason.
async fn answer<T: serde::de::DeserializeOwned + Default>(
    state: &PageState,
    req: Request,
    shown: String,
    make: impl FnOnce(T) -> RoomForm,
) -> Response {
    if !same_origin_request(req.headers(), &state.config) {
        return not_same_origin();
    }
    let mut client = cookies::client(&req, &state.config);
    let account = match signed_in_name(state, req.headers(), &mut client).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    let (parts, body) = req.into_parts();
    let form: T = match read_form(body, MAX_ROOM_FORM_BYTES).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    match state.hub.room_form(client.clone(), make(form)).await {
        Ok(room) => Redirect::to(&room_path(&room)).into_response(),
        Err(e) => {
            let refused = Refused {
                room: shown,
                name: account.clone().unwrap_or_default(),
                text: String::new(),
                account,
                nonce: None,
            };
            refused_page(state, parts, &client, refused, e).await
        }
    }
}
