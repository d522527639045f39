//! Searching the caller's messages: the words parsed, one ranked query for a
//! page (store.rs), the page rendered in bulk like history.

use super::dto::{SearchPagination, SearchQuery, SearchResult, SearchResults};
use super::store::{self, Window};
use super::terms::Terms;
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::messages::render;
use crate::messages::service::personalise;
use crate::state::AppState;

/// Deepest page start a cursor may name: past it, a search is too vague to
/// page through (and every page would rank every match again).
const MAX_OFFSET: u64 = 10_000;

/// The `before` cursor: `<newest>.<offset>` (see [`Window`]). Clients treat
/// it as opaque; it is plain so that a bad one is easy to tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    newest: i64,
    offset: u64,
}

impl Cursor {
    fn parse(text: &str) -> ApiResult<Cursor> {
        let invalid = || ApiError::field("before", "The before field is invalid.");
        let (newest, offset) = text.split_once('.').ok_or_else(invalid)?;
        let newest: i64 = newest.parse().map_err(|_| invalid())?;
        let offset: u64 = offset.parse().map_err(|_| invalid())?;
        if newest < 0 || offset > MAX_OFFSET {
            return Err(invalid());
        }
        Ok(Cursor { newest, offset })
    }

    fn encode(self) -> String {
        format!("{}.{}", self.newest, self.offset)
    }
}

pub async fn search(
    state: &AppState,
    user_id: i64,
    query: SearchQuery,
) -> ApiResult<SearchResults> {
    let cursor = match &query.before {
        Some(text) => Cursor::parse(text)?,
        None => Cursor {
            newest: store::newest_id(&state.db.read).await?,
            offset: 0,
        },
    };
    let terms = Terms::parse(&query.q);
    if terms.is_empty() {
        return Ok(SearchResults {
            results: Vec::new(),
            pagination: SearchPagination {
                has_more: false,
                next_before: None,
            },
        });
    }
    let window = Window {
        newest: cursor.newest,
        offset: cursor.offset,
        // One more than asked: whether there is a next page.
        limit: query.limit + 1,
    };
    let mut rows = store::search(&state.db.read, user_id, &terms, now_ms(), window).await?;
    let has_more = rows.len() as u64 > query.limit;
    rows.truncate(query.limit as usize);
    let next = Cursor {
        newest: cursor.newest,
        offset: cursor.offset + query.limit,
    };
    let next_before = (has_more && next.offset <= MAX_OFFSET).then(|| next.encode());
    let mut messages = render::render(state, &state.db.read, &rows).await?;
    // The caller's own layer (starred, viewed), as in history.
    personalise(state, user_id, &mut messages).await?;
    let results = messages
        .into_iter()
        .map(|message| SearchResult {
            chat_id: message.chat_id,
            message,
        })
        .collect();
    Ok(SearchResults {
        results,
        pagination: SearchPagination {
            has_more: next_before.is_some(),
            next_before,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_wrote() {
        let cursor = Cursor {
            newest: 981,
            offset: 40,
        };
        assert_eq!(Cursor::parse(&cursor.encode()).unwrap(), cursor);
    }

    #[test]
    fn a_bad_cursor_is_a_422() {
        for bad in [
            "",
            "12",
            "a.b",
            "-1.0",
            "1.-2",
            "1.99999999",
            "1.2.3",
            " 1.2",
        ] {
            assert!(
                matches!(Cursor::parse(bad), Err(ApiError::Validation { .. })),
                "{bad}"
            );
        }
    }
}
