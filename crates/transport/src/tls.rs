//! TLS settings: the `tls` module parameters, Kamailio's `tls.cfg` profile file, PEM
//! loading, rustls configurations for TLS and QUIC, and the atomic reload.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::error::{ConfigError, TlsError};

/// ALPN protocol id of SIP over QUIC.
pub const QUIC_ALPN: &[u8] = b"sip";

/// One TLS profile (a `tls.cfg` section, or the module parameters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsProfile {
    /// `certificate`: PEM file with the certificate chain.
    pub certificate: Option<PathBuf>,
    /// `private_key`: PEM file with the key.
    pub private_key: Option<PathBuf>,
    /// `ca_list`: PEM file with trusted CA certificates.
    pub ca_list: Option<PathBuf>,
    /// `verify_certificate`: verify the peer's certificate.
    pub verify_certificate: bool,
    /// `require_certificate`: a server requires a client certificate.
    pub require_certificate: bool,
    /// `tls_method` / `method` (`TLSv1.2+`, `TLSv1.3`, `SSLv23`, …); empty: 1.2 and 1.3.
    pub method: String,
    /// `server_name`: SNI a client sends.
    pub server_name: Option<String>,
}

/// Which side a profile is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// `[server:…]`
    Server,
    /// `[client:…]`
    Client,
}

/// TLS settings: module parameters plus the optional profile file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// Defaults from the module parameters (both sides).
    pub defaults: TlsProfile,
    /// `modparam("tls", "config", …)`: the profile file, read at start and on reload.
    pub config_file: Option<PathBuf>,
    /// Directory relative paths are resolved against.
    pub base_dir: PathBuf,
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

fn set_key(p: &mut TlsProfile, key: &str, value: &str, base: &Path) -> Result<bool, String> {
    let path = |v: &str| Some(base.join(v.trim()));
    let b = |v: &str| parse_bool(v).ok_or_else(|| format!("`{v}` is not a boolean"));
    match key {
        "certificate" => p.certificate = path(value),
        "private_key" => p.private_key = path(value),
        "ca_list" => p.ca_list = path(value),
        "verify_certificate" => p.verify_certificate = b(value)?,
        "require_certificate" => p.require_certificate = b(value)?,
        "tls_method" | "method" => p.method = value.trim().to_owned(),
        "server_name" => p.server_name = Some(value.trim().to_owned()),
        _ => return Ok(false),
    }
    Ok(true)
}

impl TlsSettings {
    /// From `modparam("tls", name, value)` pairs.
    pub fn from_modparams(
        params: &[(String, String)],
        base_dir: &Path,
    ) -> Result<TlsSettings, ConfigError> {
        let mut s = TlsSettings {
            base_dir: base_dir.to_owned(),
            ..TlsSettings::default()
        };
        for (k, v) in params {
            if k == "config" {
                s.config_file = Some(base_dir.join(v));
                continue;
            }
            match set_key(&mut s.defaults, k, v, base_dir) {
                Ok(true) => {}
                Ok(false) => tracing::debug!("tls parameter {k} ignored by the transport"),
                Err(reason) => {
                    return Err(ConfigError {
                        name: format!("tls:{k}"),
                        reason,
                    })
                }
            }
        }
        Ok(s)
    }

    /// The profiles: defaults for both sides, overridden by the profile file's sections.
    /// Keys: `(side, None)` for `default`, `(side, Some(addr))` for `IP:PORT` sections.
    pub fn profiles(&self) -> Result<HashMap<(Side, Option<SocketAddr>), TlsProfile>, TlsError> {
        let mut m = HashMap::new();
        m.insert((Side::Server, None), self.defaults.clone());
        m.insert((Side::Client, None), self.defaults.clone());
        let Some(file) = &self.config_file else {
            return Ok(m);
        };
        let text = std::fs::read_to_string(file).map_err(|e| TlsError::File {
            what: "config",
            path: file.clone(),
            reason: e.to_string(),
        })?;
        let base = file.parent().unwrap_or(&self.base_dir).to_owned();
        let err = |line: usize, reason: String| TlsError::ProfileFile {
            path: file.clone(),
            line,
            reason,
        };
        let mut current: Option<(Side, Option<SocketAddr>)> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(sec) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let (side, rest) = sec.split_once(':').ok_or_else(|| {
                    err(i + 1, format!("section `[{sec}]` needs server: or client:"))
                })?;
                let side = match side.trim() {
                    "server" => Side::Server,
                    "client" => Side::Client,
                    other => return Err(err(i + 1, format!("unknown side `{other}`"))),
                };
                let addr = match rest.trim() {
                    "default" | "any" => None,
                    a => Some(
                        a.parse::<SocketAddr>()
                            .map_err(|_| err(i + 1, format!("`{a}` is not default or IP:PORT")))?,
                    ),
                };
                let key = (side, addr);
                m.entry(key).or_insert_with(|| self.defaults.clone());
                current = Some(key);
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| err(i + 1, "expected `key = value`".to_owned()))?;
            let key = current.ok_or_else(|| err(i + 1, "key outside a section".to_owned()))?;
            let Some(p) = m.get_mut(&key) else {
                continue;
            };
            match set_key(p, k.trim(), v, &base) {
                Ok(true) => {}
                Ok(false) => tracing::debug!("tls.cfg key {} ignored", k.trim()),
                Err(r) => return Err(err(i + 1, r)),
            }
        }
        Ok(m)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn versions(method: &str) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsError> {
    let m = method.trim();
    let both = vec![&rustls::version::TLS12, &rustls::version::TLS13];
    Ok(match m.to_ascii_lowercase().as_str() {
        "" | "sslv23" | "tlsv1+" | "tlsv1.1+" | "tlsv1.2+" | "any" => both,
        "tlsv1.2" => vec![&rustls::version::TLS12],
        "tlsv1.3" | "tlsv1.3+" => vec![&rustls::version::TLS13],
        _ => return Err(TlsError::Method(m.to_owned())),
    })
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let e = |reason: String| TlsError::File {
        what: "certificate",
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|x| e(x.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|x| e(x.to_string()))?;
    if certs.is_empty() {
        return Err(e("no certificate in the file".to_owned()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|x| TlsError::File {
        what: "private_key",
        path: path.to_owned(),
        reason: x.to_string(),
    })
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(path).map_err(|e| match e {
        TlsError::File { path, reason, .. } => TlsError::File {
            what: "ca_list",
            path,
            reason,
        },
        other => other,
    })? {
        roots.add(c).map_err(|e| TlsError::File {
            what: "ca_list",
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn name_of(side: Side, addr: Option<SocketAddr>) -> String {
    let s = match side {
        Side::Server => "server",
        Side::Client => "client",
    };
    match addr {
        Some(a) => format!("{s}:{a}"),
        None => format!("{s}:default"),
    }
}

fn server_config(p: &TlsProfile, name: &str, quic: bool) -> Result<ServerConfig, TlsError> {
    let rerr = |source| TlsError::Rustls {
        profile: name.to_owned(),
        source,
    };
    let (Some(cert), Some(key)) = (&p.certificate, &p.private_key) else {
        return Err(TlsError::Profile {
            profile: name.to_owned(),
            reason: "a server profile needs certificate and private_key".to_owned(),
        });
    };
    let certs = load_certs(cert)?;
    let key = load_key(key)?;
    let vers = if quic {
        vec![&rustls::version::TLS13]
    } else {
        versions(&p.method)?
    };
    let b = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&vers)
        .map_err(rerr)?;
    let b = if p.verify_certificate || p.require_certificate {
        let ca = p.ca_list.as_ref().ok_or_else(|| TlsError::Profile {
            profile: name.to_owned(),
            reason: "verify_certificate/require_certificate need ca_list".to_owned(),
        })?;
        let roots = Arc::new(load_roots(ca)?);
        let mut vb = WebPkiClientVerifier::builder_with_provider(roots, provider());
        if !p.require_certificate {
            vb = vb.allow_unauthenticated();
        }
        let v = vb.build().map_err(|e| TlsError::Profile {
            profile: name.to_owned(),
            reason: e.to_string(),
        })?;
        b.with_client_cert_verifier(v)
    } else {
        b.with_no_client_auth()
    };
    let mut c = b.with_single_cert(certs, key).map_err(rerr)?;
    if quic {
        c.alpn_protocols = vec![QUIC_ALPN.to_vec()];
    }
    Ok(c)
}

/// Accepts any server certificate (`verify_certificate = no`, Kamailio's client default);
/// signatures are still checked.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config(p: &TlsProfile, name: &str, quic: bool) -> Result<ClientConfig, TlsError> {
    let rerr = |source| TlsError::Rustls {
        profile: name.to_owned(),
        source,
    };
    let vers = if quic {
        vec![&rustls::version::TLS13]
    } else {
        versions(&p.method)?
    };
    let b = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&vers)
        .map_err(rerr)?;
    let b = if p.verify_certificate {
        let ca = p.ca_list.as_ref().ok_or_else(|| TlsError::Profile {
            profile: name.to_owned(),
            reason: "verify_certificate needs ca_list".to_owned(),
        })?;
        b.with_root_certificates(load_roots(ca)?)
    } else {
        b.dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
    };
    let mut c = match (&p.certificate, &p.private_key) {
        (Some(cert), Some(key)) => b
            .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
            .map_err(rerr)?,
        _ => b.with_no_client_auth(),
    };
    if quic {
        c.alpn_protocols = vec![QUIC_ALPN.to_vec()];
    }
    Ok(c)
}

/// A client configuration plus the SNI name of its profile.
#[derive(Debug, Clone)]
pub(crate) struct ClientProfile {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: Option<String>,
}

/// All configurations built from the files at one moment.
#[derive(Debug)]
pub(crate) struct Loaded {
    server: HashMap<Option<SocketAddr>, Arc<ServerConfig>>,
    client: HashMap<Option<SocketAddr>, ClientProfile>,
    quic_server: HashMap<Option<SocketAddr>, Arc<ServerConfig>>,
    quic_client: HashMap<Option<SocketAddr>, ClientProfile>,
}

impl Loaded {
    fn build(s: &TlsSettings, need_server: bool, need_quic: bool) -> Result<Loaded, TlsError> {
        let profiles = s.profiles()?;
        let mut l = Loaded {
            server: HashMap::new(),
            client: HashMap::new(),
            quic_server: HashMap::new(),
            quic_client: HashMap::new(),
        };
        for ((side, addr), p) in &profiles {
            let name = name_of(*side, *addr);
            match side {
                Side::Server => {
                    let default_without_cert = addr.is_none() && p.certificate.is_none();
                    if !need_server || default_without_cert {
                        continue;
                    }
                    l.server
                        .insert(*addr, Arc::new(server_config(p, &name, false)?));
                    if need_quic {
                        l.quic_server
                            .insert(*addr, Arc::new(server_config(p, &name, true)?));
                    }
                }
                Side::Client => {
                    let cp = |quic| -> Result<ClientProfile, TlsError> {
                        Ok(ClientProfile {
                            config: Arc::new(client_config(p, &name, quic)?),
                            server_name: p.server_name.clone(),
                        })
                    };
                    l.client.insert(*addr, cp(false)?);
                    if need_quic {
                        l.quic_client.insert(*addr, cp(true)?);
                    }
                }
            }
        }
        if need_server && !l.server.contains_key(&None) && l.server.is_empty() {
            return Err(TlsError::Profile {
                profile: "server:default".to_owned(),
                reason: "a server profile needs certificate and private_key".to_owned(),
            });
        }
        Ok(l)
    }

    fn pick<T: Clone>(m: &HashMap<Option<SocketAddr>, T>, a: SocketAddr) -> Option<T> {
        m.get(&Some(a)).or_else(|| m.get(&None)).cloned()
    }
}

/// The live TLS state: settings plus the configurations, swapped atomically on reload.
#[derive(Debug)]
pub(crate) struct TlsState {
    settings: TlsSettings,
    need_server: bool,
    need_quic: bool,
    loaded: RwLock<Arc<Loaded>>,
}

impl TlsState {
    pub(crate) fn new(
        settings: TlsSettings,
        need_server: bool,
        need_quic: bool,
    ) -> Result<TlsState, TlsError> {
        let l = Loaded::build(&settings, need_server, need_quic)?;
        Ok(TlsState {
            settings,
            need_server,
            need_quic,
            loaded: RwLock::new(Arc::new(l)),
        })
    }

    fn current(&self) -> Arc<Loaded> {
        match self.loaded.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Re-reads every file; on success swaps all configurations at once, on failure keeps
    /// the old ones and returns why.
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        let l = Arc::new(Loaded::build(
            &self.settings,
            self.need_server,
            self.need_quic,
        )?);
        match self.loaded.write() {
            Ok(mut g) => *g = l,
            Err(p) => *p.into_inner() = l,
        }
        Ok(())
    }

    pub(crate) fn server(&self, local: SocketAddr) -> Option<Arc<ServerConfig>> {
        Loaded::pick(&self.current().server, local)
    }

    pub(crate) fn client(&self, dest: SocketAddr) -> Option<ClientProfile> {
        Loaded::pick(&self.current().client, dest)
    }

    pub(crate) fn quic_server(&self, local: SocketAddr) -> Option<Arc<ServerConfig>> {
        Loaded::pick(&self.current().quic_server, local)
    }

    pub(crate) fn quic_client(&self, dest: SocketAddr) -> Option<ClientProfile> {
        Loaded::pick(&self.current().quic_client, dest)
    }
}

/// The SNI name for a connection to `dest`: the profile's `server_name`, else the
/// configured default, else the IP address.
pub(crate) fn server_name(
    profile: Option<&str>,
    fallback: Option<&str>,
    dest: SocketAddr,
) -> ServerName<'static> {
    profile
        .or(fallback)
        .and_then(|n| ServerName::try_from(n.to_owned()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(dest.ip().into()))
}
