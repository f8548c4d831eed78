//! The tcp probe: passing when a connection is made within the timeout.
//!
//! The output follows Consul's: `TCP connect 10.0.0.1:6379: Success`.

use tokio::net::TcpStream;

use super::error::CheckError;
use super::probe_result::ProbeResult;
use super::spec::CheckSpec;

/// Runs a tcp check once, within its timeout.
pub async fn probe_tcp(check: &CheckSpec) -> ProbeResult {
    let Some(address) = &check.address else {
        return ProbeResult::failure(format!("TCP connect: {}", CheckError::NoAddress));
    };
    let timeout = check.timeout();
    let connect = TcpStream::connect((address.host.as_str(), address.port));
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(_stream)) => ProbeResult::ok(format!("TCP connect {address}: Success")),
        Ok(Err(error)) => ProbeResult::failure(format!("TCP connect {address}: {error}")),
        Err(_) => ProbeResult::failure(format!(
            "TCP connect {address}: timeout after {}",
            caravan_model::Duration::from(timeout)
        )),
    }
}
