//! Reading a list of addresses to check, the one rule `etraq validate --list` and the
//! console's Email Validator share: a CSV gives every field holding an `@`; any other text one
//! address per line, without blank lines and `#` comments; each input once.

/// Every field of a CSV text, trimmed (rows of any width; unreadable rows are skipped).
pub fn csv_fields(text: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut fields = Vec::new();
    for record in reader.records().flatten() {
        fields.extend(record.iter().map(|f| f.trim().to_string()));
    }
    fields
}

/// The non-blank lines of `text` that are not `#` comments, trimmed.
pub fn lines(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
}

/// The addresses of a list file's text: every CSV field with an `@` when `csv`, else [`lines`].
pub fn list_addresses(text: &str, csv: bool) -> Vec<String> {
    if csv {
        csv_fields(text)
            .into_iter()
            .filter(|f| f.contains('@'))
            .collect()
    } else {
        lines(text).collect()
    }
}

/// Keeps each input once (compared without case, the first kept). Inputs are otherwise kept as
/// given: whitespace around one makes it a different, invalid input the user should see.
pub fn dedup_inputs(inputs: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    inputs.retain(|a| seen.insert(a.to_lowercase()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_at_and_lines_without_comments() {
        assert_eq!(
            list_addresses("email,name\nann@a.test,\"Ann, A\"\nbob@b.test,Bob\n", true),
            ["ann@a.test", "bob@b.test"]
        );
        assert_eq!(
            list_addresses("# customers\n ann@a.test \n\nbob@b.test\n", false),
            ["ann@a.test", "bob@b.test"]
        );
        let mut v: Vec<String> = ["Ann@a.test", "ann@a.test", "bob@b.test"]
            .map(String::from)
            .into();
        dedup_inputs(&mut v);
        assert_eq!(v, ["Ann@a.test", "bob@b.test"]);
    }
}
