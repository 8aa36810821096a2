//! [`Options`]: what the command line and the machine contribute besides `-l`.

/// Command-line overrides and machine facts that socket resolution needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The kernel supports SCTP (decides `enable_sctp`'s default "auto" mode). Use
    /// [`crate::SystemNetwork::sctp_supported`] for the real machine.
    pub sctp_supported: bool,
    /// `-a yes|no`: overrides `auto_aliases`.
    pub auto_aliases: Option<bool>,
    /// `-T`: disable TCP (and so TLS).
    pub disable_tcp: bool,
    /// `-S`: disable SCTP.
    pub disable_sctp: bool,
    /// `-n N`: default workers per socket (overrides `children`).
    pub children: Option<u32>,
    /// Report config sockets whose address is on no local interface (without `virtual` or
    /// `ip_free_bind`) as warnings. On by default.
    pub check_local_addresses: bool,
    /// `--alias`/`--domain` values: added before the config's `alias=` lines, as Kamailio
    /// adds them (so the listing shows them after the config's, and a config alias they
    /// already cover is not added again).
    pub aliases: Vec<crate::ListenArg>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sctp_supported: false,
            auto_aliases: None,
            disable_tcp: false,
            disable_sctp: false,
            children: None,
            check_local_addresses: true,
            aliases: Vec::new(),
        }
    }
}
