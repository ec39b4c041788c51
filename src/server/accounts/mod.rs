//! *1.2* (section 1): accounts, the identities that have a password.
//!
//! - [`password`]: the rules for a new password, and Argon2id hashing and
//!   verification on bounded threads of their own.

mod password;

#[allow(unused_imports)] // issue 21: the sign-up and sign-in routes use them next
pub(crate) use password::{check_length, Busy, Cost, Hasher, PasswordProblem};
