//! A real SMTP server (mailin) on a loopback port, collecting what it receives.

use std::net::{IpAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use mailin_embedded::{Handler, Response, Server, SslConfig, response};

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub raw: String,
}

impl Received {
    /// The message with quoted-printable soft breaks and `=3D` undone.
    pub fn text(&self) -> String {
        self.raw.replace("=\r\n", "").replace("=3D", "=")
    }

    /// The first link in the message that contains `?token=`.
    pub fn link(&self) -> String {
        let text = self.text();
        let start = text.find("http").expect("a link");
        let link: String = text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<')
            .collect();
        assert!(link.contains("?token="), "{link}");
        link
    }

    pub fn token(&self) -> String {
        self.link().rsplit_once("?token=").unwrap().1.to_owned()
    }

    pub fn subject(&self) -> String {
        self.raw
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_owned()
    }
}

/// Holds messages at the end of DATA, before the answer, until released.
#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
    waiting: AtomicUsize,
}

impl Gate {
    fn pass(&self) {
        let mut closed = self.closed.lock().unwrap();
        if *closed {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            while *closed {
                closed = self.opened.wait(closed).unwrap();
            }
        }
    }
}

#[derive(Clone)]
struct Collector {
    inbox: Arc<Mutex<Vec<Received>>>,
    accepting: Arc<AtomicBool>,
    gate: Arc<Gate>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        if self.accepting.load(Ordering::SeqCst) {
            response::OK
        } else {
            Response::custom(421, "service not available, try again later".into())
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.from = from.to_owned();
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.gate.pass();
        if !self.accepting.load(Ordering::SeqCst) {
            return Response::custom(451, "try again later".into());
        }
        self.inbox.lock().unwrap().push(Received {
            from: self.from.clone(),
            to: self.to.clone(),
            raw: String::from_utf8_lossy(&self.data).into_owned(),
        });
        response::OK
    }
}

pub struct Smtp {
    pub port: u16,
    inbox: Arc<Mutex<Vec<Received>>>,
    accepting: Arc<AtomicBool>,
    gate: Arc<Gate>,
}

impl Smtp {
    /// A port where nothing listens yet.
    pub fn reserve() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self {
            port,
            inbox: Arc::default(),
            accepting: Arc::new(AtomicBool::new(true)),
            gate: Arc::default(),
        }
    }

    pub fn start() -> Self {
        let smtp = Self::reserve();
        smtp.listen();
        smtp
    }

    /// Starts the server on the reserved port.
    pub fn listen(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        let handler = Collector {
            inbox: self.inbox.clone(),
            accepting: self.accepting.clone(),
            gate: self.gate.clone(),
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let mut server = Server::new(handler);
        server
            .with_name("receiver.test")
            .with_ssl(SslConfig::None)
            .unwrap()
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
    }

    /// While off, the server answers with temporary failures.
    pub fn set_accepting(&self, on: bool) {
        self.accepting.store(on, Ordering::SeqCst);
    }

    /// From now on, each message waits at the end of DATA, before the
    /// server's answer, until [`Smtp::release`].
    pub fn hold(&self) {
        *self.gate.closed.lock().unwrap() = true;
    }

    /// Answers the held messages (with 250, if accepting) and holds no more.
    pub fn release(&self) {
        *self.gate.closed.lock().unwrap() = false;
        self.gate.opened.notify_all();
    }

    /// Waits (up to 15 s) until a message is held.
    pub async fn wait_held(&self) {
        for _ in 0..300 {
            if self.gate.waiting.load(Ordering::SeqCst) > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no message reached the end of DATA");
    }

    pub fn all(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }

    pub fn to(&self, address: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == address))
            .collect()
    }

    /// Waits (up to 15 s) until `address` has received `count` messages.
    pub async fn wait_for(&self, address: &str, count: usize) -> Vec<Received> {
        for _ in 0..300 {
            let got = self.to(address);
            if got.len() >= count {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{address} got {} of {count} messages; inbox: {:?}",
            self.to(address).len(),
            self.all()
        );
    }
}
