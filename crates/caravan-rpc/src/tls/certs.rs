//! Creating a CA and agent certificates (what `caravan tls ca create` and
//! `caravan tls cert create` call). Keys are ECDSA P-256, written as PKCS#8 PEM.

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, DnsName};
use time::OffsetDateTime;

use super::TlsError;

/// Which role a certificate is for; it decides its names and extended key usages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// A server agent: `server.<region>.nomad`, `localhost`, 127.0.0.1; server and
    /// client auth (servers also call each other).
    Server,
    /// A client agent: `client.<region>.nomad`, `localhost`; server and client auth.
    Client,
    /// The command line: `cli.<region>.nomad`; client auth only.
    Cli,
}

impl CertKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Client => "client",
            Self::Cli => "cli",
        }
    }
}

/// Validity starts a little in the past so a peer whose clock is slightly behind
/// accepts a certificate made moments ago.
const BACKDATE: time::Duration = time::Duration::minutes(5);

fn create_error(step: &'static str) -> impl FnOnce(rcgen::Error) -> TlsError {
    move |e| TlsError::Create {
        step,
        reason: e.to_string(),
    }
}

fn validity(params: &mut CertificateParams, days: u32) -> Result<(), TlsError> {
    if days == 0 {
        return Err(TlsError::Create {
            step: "setting the validity",
            reason: "days must be at least 1".to_string(),
        });
    }
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + time::Duration::days(i64::from(days));
    Ok(())
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// Creates a self-signed CA valid for `days`; returns (certificate PEM, key PEM).
pub fn create_ca(common_name_: &str, days: u32) -> Result<(String, String), TlsError> {
    if common_name_.trim().is_empty() {
        return Err(TlsError::InvalidName {
            name: common_name_.to_string(),
            reason: "the CA's common name is empty".to_string(),
        });
    }
    let key = KeyPair::generate().map_err(create_error("generating the CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(common_name_);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, days)?;
    let cert = params
        .self_signed(&key)
        .map_err(create_error("signing the CA certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Creates a certificate of `kind` for `region`, signed by the CA; returns
/// (certificate PEM, key PEM).
///
/// `extra_dns` and `extra_ips` are added to the kind's own names. The CA key must be
/// PKCS#8 PEM ("PRIVATE KEY"), as [`create_ca`] writes it.
pub fn create_cert(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    kind: CertKind,
    region: &str,
    extra_dns: &[String],
    extra_ips: &[IpAddr],
    days: u32,
) -> Result<(String, String), TlsError> {
    check_region(region)?;
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(create_error("reading the CA key"))?;
    check_key_matches(ca_cert_pem, &ca_key)?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)
        .map_err(create_error("reading the CA certificate"))?;

    let name = format!("{}.{region}.nomad", kind.prefix());
    let mut dns = vec![name.clone()];
    if kind != CertKind::Cli {
        dns.push("localhost".to_string());
    }
    let mut ips = Vec::new();
    if kind == CertKind::Server {
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    for extra in extra_dns {
        // Validate with the same rules the verifier will apply, so a name that could
        // never match is refused now rather than at the first handshake.
        DnsName::try_from(extra.as_str()).map_err(|e| TlsError::InvalidName {
            name: extra.clone(),
            reason: e.to_string(),
        })?;
        if !dns.contains(extra) {
            dns.push(extra.clone());
        }
    }
    for ip in extra_ips {
        if !ips.contains(ip) {
            ips.push(*ip);
        }
    }

    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(&name);
    params.subject_alt_names = dns
        .into_iter()
        .map(|d| {
            d.clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e: rcgen::Error| TlsError::InvalidName {
                    name: d,
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    params
        .subject_alt_names
        .extend(ips.into_iter().map(SanType::IpAddress));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = match kind {
        CertKind::Server | CertKind::Client => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        CertKind::Cli => vec![ExtendedKeyUsagePurpose::ClientAuth],
    };
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, days)?;

    let key = KeyPair::generate().map_err(create_error("generating the key"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(create_error("signing the certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A region becomes a DNS label in every name: refuse what cannot be one.
fn check_region(region: &str) -> Result<(), TlsError> {
    let ok = !region.is_empty()
        && region.len() <= 63
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(TlsError::InvalidName {
            name: region.to_string(),
            reason: "a region must be a DNS label (letters, digits, '-')".to_string(),
        })
    }
}

/// Certificates signed with the wrong key would only fail at the first handshake;
/// catch a mismatched CA pair here.
fn check_key_matches(ca_cert_pem: &str, ca_key: &KeyPair) -> Result<(), TlsError> {
    let der =
        CertificateDer::from_pem_slice(ca_cert_pem.as_bytes()).map_err(|e| TlsError::Create {
            step: "reading the CA certificate",
            reason: e.to_string(),
        })?;
    let parsed = webpki::EndEntityCert::try_from(&der).map_err(|e| TlsError::Create {
        step: "reading the CA certificate",
        reason: e.to_string(),
    })?;
    if parsed.subject_public_key_info().as_ref() != ca_key.subject_public_key_info().as_slice() {
        return Err(TlsError::Create {
            step: "reading the CA key",
            reason: "the key does not belong to the CA certificate".to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pem: &str) -> Vec<String> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).expect("pem");
        crate::tls::dns_names(&der)
    }

    #[test]
    fn kinds_carry_their_names() {
        let (ca, ca_key) = create_ca("Caravan Agent CA", 30).expect("ca");
        let (server, key) = create_cert(
            &ca,
            &ca_key,
            CertKind::Server,
            "eu-west",
            &["nomad.example.com".to_string()],
            &["10.1.2.3".parse().expect("ip")],
            30,
        )
        .expect("server");
        assert!(key.contains("PRIVATE KEY"));
        assert_eq!(
            names(&server),
            ["server.eu-west.nomad", "localhost", "nomad.example.com"]
        );
        let (client, _) =
            create_cert(&ca, &ca_key, CertKind::Client, "global", &[], &[], 30).expect("client");
        assert_eq!(names(&client), ["client.global.nomad", "localhost"]);
        let (cli, _) =
            create_cert(&ca, &ca_key, CertKind::Cli, "global", &[], &[], 30).expect("cli");
        assert_eq!(names(&cli), ["cli.global.nomad"]);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let (ca, ca_key) = create_ca("ca", 1).expect("ca");
        let (_, other_key) = create_ca("other", 1).expect("other ca");
        let err = create_cert(&ca, &other_key, CertKind::Server, "global", &[], &[], 1)
            .expect_err("mismatched key");
        assert!(err.to_string().contains("does not belong"), "{err}");
        assert!(create_cert(&ca, &ca_key, CertKind::Server, "bad region", &[], &[], 1).is_err());
        assert!(
            create_cert(
                &ca,
                &ca_key,
                CertKind::Server,
                "global",
                &["a b".into()],
                &[],
                1
            )
            .is_err()
        );
        assert!(create_cert(&ca, &ca_key, CertKind::Server, "global", &[], &[], 0).is_err());
        assert!(create_ca(" ", 1).is_err());
        assert!(create_cert(&ca, "garbage", CertKind::Server, "global", &[], &[], 1).is_err());
    }
}
