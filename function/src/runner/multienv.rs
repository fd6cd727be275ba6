//! What a `multienv` step's command prints, read as Atlantis reads it: `NAME=value` pairs
//! joined by commas on one line, a value in double quotes (where `\"` is a quote, and then
//! `\\` a backslash) or in single quotes when it holds a comma. Errors say where the text went
//! wrong and never quote it, not even a name: the text is a credential, most often, and a
//! bare base64 token (`dG9rZW4=`) reads as a name.

/// The variables `printed` sets, in order; none for an empty text.
///
/// # Errors
///
/// A pair without `=`, a name that is not a variable's (`[A-Za-z_][A-Za-z0-9_]*`), an empty
/// value or one that starts with `=` (the padding of a token printed bare), a line break or a
/// double quote in an unquoted value, or a quote left open or followed by anything but a comma.
pub(super) fn parse(printed: &str) -> Result<Vec<(String, String)>, String> {
    let text = printed.trim();
    let mut pairs = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let at = format!(
            "the pair at character {}",
            text[..text.len() - rest.len()].chars().count() + 1
        );
        let Some((name, after)) = rest.split_once('=') else {
            return Err(format!("{at} has no `=`"));
        };
        if !is_variable_name(name) {
            return Err(format!(
                "{at} has a name that is not a variable's (letters, digits and `_`, not \
                 starting with a digit)"
            ));
        }
        let (value, after) = if let Some(quote @ ('"' | '\'')) = after.chars().next() {
            quoted(&after[1..], quote)
                .ok_or_else(|| format!("{at} opens a quote it does not close"))?
        } else {
            let end = after.find(',').unwrap_or(after.len());
            let value = &after[..end];
            if value.is_empty() || value.starts_with('=') {
                return Err(format!(
                    "{at} has an empty value, or one that starts with `=`: quote it"
                ));
            }
            if value.contains(['"', '\n', '\r']) {
                return Err(format!(
                    "{at} has a double quote or a line break in its value: quote the whole \
                     value, and put every pair on one line"
                ));
            }
            (value.to_owned(), &after[end..])
        };
        rest = match after.strip_prefix(',') {
            Some(next) => next,
            None if after.is_empty() => after,
            None => {
                return Err(format!(
                    "{at} has more than a comma after its closing quote"
                ));
            }
        };
        pairs.push((name.to_owned(), value));
    }
    Ok(pairs)
}

/// The value in quotes at the start of `text` (after the opening `quote`) and what follows the
/// closing one. A quote after a backslash does not close them; in double quotes, a value that
/// has `\"` is unescaped (`\"` a quote, `\\` a backslash). `None` when the quote is not closed.
fn quoted(text: &str, quote: char) -> Option<(String, &str)> {
    let mut escaped = false;
    let mut previous = None;
    for (at, c) in text.char_indices() {
        if c == quote && previous != Some('\\') {
            let value = &text[..at];
            let value = if escaped {
                value.replace("\\\\", "\\").replace("\\\"", "\"")
            } else {
                value.to_owned()
            };
            return Some((value, &text[at + 1..]));
        }
        escaped |= quote == '"' && c == '"' && previous == Some('\\');
        previous = Some(c);
    }
    None
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What the comment shows of a `multienv` step: the names it set, as Atlantis words it.
pub(super) fn added(names: &[String]) -> String {
    if names.is_empty() {
        return "No dynamic environment variable added".to_owned();
    }
    format!("Dynamic environment variables added:\n{}", names.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(printed: &str) -> Vec<(String, String)> {
        parse(printed).unwrap()
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn pairs_are_read_in_order_with_quotes_where_a_value_holds_a_comma() {
        assert_eq!(
            pairs("A=1,B_2=two words,_C=x=y,NAME=O'Brien\n"),
            [
                pair("A", "1"),
                pair("B_2", "two words"),
                pair("_C", "x=y"),
                pair("NAME", "O'Brien"),
            ]
        );
        assert_eq!(
            pairs(r#"LIST="a, b",PATH_PART='/opt/x,y',ESC="say \"hi\" \\ \n""#),
            [
                pair("LIST", "a, b"),
                pair("PATH_PART", "/opt/x,y"),
                pair("ESC", r#"say "hi" \ \n"#),
            ]
        );
        // Without `\"`, backslashes stay as printed, as Atlantis keeps them.
        assert_eq!(
            pairs(r#"RE="^a\\d",Q='it\'s'"#),
            [pair("RE", r"^a\\d"), pair("Q", r"it\'s")]
        );
        assert_eq!(
            pairs("EMPTY=\"\",PEM=\"line one\nline two\",LAST=1,"),
            [
                pair("EMPTY", ""),
                pair("PEM", "line one\nline two"),
                pair("LAST", "1")
            ]
        );
        assert!(pairs("  \n").is_empty());
    }

    #[test]
    fn malformed_output_is_refused_without_quoting_it() {
        for (printed, why) in [
            ("secret-token-value", "character 1 has no `=`"),
            ("A=1,secret-token", "character 5 has no `=`"),
            ("MY SECRET=s3cr3t-value", "not a variable's"),
            ("1SECRET=s3cr3t-value", "not a variable's"),
            ("=s3cr3t-value", "not a variable's"),
            // A base64 token printed bare: its padding is not a value, nor its body a name.
            ("c2VjcmV0dG9rZW4x=", "empty value"),
            ("c2VjcmV0dG9rZW4xMg==", "starts with `=`"),
            ("SECRET=,B=1", "empty value"),
            (r#"A="s3cr3t-value"#, "does not close"),
            ("A='s3cr3t-value", "does not close"),
            (r#"A="s3cr3t"-value"#, "more than a comma"),
            (r#"A=s3cr3t"value"#, "double quote or a line break"),
            // One pair a line, as a `.env` file has them.
            (
                "A=s3cr3t-value\nSECRET=s3cr3t-value",
                "double quote or a line break",
            ),
        ] {
            let err = parse(printed).unwrap_err();
            assert!(err.contains(why), "{printed}: {err}");
            for part in ["s3cr3t", "secret", "SECRET", "c2Vj"] {
                assert!(!err.contains(part), "{err}");
            }
        }
    }

    #[test]
    fn the_comment_names_the_variables_only() {
        assert_eq!(
            added(&["A".to_owned(), "B".to_owned()]),
            "Dynamic environment variables added:\nA\nB"
        );
        assert_eq!(added(&[]), "No dynamic environment variable added");
    }
}
