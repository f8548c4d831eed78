//! Why a task's templates could not be rendered or written: each fails the task, with
//! the message in its event (`Template failed: ...`).

use std::path::PathBuf;

/// A template's failure.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template does not compile; the message names its line and column.
    #[error(transparent)]
    Parse(#[from] caravan_template::ParseError),
    /// It compiled, but failed while executing with complete data.
    #[error(transparent)]
    Render(#[from] caravan_template::RenderError),
    /// `destination` (or `source`) leads outside the task directory.
    #[error("{what} escapes the task directory ({path:?})")]
    Escapes { what: &'static str, path: String },
    #[error("template has neither data nor source")]
    NoContent,
    #[error("template has no destination")]
    NoDestination,
    #[error("invalid perms {0:?}: expected an octal mode such as \"0644\"")]
    Perms(String),
    #[error("reading source {path}: {source}")]
    Source {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The output of an `env = true` template is not an environment file.
    #[error("{destination}: {source}")]
    Env {
        destination: String,
        #[source]
        source: caravan_template::EnvParseError,
    },
}
