//! Signed requests, as Crossbar's bridge checks them (an HMAC-SHA256 over key, timestamp,
//! seq, nonce and body), what is remembered against their replay, and GitHub's webhook
//! signatures.

use super::*;

/// The signed-request query fields, as Crossbar reads them.
#[derive(Debug, Default)]
pub struct Signed<'a> {
    /// `key`
    pub key: Option<&'a str>,
    /// `timestamp`
    pub timestamp: Option<&'a str>,
    /// `seq`
    pub seq: Option<&'a str>,
    /// `nonce`
    pub nonce: Option<&'a str>,
    /// `signature`
    pub signature: Option<&'a str>,
}

/// Crossbar's request signature: URL-safe base64 (padded) of HMAC-SHA256 keyed with the
/// secret over key, timestamp, seq, nonce and the body, run together.
pub fn signature(
    secret: &str,
    key: &str,
    timestamp: &str,
    seq: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let mut context =
        hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()));
    for part in [
        key.as_bytes(),
        timestamp.as_bytes(),
        seq.as_bytes(),
        nonce.as_bytes(),
        body,
    ] {
        context.update(part);
    }
    data_encoding::BASE64URL.encode(context.sign().as_ref())
}

/// Whether the GitHub signature headers match the body: `X-Hub-Signature-256`
/// (`sha256=HEX`) when sent, else `X-Hub-Signature` (`sha1=HEX`, all Crossbar checks).
pub fn github_signature_ok(
    secret: &str,
    sha256: Option<&str>,
    sha1: Option<&str>,
    body: &[u8],
) -> bool {
    let (algorithm, prefix, header) = match (sha256, sha1) {
        (Some(header), _) => (hmac::HMAC_SHA256, "sha256=", header),
        (None, Some(header)) => (hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, "sha1=", header),
        (None, None) => return false,
    };
    let Some(hex) = header
        .trim()
        .to_ascii_lowercase()
        .strip_prefix(prefix)
        .map(str::to_string)
    else {
        return false;
    };
    let expected = data_encoding::HEXLOWER
        .encode(hmac::sign(&hmac::Key::new(algorithm, secret.as_bytes()), body).as_ref());
    constant_time::verify_slices_are_equal(expected.as_bytes(), hex.as_bytes()).is_ok()
}

/// Signed requests seen within the time window, so each is served once.
#[derive(Default)]
pub(super) struct Remembered {
    seen: HashMap<(String, String, String), Instant>,
    order: VecDeque<((String, String, String), Instant)>,
}

impl Remembered {
    /// Remembers the request for `window`; `Ok(false)` if it was seen within its window,
    /// `Err` when as many are remembered as may be (then nothing is served until some
    /// expire: forgetting one still in its window would let it be replayed).
    pub(super) fn first_time(
        &mut self,
        id: (String, String, String),
        window: Duration,
    ) -> Result<bool, ()> {
        let now = Instant::now();
        while let Some((old, until)) = self.order.front() {
            if *until > now {
                break;
            }
            if self.seen.get(old) == Some(until) {
                self.seen.remove(old);
            }
            self.order.pop_front();
        }
        if self.seen.get(&id).is_some_and(|until| *until > now) {
            return Ok(false);
        }
        if self.seen.len() >= REMEMBERED_MAX {
            return Err(());
        }
        let until = now + window;
        self.seen.insert(id.clone(), until);
        self.order.push_back((id, until));
        Ok(true)
    }
}

pub(super) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Bridge {
    /// Crossbar's signed-request checks, and ours against replay.
    pub fn check_signed(&self, s: &Signed<'_>, body: &[u8], now: f64) -> Result<(), Refusal> {
        let o = &self.options;
        let signed = o.secret.is_some();
        let missing = |field: &str| {
            refuse(400, format!("REST bridge signature was invalid (missing mandatory field - '{field}' field missing)."))
        };
        if signed && s.key.is_none() {
            return Err(missing("key"));
        }
        match s.timestamp {
            Some(ts) => {
                let Some(at) = crate::runtime::time::parse_utc_fraction_z(ts) else {
                    return Err(refuse(400, format!("REST bridge signature was invalid (invalid timestamp '{ts}' (must be UTC/ISO-8601, e.g. '2011-10-14T16:59:51.123Z')).")));
                };
                let limit = o.timestamp_delta_limit_s as f64;
                if limit > 0.0 && (at - now).abs() > limit {
                    return Err(refuse(400, "Request expired, too old timestamp."));
                }
            }
            None if signed => return Err(missing("timestamp")),
            None => {}
        }
        for (name, value) in [("seq", s.seq), ("nonce", s.nonce)] {
            match value {
                Some(v) if v.trim().parse::<i128>().is_err() => {
                    let what = if name == "seq" {
                        "sequence number"
                    } else {
                        "nonce"
                    };
                    return Err(refuse(400, format!("REST bridge signature was invalid (invalid {what} '{v}' (must be an integer)).")));
                }
                None if signed => return Err(missing(name)),
                _ => {}
            }
        }
        let Some(secret) = &o.secret else {
            return Ok(());
        };
        let sent = s.signature.ok_or_else(|| missing("signature"))?;
        let key = s.key.unwrap_or_default();
        if o.key.as_deref() != Some(key) {
            return Err(refuse(401, "REST bridge signature key not valid."));
        }
        let (ts, seq, nonce) = (
            s.timestamp.unwrap_or_default(),
            s.seq.unwrap_or_default(),
            s.nonce.unwrap_or_default(),
        );
        let expected = signature(secret, key, ts, seq, nonce, body);
        if constant_time::verify_slices_are_equal(expected.as_bytes(), sent.as_bytes()).is_err() {
            return Err(refuse(401, "REST bridge signature secret not valid."));
        }
        // Within its window a timestamp is accepted on both sides of now; remember the
        // request for all of it (a day when the check is off).
        let window = match o.timestamp_delta_limit_s {
            0 => Duration::from_secs(86_400),
            s => Duration::from_secs(2 * s),
        };
        let id = (key.to_string(), seq.to_string(), nonce.to_string());
        match lock(&self.remembered).first_time(id, window) {
            Ok(true) => {}
            Ok(false) => return Err(refuse(400, "REST bridge request was already served (same key, seq and nonce): send a new nonce.")),
            Err(()) => return Err(refuse(503, format!("{REMEMBERED_MAX} signed requests were served within the time window, the most remembered against replay; try again shortly."))),
        }
        Ok(())
    }
}
