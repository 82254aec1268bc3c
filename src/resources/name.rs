//! `metadata.generateName` → `metadata.name`, as the Kubernetes API server does
//! (`k8s.io/apiserver/pkg/storage/names`): the prefix, cut so the name fits 63 characters, plus
//! five random characters from the API server's alphabet (lower-case consonants and digits
//! without vowels or look-alikes, so no words are spelt).

use rand::Rng;

/// Number of random characters appended.
pub const GENERATED_SUFFIX_LEN: usize = 5;
/// Longest name the API server generates (`maxNameLength` 63).
const MAX_NAME_LEN: usize = 63;
/// The API server's alphabet (`utilrand.String`).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `prefix` (truncated to 58 bytes at a char boundary) + 5 random characters.
pub fn generate_name(prefix: &str) -> String {
    let mut cut = prefix.len().min(MAX_NAME_LEN - GENERATED_SUFFIX_LEN);
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut rng = rand::rng();
    let mut name = String::with_capacity(cut + GENERATED_SUFFIX_LEN);
    name.push_str(&prefix[..cut]);
    for _ in 0..GENERATED_SUFFIX_LEN {
        name.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_is_five_chars_from_the_api_server_alphabet() {
        let name = generate_name("chespirito-staging-pipeline-");
        let suffix = name.strip_prefix("chespirito-staging-pipeline-").unwrap();
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|b| ALPHABET.contains(&b)), "{suffix}");
    }

    #[test]
    fn long_prefix_is_cut_to_fit_63() {
        let name = generate_name(&"a".repeat(100));
        assert_eq!(name.len(), 63);
    }
}
