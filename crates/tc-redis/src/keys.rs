//! The names of one account's keys. The account id sits in braces, Redis Cluster's hash tag,
//! so every key of an account lands in one slot and a script may touch them together.

/// The keys of one account, under `tc:{ACCOUNT}:`.
pub(crate) struct Keys {
    namespace: String,
}

impl Keys {
    pub fn new(account: &str) -> Keys {
        Keys {
            namespace: format!("tc:{{{account}}}"),
        }
    }

    /// The keys of the same account on the API at `base_url`, under `tc:{ACCOUNT@BASE_URL}:`.
    pub fn on_api(&self, base_url: &str) -> Keys {
        let account = self
            .namespace
            .trim_start_matches("tc:{")
            .trim_end_matches('}');
        Keys {
            namespace: format!("tc:{{{account}@{base_url}}}"),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A random id, set when the store first serves the account: gone or different after the
    /// store lost its data.
    pub fn epoch(&self) -> String {
        format!("{}:epoch", self.namespace)
    }

    /// Until when every process holds back, after the store lost its data.
    pub fn hold(&self) -> String {
        format!("{}:hold", self.namespace)
    }

    /// The account's token creations: a sorted set of claim ids scored by creation time.
    pub fn creations(&self) -> String {
        format!("{}:creations", self.namespace)
    }

    /// The slot's token: a hash of its id, sealed value, creation and expiry times.
    pub fn token(&self, slot: usize) -> String {
        format!("{}:token:{slot}", self.namespace)
    }

    /// The claim to create the slot's token, with a lease.
    pub fn mint(&self, slot: usize) -> String {
        format!("{}:mint:{slot}", self.namespace)
    }

    /// The slot's rate window: a sorted set of place ids scored by send time.
    pub fn window(&self, slot: usize) -> String {
        format!("{}:window:{slot}", self.namespace)
    }
}
