//! [`TransportConfig`]: the transport settings (Kamailio core parameters, the `tls` module
//! parameters, QUIC endpoints), with Kamailio's defaults.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cfg_parser::ast::{Item, Proto as AstProto, Scalar, Value};
use sip_message::Limits;
use socket_info::Advertise;

use crate::error::ConfigError;
use crate::socket::Protocol;
use crate::tls::TlsSettings;

/// Kamailio's default `maxbuffer` and `maxsndbuffer` (256 KiB): the size it grows UDP socket
/// buffers to at start. Linux caps a request at `net.core.rmem_max`/`wmem_max` and doubles it
/// for bookkeeping, so with the stock 208 KiB limits a socket gets 416 KiB instead of the
/// 208 KiB default, and a burst that a busy worker cannot read at once is kept, not dropped.
pub const DEFAULT_UDP_BUFFER: usize = 256 * 1024;

/// A `maxbuffer`/`maxsndbuffer` value (from the config, or `-b`/`-B`) as
/// [`TransportConfig::maxbuffer`] holds it: 0 keeps the system's size.
pub fn udp_buffer_size(n: usize) -> Option<usize> {
    Some(n).filter(|n| *n > 0)
}

/// A QUIC endpoint given explicitly (besides the `listen=quic:…` socket records, which the
/// transport binds the same way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuicListen {
    /// Address and port (port 0: OS-assigned).
    pub address: SocketAddr,
    /// Socket name.
    pub name: Option<String>,
    /// Advertise information.
    pub advertise: Option<Advertise>,
    /// Accept loops; 0 = `children`.
    pub workers: u32,
}

/// Transport settings. [`TransportConfig::default`] holds Kamailio's defaults;
/// [`TransportConfig::from_items`] reads them from a parsed config.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// `tcp_children`: accept loops per TCP/TLS socket without its own `workers`
    /// (`None`: `children`).
    pub tcp_children: Option<u32>,
    /// `mhomed`: pick the send socket by the kernel's route to the destination.
    pub mhomed: bool,
    /// `udp_mtu`: a UDP message larger than this goes over `udp_mtu_try_proto` (0: off).
    pub udp_mtu: usize,
    /// `udp_mtu_try_proto`: the protocol used for too large UDP messages (`Udp`: off).
    pub udp_mtu_try_proto: Protocol,
    /// `tcp_connection_lifetime`: a connection idle this long is closed (also QUIC streams).
    pub tcp_connection_lifetime: Duration,
    /// `tcp_max_connections` (incoming plus outgoing TCP).
    pub tcp_max_connections: usize,
    /// `tls_max_connections`.
    pub tls_max_connections: usize,
    /// Our limit of QUIC connections (default `tls_max_connections`).
    pub quic_max_connections: usize,
    /// `tcp_connect_timeout` (also the TLS/QUIC handshake timeout).
    pub tcp_connect_timeout: Duration,
    /// `tcp_send_timeout`: a write blocked this long closes the connection.
    pub tcp_send_timeout: Duration,
    /// `tcp_msg_read_timeout`: a started message must be complete within this time.
    pub tcp_msg_read_timeout: Duration,
    /// `ip_free_bind`: bind every socket with IP_FREEBIND (virtual sockets always are).
    pub ip_free_bind: bool,
    /// `maxbuffer`: the size UDP receive buffers (SO_RCVBUF) are grown to when the system's
    /// default is smaller, as Kamailio probes them at start (a larger one is left alone; the
    /// kernel caps the request at `net.core.rmem_max`). Default
    /// [`DEFAULT_UDP_BUFFER`] (Kamailio's); `None` (`maxbuffer=0`) keeps the system's size.
    pub maxbuffer: Option<usize>,
    /// `maxsndbuffer`: the same for UDP send buffers (SO_SNDBUF).
    pub maxsndbuffer: Option<usize>,
    /// `tcp_listen_backlog`.
    pub tcp_listen_backlog: u32,
    /// Per-connection (and UDP) message limits; `max_message_size` also bounds a
    /// connection's buffer.
    pub limits: Limits,
    /// Capacity of the received-message channel (back-pressure on the receive loops).
    pub channel_capacity: usize,
    /// TLS settings (needed when TLS or QUIC sockets exist).
    pub tls: Option<TlsSettings>,
    /// QUIC endpoints.
    pub quic: Vec<QuicListen>,
    /// SNI name a QUIC/TLS client sends when the profile names none (default: the IP).
    pub client_server_name: Option<String>,
    /// UDP sockets are received by the caller's own threads (blocking receives from
    /// [`crate::TransportHandle::udp_receivers`]) instead of tokio tasks, and UDP sends go
    /// out on them directly: two system calls per relayed datagram instead of four.
    pub udp_threads: bool,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            tcp_children: None,
            mhomed: false,
            udp_mtu: 0,
            udp_mtu_try_proto: Protocol::Udp,
            tcp_connection_lifetime: Duration::from_secs(120),
            tcp_max_connections: 2048,
            tls_max_connections: 2048,
            quic_max_connections: 2048,
            tcp_connect_timeout: Duration::from_secs(10),
            tcp_send_timeout: Duration::from_secs(10),
            tcp_msg_read_timeout: Duration::from_secs(20),
            ip_free_bind: false,
            maxbuffer: Some(DEFAULT_UDP_BUFFER),
            maxsndbuffer: Some(DEFAULT_UDP_BUFFER),
            tcp_listen_backlog: 1024,
            limits: Limits::default(),
            channel_capacity: 4096,
            tls: None,
            quic: Vec::new(),
            client_server_name: None,
            udp_threads: false,
        }
    }
}

fn int(name: &str, v: &Value) -> Result<i64, ConfigError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Str(s) | Value::Ident(s) => s.trim().parse().map_err(|_| ConfigError {
            name: name.to_owned(),
            reason: format!("`{s}` is not a number"),
        }),
        _ => Err(ConfigError {
            name: name.to_owned(),
            reason: "expects a number".to_owned(),
        }),
    }
}

fn positive(name: &str, v: &Value) -> Result<u64, ConfigError> {
    let i = int(name, v)?;
    u64::try_from(i).map_err(|_| ConfigError {
        name: name.to_owned(),
        reason: format!("{i} is negative"),
    })
}

fn usize_of(name: &str, v: &Value) -> Result<usize, ConfigError> {
    usize::try_from(positive(name, v)?).map_err(|_| ConfigError {
        name: name.to_owned(),
        reason: "too large".to_owned(),
    })
}

impl TransportConfig {
    /// Reads the transport parameters of a parsed config (last assignment wins), and the
    /// `tls` module parameters; relative TLS paths are resolved against `base_dir` (the
    /// config file's directory, as Kamailio does).
    pub fn from_items(items: &[Item], base_dir: &Path) -> Result<TransportConfig, ConfigError> {
        let mut c = TransportConfig::default();
        let mut tls_params: Vec<(String, String)> = Vec::new();
        for item in items {
            match item {
                Item::Param(p) => {
                    let name = p.name.value.as_str();
                    let v = &p.value.value;
                    match name {
                        "tcp_children" => {
                            c.tcp_children =
                                Some(u32::try_from(positive(name, v)?).unwrap_or(u32::MAX))
                        }
                        "mhomed" => c.mhomed = int(name, v)? != 0,
                        "udp_mtu" => c.udp_mtu = usize_of(name, v)?,
                        "udp_mtu_try_proto" => {
                            c.udp_mtu_try_proto = match v {
                                Value::Proto(AstProto::Tcp) => Protocol::Tcp,
                                Value::Proto(AstProto::Tls) => Protocol::Tls,
                                Value::Proto(AstProto::Udp) => Protocol::Udp,
                                Value::Int(1) => Protocol::Udp,
                                Value::Int(2) => Protocol::Tcp,
                                Value::Int(3) => Protocol::Tls,
                                other => {
                                    return Err(ConfigError {
                                        name: name.to_owned(),
                                        reason: format!("{other:?} is not supported yet"),
                                    })
                                }
                            }
                        }
                        "tcp_connection_lifetime" => {
                            c.tcp_connection_lifetime = Duration::from_secs(positive(name, v)?)
                        }
                        "tcp_max_connections" => c.tcp_max_connections = usize_of(name, v)?,
                        "tls_max_connections" => c.tls_max_connections = usize_of(name, v)?,
                        "tcp_connect_timeout" => {
                            c.tcp_connect_timeout = Duration::from_secs(positive(name, v)?)
                        }
                        "tcp_send_timeout" => {
                            c.tcp_send_timeout = Duration::from_secs(positive(name, v)?)
                        }
                        "tcp_msg_read_timeout" => {
                            c.tcp_msg_read_timeout = Duration::from_secs(positive(name, v)?)
                        }
                        "ip_free_bind" => c.ip_free_bind = int(name, v)? != 0,
                        "maxbuffer" => c.maxbuffer = udp_buffer_size(usize_of(name, v)?),
                        "maxsndbuffer" => c.maxsndbuffer = udp_buffer_size(usize_of(name, v)?),
                        "tcp_listen_backlog" => {
                            c.tcp_listen_backlog =
                                u32::try_from(positive(name, v)?).unwrap_or(u32::MAX)
                        }
                        _ => {}
                    }
                }
                Item::ModParam(m) if m.module.value == "tls" => {
                    let v = match &m.value.value {
                        Scalar::Int(i) => i.to_string(),
                        Scalar::Str(s) | Scalar::Pvar(s) => s.clone(),
                    };
                    tls_params.push((m.param.value.clone(), v));
                }
                _ => {}
            }
        }
        c.quic_max_connections = c.tls_max_connections;
        if !tls_params.is_empty() {
            c.tls = Some(TlsSettings::from_modparams(&tls_params, base_dir)?);
        }
        Ok(c)
    }
}
