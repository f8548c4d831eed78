//! Signal names as job files write them (`kill_signal = "SIGINT"`).

use std::str::FromStr;

use nix::sys::signal::Signal;

use crate::DriverError;

/// Parses `SIGTERM`, `TERM`, `sigterm` or `15` into a signal.
pub fn parse_signal(name: &str) -> Result<Signal, DriverError> {
    let unknown = || DriverError::UnknownSignal(name.to_owned());
    let trimmed = name.trim();
    if let Ok(number) = trimmed.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| unknown());
    }
    let upper = trimmed.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map_err(|_| unknown())
}

/// Whether a signal ends a process that does not handle it.
pub fn terminates_by_default(signal: Signal) -> bool {
    !matches!(
        signal,
        Signal::SIGCHLD
            | Signal::SIGCONT
            | Signal::SIGSTOP
            | Signal::SIGTSTP
            | Signal::SIGTTIN
            | Signal::SIGTTOU
            | Signal::SIGURG
            | Signal::SIGWINCH
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_spellings() -> Result<(), DriverError> {
        assert_eq!(parse_signal("SIGTERM")?, Signal::SIGTERM);
        assert_eq!(parse_signal("TERM")?, Signal::SIGTERM);
        assert_eq!(parse_signal("sighup")?, Signal::SIGHUP);
        assert_eq!(parse_signal(" usr1 ")?, Signal::SIGUSR1);
        assert_eq!(parse_signal("9")?, Signal::SIGKILL);
        Ok(())
    }

    #[test]
    fn rejects_nonsense_naming_it() {
        let err = parse_signal("SIGBOGUS").err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("unknown signal \"SIGBOGUS\""));
        assert!(parse_signal("").is_err());
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn stop_like_signals_do_not_terminate() {
        assert!(terminates_by_default(Signal::SIGUSR1));
        assert!(!terminates_by_default(Signal::SIGCHLD));
    }
}
