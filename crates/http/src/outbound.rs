//! The outbound HTTP client the application uses (the breached-password
//! range API), over reqwest with rustls.

use std::time::Duration;

use latchkey_service::outbound::Fetch;

/// reqwest, with Latchkey's user agent.
#[derive(Debug, Clone)]
pub struct HttpClient(reqwest::Client);

impl HttpClient {
    pub fn new() -> Result<Self, String> {
        reqwest::Client::builder()
            .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
            .build()
            .map(Self)
            .map_err(|e| format!("cannot build the HTTP client: {e}"))
    }
}

/// The client as the application takes it.
pub fn client() -> Result<std::sync::Arc<dyn Fetch>, String> {
    Ok(std::sync::Arc::new(HttpClient::new()?))
}

#[async_trait::async_trait]
impl Fetch for HttpClient {
    async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Vec<u8>, String> {
        let mut request = self.0.get(url).timeout(timeout);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > max_bytes {
                return Err(format!("answer larger than {max_bytes} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
