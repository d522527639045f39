//! A search box's text turned into each backend's full-text query.
//!
//! Users type words, not query languages: FTS5's `NEAR(`, `"`, `*`, `-`,
//! `AND`/`OR` and MySQL's boolean operators are syntax errors (500s) or
//! surprises when passed through. So the text is split into words (runs of
//! letters and digits, in any script) and every word is written back as a
//! quoted prefix term, which no engine reads as an operator: a search matches
//! the messages that contain every word, each as the start of a word
//! ("hel" finds "hello", as WhatsApp's search box does while one types).

/// At most this many words count; the rest of a long query is ignored
/// (each word is one more index lookup).
pub const MAX_TERMS: usize = 12;

/// MySQL/MariaDB's InnoDB leaves these out of a FULLTEXT index
/// (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD).
const INNODB_STOPWORDS: &[&str] = &[
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how",
    "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to", "und", "was",
    "what", "when", "where", "who", "will", "with", "www",
];

/// InnoDB's `innodb_ft_min_token_size` default: shorter words are not indexed.
const INNODB_MIN_TOKEN_CHARS: usize = 3;

/// The words of a query, each once, in the order typed. Case is left to the
/// engines, which fold it the same way for the query as for the messages
/// (PostgreSQL by the database's LC_CTYPE, which a fold here could contradict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms(Vec<String>);

impl Terms {
    pub fn parse(text: &str) -> Terms {
        let mut words: Vec<String> = Vec::new();
        for word in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            if !words.iter().any(|w| w == word) {
                words.push(word.to_string());
            }
            if words.len() == MAX_TERMS {
                break;
            }
        }
        Terms(words)
    }

    /// Nothing to search for (the text was only punctuation or spaces).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// SQLite FTS5: `"word"*` for each word; terms side by side must all match.
    pub fn fts5(&self) -> String {
        self.0
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// PostgreSQL `to_tsquery`: `'word':*` joined by `&`.
    pub fn tsquery(&self) -> String {
        self.0
            .iter()
            .map(|w| format!("'{w}':*"))
            .collect::<Vec<_>>()
            .join(" & ")
    }

    /// MySQL/MariaDB `MATCH ... AGAINST (... IN BOOLEAN MODE)`: `+word*` for a
    /// word the index holds. A stop word or a word under three letters is not
    /// in the index as a word of its own, so requiring it (`+`) would find
    /// nothing; it is written without `+`, where it still matches as the start
    /// of longer words ("th" finds "there") and only adds to the rank.
    pub fn boolean_mode(&self) -> String {
        self.0
            .iter()
            .map(|w| {
                if is_innodb_indexed(w) {
                    format!("+{w}*")
                } else {
                    format!("{w}*")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn is_innodb_indexed(word: &str) -> bool {
    word.chars().count() >= INNODB_MIN_TOKEN_CHARS
        && !INNODB_STOPWORDS.contains(&word.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_and_kept_once() {
        let terms = Terms::parse("hello, world! hello-world");
        assert_eq!(terms, Terms(vec!["hello".into(), "world".into()]));
        assert_eq!(terms.fts5(), r#""hello"* "world"*"#);
        assert_eq!(terms.tsquery(), "'hello':* & 'world':*");
        assert_eq!(terms.boolean_mode(), "+hello* +world*");
    }

    #[test]
    fn operators_and_quotes_never_reach_an_engine() {
        for hostile in [r#"""#, "*", "-", "(", "'", "\\", "()", "+-~<>@\"", ":*&|!"] {
            assert!(Terms::parse(hostile).is_empty(), "{hostile}");
        }
        let terms = Terms::parse(r#"a"b' NEAR(c) AND OR -d* x:*"#);
        for query in [terms.fts5(), terms.tsquery(), terms.boolean_mode()] {
            assert!(!query.contains('(') && !query.contains('-'), "{query}");
        }
        assert_eq!(terms.fts5().matches('"').count(), 2 * 8);
    }

    #[test]
    fn any_script_is_a_word() {
        assert_eq!(
            Terms::parse("東京タワー, Ünïcode straße"),
            Terms(vec!["東京タワー".into(), "Ünïcode".into(), "straße".into()])
        );
    }

    #[test]
    fn short_words_and_stop_words_are_optional_on_mysql() {
        let terms = Terms::parse("The ox barn");
        assert_eq!(terms.boolean_mode(), "The* ox* +barn*");
    }

    #[test]
    fn long_queries_keep_their_first_words() {
        let text: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
        let terms = Terms::parse(&text.join(" "));
        assert_eq!(terms.0.len(), MAX_TERMS);
        assert_eq!(terms.0[0], "w0");
    }
}
