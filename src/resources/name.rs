//! `metadata.generateName` → `metadata.name`, two ways:
//!
//! - [`generate_name`], random, as the Kubernetes API server does
//!   (`k8s.io/apiserver/pkg/storage/names`): the prefix, cut so the name fits 63 characters, plus
//!   five random characters from the API server's alphabet (lower-case consonants and digits
//!   without vowels or look-alikes, so no words are spelt). Used when the event has no delivery
//!   ID; a taken name is retried with a new suffix.
//! - [`IdempotencyKey::name`], a function of (EventListener namespace and name, trigger name,
//!   delivery ID, resource index): every delivery of one delivery ID names its objects alike, so
//!   a redelivery, a retry or a second replica finds the object already there instead of making
//!   a second one. Its suffix is [`IDEMPOTENT_SUFFIX_LEN`] characters of SHA-256 from the same
//!   alphabet (27^10 ≈ 2·10^14 values: two distinct deliveries collide with probability about
//!   n²/4·10^14, 10^-8 for 2,000). `$(uid)` becomes [`IdempotencyKey::uid`] likewise
//!   (reference §6.4: upstream draws a new UUIDv4 per trigger per event).

use rand::Rng;
use sha2::{Digest as _, Sha256};

/// Number of random characters appended.
pub const GENERATED_SUFFIX_LEN: usize = 5;
/// Longest name the API server generates (`maxNameLength` 63).
const MAX_NAME_LEN: usize = 63;
/// The API server's alphabet (`utilrand.String`).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Number of characters of an idempotent name's suffix.
pub const IDEMPOTENT_SUFFIX_LEN: usize = 10;

/// What makes the objects of one delivery of one trigger unique: everything random in them is
/// derived from these four strings (and the object's index in the TriggerTemplate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyKey<'a> {
    /// The EventListener's namespace.
    pub event_listener_namespace: &'a str,
    /// The EventListener's name.
    pub event_listener: &'a str,
    /// The trigger's name.
    pub trigger: &'a str,
    /// The sender's delivery ID (e.g. `X-GitHub-Delivery`).
    pub delivery_id: &'a str,
}

impl IdempotencyKey<'_> {
    /// SHA-256 over the key's fields, each length-prefixed (so no two keys hash the same input),
    /// then `purpose`.
    fn digest(&self, purpose: &[u8]) -> [u8; 32] {
        let mut hash = Sha256::new();
        for field in [
            self.event_listener_namespace,
            self.event_listener,
            self.trigger,
            self.delivery_id,
        ] {
            hash.update((field.len() as u64).to_be_bytes());
            hash.update(field.as_bytes());
        }
        hash.update(purpose);
        hash.finalize().into()
    }

    /// The name of resource number `index` (0-based, in `resourcetemplates` order) whose
    /// `generateName` is `prefix`: the prefix made a valid DNS-1123 label prefix (kept as is
    /// when it already is one; otherwise lower-cased, other characters turned into `-`, leading
    /// `-` dropped) and cut to fit, plus [`IDEMPOTENT_SUFFIX_LEN`] characters derived from the
    /// key and `index`. Always a valid DNS-1123 label (and so subdomain) of at most 63 bytes.
    pub fn name(&self, prefix: &str, index: usize) -> String {
        let digest = self.digest(&(index as u64).to_be_bytes());
        let mut name = label_prefix(prefix, MAX_NAME_LEN - IDEMPOTENT_SUFFIX_LEN);
        for byte in digest.iter().take(IDEMPOTENT_SUFFIX_LEN) {
            name.push(char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]));
        }
        name
    }

    /// `$(uid)` of this trigger for this delivery: a UUID (version 8, "custom", RFC 9562) from
    /// the key's SHA-256, hyphenated lower case like upstream's UUIDv4.
    pub fn uid(&self) -> String {
        let digest = self.digest(b"uid");
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_custom_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }
}

/// `prefix` as the start of a DNS-1123 label, at most `max` bytes: lower-case letters, digits and
/// `-`, not starting with `-`. A prefix already of that form (the usual `build-`) is kept.
fn label_prefix(prefix: &str, max: usize) -> String {
    let mut out = String::with_capacity(max);
    for c in prefix.chars() {
        if out.len() >= max {
            break;
        }
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && out.is_empty() {
            continue;
        }
        out.push(c);
    }
    out
}

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
    use crate::resources::is_dns1123_label;

    #[test]
    fn suffix_is_five_chars_from_the_api_server_alphabet() {
        let name = generate_name("chespirito-staging-pipeline-");
        let suffix = name.strip_prefix("chespirito-staging-pipeline-").unwrap();
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|b| ALPHABET.contains(&b)), "{suffix}");
    }

    const KEY: IdempotencyKey<'static> = IdempotencyKey {
        event_listener_namespace: "ci",
        event_listener: "el",
        trigger: "t",
        delivery_id: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    };

    #[test]
    fn idempotent_names_depend_on_every_part_of_the_key_and_the_index() {
        let name = KEY.name("build-", 0);
        assert!(name.starts_with("build-"), "{name}");
        assert_eq!(name.len(), "build-".len() + IDEMPOTENT_SUFFIX_LEN);
        assert_eq!(KEY.name("build-", 0), name, "a function of the key");
        let others = [
            KEY.name("build-", 1),
            IdempotencyKey {
                delivery_id: "other",
                ..KEY
            }
            .name("build-", 0),
            IdempotencyKey {
                trigger: "t2",
                ..KEY
            }
            .name("build-", 0),
            IdempotencyKey {
                event_listener: "el2",
                ..KEY
            }
            .name("build-", 0),
            IdempotencyKey {
                event_listener_namespace: "ci2",
                ..KEY
            }
            .name("build-", 0),
        ];
        for other in others {
            assert_ne!(other, name);
        }
    }

    #[test]
    fn field_boundaries_matter() {
        let a = IdempotencyKey {
            trigger: "ab",
            delivery_id: "c",
            ..KEY
        };
        let b = IdempotencyKey {
            trigger: "a",
            delivery_id: "bc",
            ..KEY
        };
        assert_ne!(a.name("x-", 0), b.name("x-", 0));
        assert_ne!(a.uid(), b.uid());
    }

    #[test]
    fn uid_is_a_stable_uuid_per_key() {
        let uid = KEY.uid();
        let parsed = uuid::Uuid::parse_str(&uid).unwrap();
        assert_eq!(parsed.get_version_num(), 8);
        assert_eq!(uid, KEY.uid());
        assert_ne!(
            uid,
            IdempotencyKey {
                delivery_id: "2",
                ..KEY
            }
            .uid()
        );
    }

    #[test]
    fn odd_prefixes_still_give_valid_names() {
        for prefix in ["", "-", "Build.Pipeline_", "é-ü-", &"a".repeat(100), "--x"] {
            let name = KEY.name(prefix, 3);
            assert!(is_dns1123_label(&name), "{prefix:?} → {name:?}");
        }
        assert!(KEY.name("Build-", 0).starts_with("build-"));
    }

    proptest::proptest! {
        #[test]
        fn any_prefix_and_delivery_id_give_a_valid_name(
            prefix in ".{0,100}",
            delivery_id in ".{0,300}",
            index in 0usize..1000,
        ) {
            let key = IdempotencyKey { delivery_id: &delivery_id, ..KEY };
            let name = key.name(&prefix, index);
            proptest::prop_assert!(is_dns1123_label(&name), "{:?} → {:?}", prefix, name);
        }
    }

    #[test]
    fn long_prefix_is_cut_to_fit_63() {
        let name = generate_name(&"a".repeat(100));
        assert_eq!(name.len(), 63);
    }
}
