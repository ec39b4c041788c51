//! *1.2* (section 5): files sent from the page: chosen with the composer's
//! "Attach" button, dropped onto the room, or pasted into the text. Each
//! is uploaded at once (`POST /api/v1/uploads`, with a progress bar and
//! "Cancel"), and posted with the next message sent: the composer waits
//! until every upload is done. Images come back re-made by the server,
//! so what the room sees is never the file as it was chosen.

use super::attachments::size_text;
use super::state::Chat;
use crate::protocol::{Attachment, MAX_ATTACHMENTS};
use leptos::prelude::*;

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// On its way: percent sent.
    Sending(u32),
    /// Stored by the server.
    Done(Attachment),
    /// Refused or failed: why.
    Failed(String),
}

/// One file being uploaded or ready to be posted.
#[derive(Debug, Clone, Copy)]
pub struct Upload {
    /// Tells uploads apart (the list's key).
    pub key: u64,
    /// The file's name, as chosen.
    pub name: StoredValue<String>,
    /// Where it stands.
    pub status: RwSignal<Status>,
    /// The request, to cancel it (the browser's only).
    #[cfg(feature = "hydrate")]
    request: StoredValue<Option<web_sys::XmlHttpRequest>, LocalStorage>,
}

impl Chat {
    /// The uploads done, to post with the next message, at most
    /// [`MAX_ATTACHMENTS`]; `Err` while one is still on its way.
    pub fn ready_uploads(&self) -> Result<Vec<Attachment>, String> {
        self.uploads.with_untracked(|all| {
            let mut done = Vec::new();
            for u in all {
                match u.status.get_untracked() {
                    Status::Sending(_) => return Err("wait until the files are uploaded".into()),
                    Status::Done(a) => done.push(a),
                    Status::Failed(_) => {}
                }
            }
            if done.len() > MAX_ATTACHMENTS {
                return Err(format!("a message carries at most {MAX_ATTACHMENTS} files"));
            }
            Ok(done)
        })
    }

    /// Stops upload `key` (if it is on its way) and takes it off the list.
    pub fn drop_upload(&self, key: u64) {
        self.uploads.update(|all| {
            all.retain(|u| {
                if u.key != key {
                    return true;
                }
                #[cfg(feature = "hydrate")]
                u.request.with_value(|r| {
                    if let Some(r) = r {
                        let _ = r.abort();
                    }
                });
                false
            })
        });
    }

    /// *Browser*: uploads each of `files`.
    #[cfg(feature = "hydrate")]
    pub fn upload_files(&self, files: &web_sys::FileList) {
        for i in 0..files.length() {
            if let Some(file) = files.get(i) {
                start(*self, file);
            }
        }
    }
}

/// *Browser*: one upload, with XMLHttpRequest (the only request with
/// upload progress).
#[cfg(feature = "hydrate")]
fn start(chat: Chat, file: web_sys::File) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let Ok(request) = web_sys::XmlHttpRequest::new() else {
        return;
    };
    let key = chat.next_upload_key();
    let upload = Upload {
        key,
        name: StoredValue::new(file.name()),
        status: RwSignal::new(Status::Sending(0)),
        request: StoredValue::new_local(Some(request.clone())),
    };
    let status = upload.status;
    let name = js_sys::encode_uri_component(&file.name());
    let opened = request
        .open("POST", "/api/v1/uploads")
        .and_then(|()| request.set_request_header("X-Filename", &String::from(name)));
    if opened.is_err() {
        return;
    }
    let progress =
        Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |e: web_sys::ProgressEvent| {
            if e.length_computable() && e.total() > 0.0 {
                let percent = (e.loaded() * 100.0 / e.total()) as u32;
                status.set(Status::Sending(percent.min(99)));
            }
        });
    if let Ok(target) = request.upload() {
        target.set_onprogress(Some(progress.as_ref().unchecked_ref()));
    }
    let answered = request.clone();
    let loaded = Closure::<dyn FnMut()>::new(move || {
        let body = answered.response_text().ok().flatten().unwrap_or_default();
        let got = match answered.status().unwrap_or(0) {
            201 => serde_json::from_str::<Attachment>(&body)
                .map(Status::Done)
                .unwrap_or_else(|_| {
                    Status::Failed("the server's answer was not understood".into())
                }),
            _ => Status::Failed(refusal(&body)),
        };
        status.set(got);
    });
    request.set_onload(Some(loaded.as_ref().unchecked_ref()));
    let failed = Closure::<dyn FnMut()>::new(move || {
        status.set(Status::Failed(
            "the upload failed: check the connection".into(),
        ));
    });
    request.set_onerror(Some(failed.as_ref().unchecked_ref()));
    // They live as long as the request (a few per file the person sends).
    progress.forget();
    loaded.forget();
    failed.forget();
    if request.send_with_opt_blob(Some(&file)).is_err() {
        status.set(Status::Failed("the upload could not start".into()));
    }
    chat.uploads.update(|all| all.push(upload));
}

/// The `message` of a JSON refusal, or a plain reason.
#[cfg(feature = "hydrate")]
fn refusal(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Refusal {
        message: String,
    }
    serde_json::from_str::<Refusal>(body)
        .map(|r| r.message)
        .unwrap_or_else(|_| "the server refused the file".into())
}

/// The composer's "Attach" button (a file input, so the keyboard reaches it).
#[component]
pub fn AttachButton() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let _ = chat;
    view! {
        <label class="attach needs-js" data-testid="attach">
            "Attach"
            <input
                type="file"
                multiple
                class="sr-only"
                data-testid="attach-input"
                on:change=move |ev| {
                    #[cfg(feature = "hydrate")]
                    {
                        use wasm_bindgen::JsCast;
                        let input = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
                        if let Some(input) = input {
                            if let Some(files) = input.files() {
                                chat.upload_files(&files);
                            }
                            input.set_value("");
                        }
                    }
                    #[cfg(not(feature = "hydrate"))]
                    let _ = ev;
                }
            />
        </label>
    }
}

/// The files waiting to be posted: name, progress or size, and a button
/// that cancels or removes each.
#[component]
pub fn UploadList() -> impl IntoView {
    let chat = expect_context::<Chat>();
    view! {
        <ul class="uploads" data-testid="uploads" aria-live="polite">
            <For each=move || chat.uploads.get() key=|u| u.key let:u>
                <li data-testid="upload">
                    <span class="name">{u.name.get_value()}</span>
                    {move || match u.status.get() {
                        Status::Sending(p) => leptos::either::EitherOf3::A(view! {
                            <progress max="100" value=p.to_string() data-testid="upload-progress">
                                {format!("{p}%")}
                            </progress>
                        }),
                        Status::Done(a) => leptos::either::EitherOf3::B(view! {
                            <span class="meta" data-testid="upload-done">{size_text(a.size)}</span>
                        }),
                        Status::Failed(why) => leptos::either::EitherOf3::C(view! {
                            <span class="field-error" role="alert" data-testid="upload-error">{why}</span>
                        }),
                    }}
                    <button type="button" data-testid="upload-cancel" on:click=move |_| chat.drop_upload(u.key)>
                        {move || match u.status.get() {
                            Status::Sending(_) => "Cancel",
                            _ => "Remove",
                        }}
                    </button>
                </li>
            </For>
        </ul>
    }
}
