//! What the simulator accepts and which faults it injects.

use std::fmt;
use std::time::Duration;

/// The simulator's account, credentials, limits and faults. [`SimConfig::default`] behaves like
/// the documented API with no faults.
#[derive(Clone)]
pub struct SimConfig {
    /// The one account id the simulator serves; any other id in a path is refused.
    pub client_account_id: String,
    pub key_id: String,
    /// The secret the token endpoint accepts. Hidden from `Debug`.
    pub api_key: String,
    /// Create requests allowed per token in any `rate_window` (the API's 60 per minute).
    pub rate_per_minute: u32,
    pub rate_window: Duration,
    /// How long a token stays valid after it is created (60 minutes).
    pub token_ttl: Duration,
    /// Token creations allowed per account in any `token_creation_window` (10 per 30 minutes).
    pub token_creations_per_window: u32,
    pub token_creation_window: Duration,
    /// Probability that a create request answers 500 before anything is stored.
    pub fail_rate: f64,
    /// Probability that a create request stores its batch and then drops the connection without
    /// answering: the client cannot tell whether the batch arrived.
    pub drop_rate: f64,
    /// Delay added to every API request before it is handled.
    pub latency: Duration,
    /// If greater than 0, every Nth create request that gets past auth and the rate limit answers
    /// 429 with `Retry-After: 1` and stores nothing.
    pub storm_every: u32,
    /// Seed of the random decisions (faults, tokens, ids): same seed and request order, same run.
    pub seed: u64,
}

/// Demo identity of a local simulator. Not a real account: printing these is safe and intended.
pub const DEMO_CLIENT_ACCOUNT_ID: &str = "5b0e7a52-3c1d-4f6e-9a8b-0c1d2e3f4a5b";
pub const DEMO_KEY_ID: &str = "9f8e7d6c-5b4a-4321-8fed-cba987654321";
pub const DEMO_API_KEY: &str = "de5ec7e7-0000-4000-8000-00000000c0de";

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            client_account_id: DEMO_CLIENT_ACCOUNT_ID.to_owned(),
            key_id: DEMO_KEY_ID.to_owned(),
            api_key: DEMO_API_KEY.to_owned(),
            rate_per_minute: 60,
            rate_window: Duration::from_secs(60),
            token_ttl: Duration::from_secs(60 * 60),
            token_creations_per_window: 10,
            token_creation_window: Duration::from_secs(30 * 60),
            fail_rate: 0.0,
            drop_rate: 0.0,
            latency: Duration::ZERO,
            storm_every: 0,
            seed: 0,
        }
    }
}

impl SimConfig {
    /// The documented limits, no faults, demo credentials. Same as [`SimConfig::default`].
    pub fn demo() -> Self {
        Self::default()
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("client_account_id", &self.client_account_id)
            .field("key_id", &self.key_id)
            .field("api_key", &"[redacted]")
            .field("rate_per_minute", &self.rate_per_minute)
            .field("rate_window", &self.rate_window)
            .field("token_ttl", &self.token_ttl)
            .field(
                "token_creations_per_window",
                &self.token_creations_per_window,
            )
            .field("token_creation_window", &self.token_creation_window)
            .field("fail_rate", &self.fail_rate)
            .field("drop_rate", &self.drop_rate)
            .field("latency", &self.latency)
            .field("storm_every", &self.storm_every)
            .field("seed", &self.seed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let text = format!("{:?}", SimConfig::demo());
        assert!(!text.contains(DEMO_API_KEY), "{text}");
        assert!(text.contains(DEMO_KEY_ID));
    }

    #[test]
    fn demo_credentials_are_uuid_shaped() {
        for id in [DEMO_CLIENT_ACCOUNT_ID, DEMO_KEY_ID, DEMO_API_KEY] {
            assert!(uuid::Uuid::try_parse(id).is_ok(), "{id}");
        }
    }
}
