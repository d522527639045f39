//! Statuses on the wire: what `POST /api/status` takes and the list shapes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::clock::Timestamp;
use crate::resources::status::{StatusType, StatusView};
use crate::resources::user::UserView;

/// Longest text or caption, in characters.
pub const MAX_CONTENT: u64 = 700;

/// A new status. Text statuses are JSON; image and video statuses are
/// `multipart/form-data` with these fields and the file in `file`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct PostStatusRequest {
    #[serde(rename = "type")]
    pub status_type: StatusType,
    /// The text (required for `text`, 1..700 characters) or a caption.
    #[validate(length(max = 700))]
    #[schema(max_length = 700)]
    pub content: Option<String>,
    /// `#RRGGBB` or `#RRGGBBAA`, for text statuses.
    #[validate(custom(function = "hex_color"))]
    #[schema(pattern = "^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")]
    pub background_color: Option<String>,
}

/// The multipart form of an image or video status.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct PostStatusForm {
    /// `image` or `video`; send it before `file`.
    #[schema(value_type = String)]
    pub r#type: String,
    pub content: Option<String>,
    /// The image (JPEG, PNG, WebP, GIF) or video (MP4, WebM, 3GP, QuickTime).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

fn hex_color(value: &str) -> Result<(), ValidationError> {
    let digits = value.strip_prefix('#').unwrap_or_default();
    if matches!(digits.len(), 6 | 8) && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    Err(
        ValidationError::new("hex_color").with_message(std::borrow::Cow::Borrowed(
            "The :attribute field must be a colour such as #25D366.",
        )),
    )
}

/// One person's live statuses, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserStatuses {
    pub user: UserView,
    pub items: Vec<StatusView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusFeed {
    /// The caller's own first, then the others by their newest status.
    pub statuses: Vec<UserStatuses>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusViewer {
    pub user: UserView,
    pub viewed_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusViewList {
    /// Most recent first.
    pub views: Vec<StatusViewer>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_hex() {
        for ok in ["#25D366", "#25d366ff"] {
            assert!(hex_color(ok).is_ok(), "{ok}");
        }
        for bad in ["25D366", "#25D36", "#GGGGGG", "red", "#25D366f"] {
            assert!(hex_color(bad).is_err(), "{bad}");
        }
    }
}
