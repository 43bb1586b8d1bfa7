//! "Did you mean …?": the closest known name to a misspelled one.

/// The candidate closest to `input`, if one is close enough to be a likely typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != input)
        .map(|c| {
            let lower = c.to_ascii_lowercase();
            let score = strsim::jaro_winkler(&input_lower, &lower);
            let edits = strsim::damerau_levenshtein(&input_lower, &lower);
            (c, score, edits)
        })
        .filter(|(c, score, edits)| *score >= 0.82 || *edits <= (c.len() / 4).max(1))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _, _)| c)
}

/// `Some("did you mean `x`?")` when a candidate is close.
pub fn did_you_mean<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(input, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn typos_find_their_word() {
        let kinds = ["validate", "reserve_inventory", "charge_payment", "fulfil", "notify", "custom", "http"];
        assert_eq!(closest("valdate", kinds), Some("validate"));
        assert_eq!(closest("charge_paymnet", kinds), Some("charge_payment"));
        assert_eq!(closest("fulfill", kinds), Some("fulfil"));
        assert_eq!(closest("reserve-inventory", kinds), Some("reserve_inventory"));
        assert_eq!(closest("banana", kinds), None);
    }
}
