//! The exit codes the admin commands promise scripts, and the error that carries
//! one up to `main`.
//!
//! A command fails with a [`Failure`]; `main` prints it as it prints every error
//! (`error: ...`) and exits with its code ([`exit_code`]). Keeping the code in the
//! error, rather than exiting where the problem is found, leaves every layer a
//! plain `Result` that anyhow carries unchanged. Clap exits with 2 on its own for
//! the usage errors it finds.

use std::fmt;
use std::process::ExitCode;

/// The exit codes, as each admin command's `--help` shows them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  any other error, a 5xx answer included
  2  usage error (a missing or malformed option, no admin token)
  3  cannot reach the admin API (connection refused, timeout, bad URL, not HTTP,
     or a server that is not the admin API, such as the ingest listener)
  4  401: the token is missing or wrong
  5  404: no such webhook, delivery or replay job
  6  409: a conflict (still_pending, webhook_not_running, disabled_in_config)";

/// Why an admin command failed, as its exit code tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Other = 1,
    Usage = 2,
    Unreachable = 3,
    Unauthorized = 4,
    NotFound = 5,
    Conflict = 6,
}

impl Exit {
    /// What an error answer's HTTP status means for the exit code.
    pub fn of_status(status: http::StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthorized,
            404 => Self::NotFound,
            409 => Self::Conflict,
            _ => Self::Other,
        }
    }
}

/// An admin command's failure: its message, the API's error code when the API
/// gave one, and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub code: Option<String>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            code: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} ({code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Failure {}

/// The exit code for a command's error: a [`Failure`]'s own, else 1.
pub fn exit_code(error: &anyhow::Error) -> ExitCode {
    let code = error
        .downcast_ref::<Failure>()
        .map_or(Exit::Other, |f| f.exit);
    ExitCode::from(code as u8)
}
