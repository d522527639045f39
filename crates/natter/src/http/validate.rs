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

/// Refuses strings that begin or end with whitespace (keys compared exactly:
/// MySQL's collations ignore trailing spaces, SQLite and PostgreSQL do not).
pub fn no_outer_space(value: &str) -> Result<(), ValidationError> {
    if value.trim() != value {
        return Err(error(
            "no_outer_space",
            "The :attribute field must not begin or end with a space.",
        ));
    }
    Ok(())
}

/// One emoji: a single grapheme cluster that is an emoji (with its skin tone,
/// ZWJ sequence or flag parts), not text that happens to contain one.
pub fn one_emoji(value: &str) -> Result<(), ValidationError> {
    match canonical_emoji(value) {
        Some(_) => Ok(()),
        None => Err(error(
            "emoji",
            "The :attribute field must be exactly one emoji.",
        )),
    }
}

/// The emoji `value` is, in its one standard spelling, when it is exactly one
/// emoji. Clients differ on the variation selector (U+FE0F: "❤" or "❤️"), and
/// a grapheme may carry any number of them: the standard spelling is what is
/// stored, so one emoji is counted as one reaction whichever way it was
/// typed, and it always fits its column.
pub fn canonical_emoji(value: &str) -> Option<&'static str> {
    use unicode_segmentation::UnicodeSegmentation;
    let mut graphemes = value.graphemes(true);
    let (Some(first), None) = (graphemes.next(), graphemes.next()) else {
        return None;
    };
    // Digits, '#' and '*' are emoji only as keycap parts; plain ASCII is text.
    if first.is_ascii() {
        return None;
    }
    let bare = first.replace('\u{fe0f}', "");
    emojis::get(first)
        .or_else(|| emojis::get(&bare))
        .or_else(|| emojis::get(&format!("{bare}\u{fe0f}")))
        .map(|emoji| emoji.as_str())
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

    #[test]
    fn an_emoji_is_stored_in_one_spelling_that_fits_its_column() {
        assert_eq!(canonical_emoji("❤"), canonical_emoji("❤\u{fe0f}"));
        let padded = format!("👍{}", "\u{fe0f}".repeat(64));
        assert_eq!(canonical_emoji(&padded), Some("👍"));
        for emoji in ["👍🏽", "👨‍👩‍👧", "🇫🇷", "1\u{fe0f}\u{20e3}"] {
            let canonical = canonical_emoji(emoji).unwrap();
            assert_eq!(
                canonical.replace('\u{fe0f}', ""),
                emoji.replace('\u{fe0f}', "")
            );
        }
    }
}
