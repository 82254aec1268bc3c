//! HMAC signatures of webhook bodies, as GitHub sends them in `X-Hub-Signature-256`
//! (`<algorithm>=<hex>`), verified in constant time over the exact body bytes.
//!
//! Mirrors go-github's `ValidateSignature`/`messageMAC` used by upstream's github and bitbucket
//! interceptors (reference §4.1, §4.3), with one deliberate difference: `sha1=` is refused in
//! GitHub's `X-Hub-Signature-256` header (upstream accepts it, an algorithm downgrade; reference
//! §11 item 20). Bitbucket's `X-Hub-Signature` takes `sha1=`, `sha256=` and `sha512=`, as
//! upstream ([`Algorithms::AlsoSha1`]). Slack's `v0` request signatures (over
//! `v0:{timestamp}:{body}`, [`verify_slack_v0`]) use the same HMAC and comparison.

use std::sync::{Mutex, PoisonError};

use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq as _;

/// Why a signature was not accepted. Messages follow go-github's texts.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// No `=` in the header value.
    #[error("error parsing signature {0:?}")]
    Malformed(String),
    /// The algorithm prefix is not one of the [`Algorithms`] accepted.
    #[error("unknown hash type prefix: {0:?}")]
    UnknownAlgorithm(String),
    /// The hex part does not decode.
    #[error("error decoding signature {value:?}: {reason}")]
    BadHex {
        /// The header value.
        value: String,
        /// The hex decoder's message.
        reason: String,
    },
    /// The HMAC differs.
    #[error("payload signature check failed")]
    Mismatch,
}

/// Which algorithm prefixes a signature header may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithms {
    /// `sha256=` and `sha512=` (GitHub's `X-Hub-Signature-256`).
    Sha256OrSha512,
    /// Those and `sha1=` (Bitbucket's `X-Hub-Signature`, go-github's parser as upstream uses it).
    AlsoSha1,
}

/// Verifies `header` (`sha256=<hex>` or `sha512=<hex>`) as the HMAC of `body` keyed with
/// `secret`. The comparison is constant-time (`Mac::verify_slice`).
///
/// # Errors
/// [`SignatureError`] describing the first problem found.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> Result<(), SignatureError> {
    verify_with(secret, body, header, Algorithms::Sha256OrSha512)
}

/// [`verify`], accepting the prefixes `algorithms` names.
///
/// # Errors
/// [`SignatureError`] describing the first problem found.
pub fn verify_with(
    secret: &[u8],
    body: &[u8],
    header: &str,
    algorithms: Algorithms,
) -> Result<(), SignatureError> {
    let (algorithm, hex_part) = header
        .split_once('=')
        .ok_or_else(|| SignatureError::Malformed(header.to_owned()))?;
    let mut room = [0; 64];
    let signature = decode_hex(hex_part, &mut room).map_err(|e| SignatureError::BadHex {
        value: header.to_owned(),
        reason: e.to_string(),
    })?;
    let verified = match algorithm {
        "sha256" => mac::<sha2::Sha256>(secret, body).verify_slice(&signature),
        "sha512" => mac::<sha2::Sha512>(secret, body).verify_slice(&signature),
        "sha1" if algorithms == Algorithms::AlsoSha1 => {
            mac::<sha1::Sha1>(secret, body).verify_slice(&signature)
        }
        other => return Err(SignatureError::UnknownAlgorithm(other.to_owned())),
    };
    verified.map_err(|_| SignatureError::Mismatch)
}

/// The verifications done for one event's body, remembered per secret and header value, so that
/// the triggers of an event that share a secret compute the HMAC of the body once, not once per
/// trigger (upstream computes it per trigger: 1,000 triggers on a 25 KB body would spend ~30 ms
/// hashing). Lives in [`super::SharedEvent`], which ties it to one body.
#[derive(Default)]
pub(crate) struct Verified(Mutex<Vec<Answer>>);

/// A secret, a header value, the algorithms accepted and the verification's result for them.
type Answer = (Vec<u8>, String, Algorithms, Result<(), SignatureError>);

impl Verified {
    /// [`verify_with`], or its remembered answer for the same `secret`, `header` and
    /// `algorithms`. `body` must be the same on every call (the event's body).
    pub(crate) fn verify(
        &self,
        secret: &[u8],
        body: &[u8],
        header: &str,
        algorithms: Algorithms,
    ) -> Result<(), SignatureError> {
        // The lock is held while hashing: a concurrent trigger with the same secret waits for
        // this answer instead of computing it again.
        let mut done = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let known = done.iter().find(|(s, h, a, _)| {
            bool::from(s.as_slice().ct_eq(secret)) && h == header && *a == algorithms
        });
        if let Some((_, _, _, result)) = known {
            return result.clone();
        }
        let result = verify_with(secret, body, header, algorithms);
        done.push((
            secret.to_vec(),
            header.to_owned(),
            algorithms,
            result.clone(),
        ));
        result
    }
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // NB: holds secrets; show how many answers only.
        let n = self.0.lock().map_or(0, |done| done.len());
        f.debug_struct("Verified").field("answers", &n).finish()
    }
}

/// `sha256=<hex HMAC-SHA256 of body>`: the header value GitHub would send (used by `replay`).
pub fn sign_sha256(secret: &[u8], body: &[u8]) -> String {
    let tag = mac::<sha2::Sha256>(secret, body).finalize().into_bytes();
    format!("sha256={}", hex::encode(tag))
}

/// Verifies Slack's request signature (Slack's "Verifying requests from Slack", version `v0`):
/// `header` (`X-Slack-Signature`) must be `v0=` and the hex HMAC-SHA256, keyed with the signing
/// secret, of `v0:{timestamp}:{body}`, where `timestamp` is `X-Slack-Request-Timestamp` as
/// sent. Compared in constant time. The timestamp's age is the caller's to check.
///
/// # Errors
/// [`SignatureError`] describing the first problem found (`v0` is the only known prefix).
pub fn verify_slack_v0(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    header: &str,
) -> Result<(), SignatureError> {
    let (version, hex_part) = header
        .split_once('=')
        .ok_or_else(|| SignatureError::Malformed(header.to_owned()))?;
    if version != "v0" {
        return Err(SignatureError::UnknownAlgorithm(version.to_owned()));
    }
    let mut room = [0; 64];
    let signature = decode_hex(hex_part, &mut room).map_err(|e| SignatureError::BadHex {
        value: header.to_owned(),
        reason: e.to_string(),
    })?;
    slack_v0_mac(secret, timestamp, body)
        .verify_slice(&signature)
        .map_err(|_| SignatureError::Mismatch)
}

/// The bytes `hex_part` spells, decoded into `room` when they fit (every tag this module checks
/// does: 20, 32 or 64 bytes), else onto the heap; `hex::decode`'s errors either way.
fn decode_hex<'r>(
    hex_part: &str,
    room: &'r mut [u8; 64],
) -> Result<std::borrow::Cow<'r, [u8]>, hex::FromHexError> {
    let len = hex_part.len();
    if len.is_multiple_of(2) && len / 2 <= room.len() {
        let out = &mut room[..len / 2];
        hex::decode_to_slice(hex_part, out)?;
        return Ok(std::borrow::Cow::Borrowed(out));
    }
    hex::decode(hex_part).map(std::borrow::Cow::Owned)
}

/// `v0=<hex HMAC-SHA256 of v0:{timestamp}:{body}>`: the `X-Slack-Signature` Slack would send.
pub fn sign_slack_v0(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let tag = slack_v0_mac(secret, timestamp, body)
        .finalize()
        .into_bytes();
    format!("v0={}", hex::encode(tag))
}

fn slack_v0_mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<sha2::Sha256> {
    let mut mac = mac::<sha2::Sha256>(secret, b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

fn mac<D>(secret: &[u8], body: &[u8]) -> Hmac<D>
where
    D: hmac::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    // HMAC accepts keys of any length, so this cannot fail; an empty key is valid too.
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // GitHub's documented test vector (docs: "Validating webhook deliveries").
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const HEADER: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_published_test_vector_verifies() {
        assert_eq!(verify(SECRET, BODY, HEADER), Ok(()));
        assert_eq!(sign_sha256(SECRET, BODY), HEADER);
    }

    #[test]
    fn one_changed_byte_fails() {
        assert_eq!(
            verify(SECRET, b"Hello, World?", HEADER),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"another secret", BODY, HEADER),
            Err(SignatureError::Mismatch)
        );
    }

    /// The same vector as HMAC-SHA1 (computed with `openssl dgst -sha1 -hmac`).
    const SHA1_HEADER: &str = "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59";

    #[test]
    fn sha1_is_accepted_only_where_upstream_parses_it_for_bitbucket() {
        assert_eq!(
            verify_with(SECRET, BODY, SHA1_HEADER, Algorithms::AlsoSha1),
            Ok(())
        );
        assert_eq!(
            verify_with(SECRET, b"Hello, World?", SHA1_HEADER, Algorithms::AlsoSha1),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_with(SECRET, BODY, HEADER, Algorithms::AlsoSha1),
            Ok(())
        );
        assert_eq!(
            verify_with(SECRET, BODY, "md5=00", Algorithms::AlsoSha1),
            Err(SignatureError::UnknownAlgorithm("md5".into()))
        );
    }

    #[test]
    fn sha512_is_accepted_and_sha1_refused() {
        let tag = mac::<sha2::Sha512>(SECRET, BODY).finalize().into_bytes();
        assert_eq!(
            verify(SECRET, BODY, &format!("sha512={}", hex::encode(tag))),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, BODY, SHA1_HEADER),
            Err(SignatureError::UnknownAlgorithm("sha1".into()))
        );
    }

    #[test]
    fn remembered_answers_match_fresh_ones() {
        let verified = Verified::default();
        for _ in 0..2 {
            let strict = Algorithms::Sha256OrSha512;
            assert_eq!(verified.verify(SECRET, BODY, HEADER, strict), Ok(()));
            assert_eq!(
                verified.verify(b"another secret", BODY, HEADER, strict),
                Err(SignatureError::Mismatch)
            );
            assert_eq!(
                verified.verify(SECRET, BODY, "sha256=00", strict),
                Err(SignatureError::Mismatch)
            );
            // The same sha1 value: refused for GitHub's header, accepted for Bitbucket's; one
            // answer must not stand in for the other.
            assert!(verified.verify(SECRET, BODY, SHA1_HEADER, strict).is_err());
            assert_eq!(
                verified.verify(SECRET, BODY, SHA1_HEADER, Algorithms::AlsoSha1),
                Ok(())
            );
        }
        assert_eq!(verified.0.lock().unwrap().len(), 5);
    }

    /// Computed with `printf 'v0:1700000000:a=1&b=two' | openssl dgst -sha256 -hmac
    /// slack-signing-secret`.
    const SLACK_HEADER: &str =
        "v0=3f46be96c24f6b8af004b5836b4a1825b21163220250edd7b51bd091836f8152";

    #[test]
    fn slack_v0_signatures_cover_version_timestamp_and_body() {
        let secret = b"slack-signing-secret";
        let body = b"a=1&b=two";
        assert_eq!(sign_slack_v0(secret, "1700000000", body), SLACK_HEADER);
        assert_eq!(
            verify_slack_v0(secret, "1700000000", body, SLACK_HEADER),
            Ok(())
        );
        for (secret, timestamp, body) in [
            (&b"another secret"[..], "1700000000", &body[..]),
            (secret, "1700000001", body),
            (secret, "1700000000", b"a=1&b=tw0"),
        ] {
            assert_eq!(
                verify_slack_v0(secret, timestamp, body, SLACK_HEADER),
                Err(SignatureError::Mismatch)
            );
        }
        let v1 = SLACK_HEADER.replacen("v0=", "v1=", 1);
        assert_eq!(
            verify_slack_v0(secret, "1700000000", body, &v1),
            Err(SignatureError::UnknownAlgorithm("v1".into()))
        );
        assert!(matches!(
            verify_slack_v0(secret, "1700000000", body, "v0=xyz"),
            Err(SignatureError::BadHex { .. })
        ));
        assert_eq!(
            verify_slack_v0(secret, "1700000000", body, "v0"),
            Err(SignatureError::Malformed("v0".into()))
        );
    }

    #[test]
    fn malformed_values_say_why() {
        assert_eq!(
            verify(SECRET, BODY, "deadbeef"),
            Err(SignatureError::Malformed("deadbeef".into()))
        );
        assert!(matches!(
            verify(SECRET, BODY, "sha256=zz"),
            Err(SignatureError::BadHex { .. })
        ));
        assert_eq!(
            verify(SECRET, BODY, "sha256=").unwrap_err(),
            SignatureError::Mismatch
        );
    }

    proptest::proptest! {
        /// Decoding into the stack buffer gives what `hex::decode` gives, bytes and errors, for
        /// short and long, even and odd, valid and invalid text.
        #[test]
        fn hex_is_decoded_as_the_hex_crate_decodes_it(
            text in proptest::prop_oneof!["[0-9a-fA-F]{0,140}", "[0-9a-fA-Fg=]{0,140}"]
        ) {
            let mut room = [0; 64];
            let ours = decode_hex(&text, &mut room).map(|b| b.into_owned());
            proptest::prop_assert_eq!(ours, hex::decode(&text));
        }
    }
}
