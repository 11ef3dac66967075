//! Text taken from untrusted input (file content, CSV cells, names in a
//! manifest), made safe to put in a message.

/// Longest piece of untrusted text quoted in a message, in characters.
pub const QUOTE_LIMIT: usize = 60;

/// `text` as a quoted string literal, cut to [`QUOTE_LIMIT`] characters.
///
/// Quoting escapes newlines, control characters and terminal escape
/// sequences, so hostile text can neither forge lines of output nor flood a
/// message; a cut quote ends in `…` and gives the full length.
pub fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}… ({} characters)", &text[..cut], text.chars().count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole() {
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(quoted("a\nb\u{1b}[2J"), "\"a\\nb\\u{1b}[2J\"");
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let long = "é".repeat(QUOTE_LIMIT + 5);
        let q = quoted(&long);
        assert!(
            q.starts_with(&format!("{:?}", "é".repeat(QUOTE_LIMIT))),
            "{q}"
        );
        assert!(
            q.ends_with(&format!("… ({} characters)", QUOTE_LIMIT + 5)),
            "{q}"
        );
    }
}
