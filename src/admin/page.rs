//! Query strings and cursor pagination for the list routes.
//!
//! A list answers `{"data": [...], "next_cursor": "..."}`; passing `next_cursor`
//! back as `?cursor=` gets the next page, and `next_cursor` is null on the last.
//! Cursors are opaque to clients: each list says what its cursor holds.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api::ApiError;

/// Items per page when the client does not say.
pub const DEFAULT_LIMIT: usize = 100;
/// The most items a page may hold.
pub const MAX_LIMIT: usize = 1000;

/// One page of a list.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass it back as `?cursor=` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// The query string parsed into `T`; unknown parameters are refused, so a typo
/// is an error rather than a filter silently ignored.
pub fn query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::bad_request("invalid_query", format!("bad query string: {e}")))
}

/// The page size asked for, checked.
pub fn limit(given: Option<usize>) -> Result<usize, ApiError> {
    match given {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1 to {MAX_LIMIT}, not {n}"),
        )),
    }
}
