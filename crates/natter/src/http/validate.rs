//! Validation rules shared by several features' request types.

use std::borrow::Cow;

use validator::ValidationError;

fn error(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(Cow::Borrowed(message))
}

/// Refuses strings that are only whitespace.
pub fn not_blank(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(error(
            "not_blank",
            "The :attribute field must not be blank.",
        ));
    }
    Ok(())
}

/// One emoji: a single grapheme cluster that is an emoji (with its skin tone,
/// ZWJ sequence or flag parts), not text that happens to contain one.
pub fn one_emoji(value: &str) -> Result<(), ValidationError> {
    use unicode_segmentation::UnicodeSegmentation;
    let mut graphemes = value.graphemes(true);
    let (Some(first), None) = (graphemes.next(), graphemes.next()) else {
        return Err(error(
            "emoji",
            "The :attribute field must be exactly one emoji.",
        ));
    };
    // Digits, '#' and '*' are emoji only as keycap parts; plain ASCII is text.
    let known = !first.is_ascii()
        && (emojis::get(first).is_some()
            || emojis::get(&first.replace('\u{fe0f}', "")).is_some()
            || emojis::get(&format!("{first}\u{fe0f}")).is_some());
    if !known {
        return Err(error(
            "emoji",
            "The :attribute field must be exactly one emoji.",
        ));
    }
    Ok(())
}

/// A list of ids with no id twice (Laravel's `distinct`).
pub fn distinct_ids(values: &[i64]) -> Result<(), ValidationError> {
    let mut seen = std::collections::HashSet::with_capacity(values.len());
    if values.iter().all(|v| seen.insert(*v)) {
        Ok(())
    } else {
        Err(error(
            "distinct",
            "The :attribute field has a duplicate value.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_ids_refuses_a_repeated_id() {
        assert!(distinct_ids(&[1, 2, 3]).is_ok());
        assert!(distinct_ids(&[]).is_ok());
        assert!(distinct_ids(&[1, 2, 1]).is_err());
    }

    #[test]
    fn one_emoji_accepts_sequences_and_refuses_text() {
        for ok in ["👍", "❤️", "❤", "👍🏽", "👨‍👩‍👧", "🇫🇷"] {
            assert!(one_emoji(ok).is_ok(), "{ok} should pass");
        }
        for bad in ["", "a", "👍👍", "👍a", ":)", "1"] {
            assert!(one_emoji(bad).is_err(), "{bad:?} should fail");
        }
    }
}
