//! Outbound HTTP, as the use cases need it. The application does not speak
//! HTTP itself: the layer that does (`latchkey-http`) provides the client.

use std::time::Duration;

/// A bounded HTTP GET.
#[async_trait::async_trait]
pub trait Fetch: Send + Sync + std::fmt::Debug {
    /// The body of a successful (2xx) answer to a GET of `url`, sent with
    /// `headers`; an error names what went wrong (no answer, another
    /// status, a body over `max_bytes`, no answer within `timeout`).
    async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Vec<u8>, String>;
}
