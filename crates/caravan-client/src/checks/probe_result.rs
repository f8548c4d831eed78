//! What one run of a probe found, before the check's thresholds are applied.

/// Consul keeps at most this much of a check's output (its `DefaultBufSize`).
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024;

/// How a probe run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeOutcome {
    /// Healthy: a 2xx answer, a connection made, a script that exited 0.
    Ok,
    /// Degraded but serving: HTTP 429, a script that exited 1 (Consul's `warning`).
    Warning,
    /// Anything else, including errors and timeouts.
    Failure,
}

/// One probe run: its outcome and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub outcome: ProbeOutcome,
    /// Human-readable; what the probe captured from the service (a body, a script's
    /// output) is cut to [`MAX_OUTPUT_BYTES`] first.
    pub output: String,
}

impl ProbeResult {
    pub fn new(outcome: ProbeOutcome, output: impl Into<String>) -> Self {
        Self {
            outcome,
            output: output.into(),
        }
    }

    pub fn ok(output: impl Into<String>) -> Self {
        Self::new(ProbeOutcome::Ok, output)
    }

    pub fn warning(output: impl Into<String>) -> Self {
        Self::new(ProbeOutcome::Warning, output)
    }

    pub fn failure(output: impl Into<String>) -> Self {
        Self::new(ProbeOutcome::Failure, output)
    }
}

/// `text` cut to [`MAX_OUTPUT_BYTES`], on a character boundary.
fn truncate_output(mut text: String) -> String {
    if text.len() > MAX_OUTPUT_BYTES {
        let mut end = MAX_OUTPUT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The first [`MAX_OUTPUT_BYTES`] of raw output as text (invalid UTF-8 replaced).
pub(crate) fn output_text(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_OUTPUT_BYTES)];
    truncate_output(String::from_utf8_lossy(cut).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_output_is_cut_at_four_kib_on_a_char_boundary() {
        assert_eq!(output_text(b"short"), "short");
        let long = "x".repeat(MAX_OUTPUT_BYTES + 10);
        assert_eq!(output_text(long.as_bytes()).len(), MAX_OUTPUT_BYTES);
        // 'é' is two bytes: 4095 x's then 'é' straddles the limit, so it is dropped.
        let straddling = format!("{}é", "x".repeat(MAX_OUTPUT_BYTES - 1));
        assert_eq!(
            output_text(straddling.as_bytes()),
            "x".repeat(MAX_OUTPUT_BYTES - 1)
        );
        assert_eq!(output_text(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(ProbeResult::warning("w").outcome, ProbeOutcome::Warning);
    }
}
