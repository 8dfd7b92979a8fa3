//! Recognises lines of page furniture by their wording.

/// Whether a line is a legal or site notice: copyright, rights reserved, privacy or
/// cookie policy, terms of use.
pub(crate) fn is_legal(line: &str) -> bool {
    if line.len() > 300 {
        return false;
    }
    if line.contains('©') {
        return true;
    }
    let lower = line.to_lowercase();
    [
        "copyright",
        "all rights reserved",
        "privacy policy",
        "terms of use",
        "terms of service",
        "cookie",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_lines() {
        assert!(is_legal("© 2024 Example Inc."));
        assert!(is_legal("Copyright 2019 Jpost Inc. All rights reserved"));
        assert!(is_legal("We use cookies to improve your experience."));
        assert!(!is_legal("The court ruled on the copyright case yesterday, a long story. ".repeat(6).as_str()));
        assert!(!is_legal("An ordinary sentence about rights."));
    }
}
