//! *1.2* (section 1): accounts, the identities that have a password.
//!
//! - [`password`]: the rules for a new password, and Argon2id hashing and
//!   verification on bounded threads of their own.
//! - [`sessions`]: which session a request is signed in with.
//! - [`routes`]: sign-up, sign-in, sign-out.
//! - [`account`]: the account page: password, sessions, tokens.
//! - [`views`]: those pages, server-rendered, with no script.
//! - [`admin`]: what `chat admin` asks a running server (operations listener).
//! - [`tokens`]: API tokens for bots: `Bearer` on `/ws` and the HTTP API.

mod account;
mod admin;
mod password;
mod personal;
mod routes;
mod sessions;
mod tokens;
mod views;

pub use admin::SECRET_FILE;
pub(crate) use admin::{router as admin_router, write_secret, AdminState};
pub(crate) use password::{check_length, Busy, Cost, Hasher, MAX_PASSWORD_CHARS};
pub(crate) use routes::{refuse_json, router, AccountState};
pub(crate) use sessions::signed_in;
pub(crate) use tokens::{bearer, router as api_router, signed_by_token};
