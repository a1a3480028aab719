//! What one sandbox capture contains: the contract between the world
//! model (which decides what an infected host does on a day) and the
//! packet renderer in [`crate::net`] (which turns it into a valid pcap).

use std::net::Ipv4Addr;

/// Ground-truth class of a connection (`truth/connections.csv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Spam,
    C2,
    Download,
    ClickFraud,
    Benign,
    Dns,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Spam => "spam",
            Class::C2 => "c2",
            Class::Download => "download",
            Class::ClickFraud => "click_fraud",
            Class::Benign => "benign",
            Class::Dns => "dns",
        }
    }
}

/// Who speaks in a turn of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// One application-level write: `delay_us` after the previous turn (or
/// after the handshake for the first), `bytes` sent by `side`. The
/// renderer segments it (MSS) and acknowledges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    pub side: Side,
    pub delay_us: u64,
    pub bytes: Vec<u8>,
}

/// How a TCP connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// Client sends FIN first, server answers FIN, last ACK.
    ClientFin,
    /// Server sends FIN first.
    ServerFin,
    /// Client aborts with RST (bots that do not QUIT).
    ClientRst,
}

/// A TCP connection from the infected host to `server:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConversation {
    /// Start time (SYN), microseconds since the Unix epoch.
    pub ts_us: i64,
    /// The client when it is not the day's host: a capture taken at a
    /// server (the trap's), where every bot is a client.
    pub client: Option<Ipv4Addr>,
    pub server: Ipv4Addr,
    pub port: u16,
    pub class: Class,
    pub turns: Vec<Turn>,
    pub close: Close,
}

/// A UDP request (and optional reply) from the infected host, e.g. DNS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpExchange {
    pub ts_us: i64,
    pub server: Ipv4Addr,
    pub port: u16,
    pub class: Class,
    pub request: Vec<u8>,
    /// Reply payload and its delay after the request.
    pub reply: Option<(u64, Vec<u8>)>,
}

/// One activity of the infected host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Activity {
    Tcp(TcpConversation),
    Udp(UdpExchange),
}

impl Activity {
    pub fn ts_us(&self) -> i64 {
        match self {
            Activity::Tcp(t) => t.ts_us,
            Activity::Udp(u) => u.ts_us,
        }
    }
}

/// Everything one sandbox capture (one family, one day) holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxDay {
    /// File name of the capture relative to the output folder, e.g.
    /// `pcap/rustock/2010-12-01.pcap` (also the `pcap` truth column).
    pub name: String,
    /// The infected host.
    pub host: Ipv4Addr,
    /// Seed for everything the renderer chooses (ports, ISNs, IP ids).
    pub seed: u64,
    /// Activities; the renderer sorts them by time and interleaves their
    /// packets.
    pub activities: Vec<Activity>,
}

/// One row of `truth/connections.csv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruthConn {
    pub pcap: String,
    pub orig_h: Ipv4Addr,
    pub orig_p: u16,
    pub resp_h: Ipv4Addr,
    pub resp_p: u16,
    /// `tcp` or `udp`.
    pub proto: &'static str,
    /// Start time, microseconds since the Unix epoch.
    pub ts_us: i64,
    pub class: Class,
}
