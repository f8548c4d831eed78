//! The connection to the Docker Engine, and what its errors mean.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::errors::Error;
use bollard::query_parameters::RemoveContainerOptions;
use bollard::{API_DEFAULT_VERSION, Docker};
use tokio::sync::OnceCell;

/// Seconds any one request may take to be answered (a pull or a log stream only has
/// to start within it).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// A connection to the Engine, made on first use and shared by clones: the API
/// version is negotiated then, so a daemon that is down when the agent starts is
/// found once it is up.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    socket: PathBuf,
    docker: Arc<OnceCell<Docker>>,
}

impl Engine {
    pub(crate) fn new(socket: &Path) -> Self {
        Self {
            socket: socket.to_path_buf(),
            docker: Arc::new(OnceCell::new()),
        }
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// The client, connecting first if need be; the error says why it cannot.
    pub(crate) async fn client(&self) -> Result<Docker, String> {
        self.docker
            .get_or_try_init(|| async {
                let socket = self.socket.to_string_lossy();
                let docker =
                    Docker::connect_with_unix(&socket, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
                        .map_err(|e| reason(&e))?;
                // The newest version both sides speak (Docker 20.10 speaks 1.41).
                docker.negotiate_version().await.map_err(|e| reason(&e))
            })
            .await
            .cloned()
    }
}

/// Force-removes a container with its anonymous volumes; one already gone (or being
/// removed) is fine.
pub(crate) async fn remove_container(docker: &Docker, container: &str) -> Result<(), Error> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..RemoveContainerOptions::default()
    };
    match docker.remove_container(container, Some(options)).await {
        Err(e) if !is_not_found(&e) && !is_conflict(&e) => Err(e),
        _ => Ok(()),
    }
}

/// The Engine answered 404.
pub(crate) fn is_not_found(e: &Error) -> bool {
    matches!(
        e,
        Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The Engine answered 409 (a name in use, a container not running, a removal in
/// progress).
pub(crate) fn is_conflict(e: &Error) -> bool {
    matches!(
        e,
        Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// The Engine answered with an error status (as opposed to not answering).
pub(crate) fn is_refusal(e: &Error) -> bool {
    matches!(e, Error::DockerResponseServerError { .. })
}

/// The Engine's own message when it gave one, else the client's.
pub(crate) fn reason(e: &Error) -> String {
    match e {
        Error::DockerResponseServerError { message, .. } if !message.is_empty() => {
            message.trim().to_owned()
        }
        Error::DockerStreamError { error } => error.trim().to_owned(),
        other => other.to_string(),
    }
}
