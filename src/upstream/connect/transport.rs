//! Opening a connection to the upstream: TCP (with a connect timeout, `TCP_NODELAY` and the
//! configured keepalive), then TLS when the URI or the cluster policy asks for it; or an
//! in-memory pipe under the session fuzzer. The TLS connector is built here too, because which
//! policy decides the upstream's TLS is the one subtle rule of this step.

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::{tls_hint, Upstream, UpstreamError};
use crate::config::uri::{Target, TlsMode};
use crate::net::Stream;
use crate::tls;

impl Upstream {
    /// TCP, then TLS when configured.
    pub(super) async fn open(
        &self,
        addr: &str,
        name: Option<ServerName<'static>>,
    ) -> Result<Stream, UpstreamError> {
        let addr = addr.to_string();
        if let Some(dial) = &self.memory {
            let Some(io) = dial(&addr) else {
                return Err(UpstreamError::Connect {
                    addr,
                    source: std::io::ErrorKind::ConnectionRefused.into(),
                });
            };
            return Ok(Stream::Memory(io));
        }
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| UpstreamError::ConnectTimeout {
                addr: addr.clone(),
                timeout: self.connect_timeout,
            })?
            .map_err(|source| UpstreamError::Connect {
                addr: addr.clone(),
                source,
            })?;
        // Bolt is request/response with small messages: Nagle would add up to 40 ms a turn.
        let _ = tcp.set_nodelay(true);
        self.tcp.apply(&tcp, "upstream");
        let stream = match (self.current_tls(), name) {
            (Some((connector, _)), Some(name)) => {
                let tls = tokio::time::timeout(self.connect_timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| UpstreamError::ConnectTimeout {
                        addr: addr.clone(),
                        timeout: self.connect_timeout,
                    })?
                    .map_err(|source| UpstreamError::Tls {
                        addr: addr.clone(),
                        hint: tls_hint(
                            &source,
                            self.cluster_policy
                                .load(std::sync::atomic::Ordering::Relaxed),
                        ),
                        source,
                    })?;
                Stream::ClientTls(Box::new(tls))
            }
            _ => Stream::Plain(tcp),
        };
        Ok(stream)
    }
}

/// The upstream TLS connector for `target`: the cluster policy when enabled, else the URI's.
/// `cluster` is the loaded cluster policy when `dbms.ssl.policy.cluster.enabled=true`.
pub(super) fn tls_for(
    target: &Target,
    cluster: Option<&tls::TlsPolicy>,
    ocsp_required: bool,
) -> Result<Option<(tokio_rustls::TlsConnector, ServerName<'static>)>, tls::TlsError> {
    let config = match (cluster, target.tls) {
        (Some(policy), mode) => {
            let why = match mode {
                TlsMode::Plain => {
                    "the URI is bolt:// (plaintext), but the cluster policy \
                                       encrypts traffic between servers: TLS is used"
                }
                TlsMode::SelfSigned => {
                    "the URI's +ssc is overridden: the certificate is \
                                            verified against the cluster policy's trusted_dir"
                }
                TlsMode::Verified => {
                    "the URI's +s is served by the cluster policy's \
                                          trusted_dir instead of the system roots"
                }
            };
            tracing::info!(
                upstream = %target.address(),
                verify_hostname = policy.config.verify_hostname,
                "upstream TLS: dbms.ssl.policy.cluster (mutual TLS); {why}"
            );
            Some(policy.client_config_ocsp(ocsp_required)?)
        }
        (None, TlsMode::Plain) => None,
        (None, TlsMode::Verified) => Some(tls::client::verified_ocsp(ocsp_required)),
        (None, TlsMode::SelfSigned) => {
            tracing::warn!(
                upstream = %target.address(),
                "bolt+ssc: the upstream's certificate is not verified; traffic is \
                 encrypted but not protected from an active man in the middle"
            );
            Some(tls::client::any_certificate_ocsp(ocsp_required))
        }
    };
    let tls = match config {
        None => None,
        Some(config) => {
            let name = ServerName::try_from(target.server_name().to_string()).map_err(|e| {
                tls::TlsError::Setting {
                    setting: "boltgate.upstream.uri".into(),
                    problem: format!("`{}` is not a valid TLS server name: {e}", target.host),
                }
            })?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        }
    };
    Ok(tls)
}
