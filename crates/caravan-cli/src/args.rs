//! Nomad-style flags: `-var k=v` means `--var k=v`.

use std::ffi::OsString;

/// Rewrites single-dash long flags (`-output`, `-var=x`) to clap's `--output`,
/// leaving short flags (`-h`), negative numbers, `-` (stdin) and everything after
/// `--` alone.
pub fn normalize(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut passthrough = false;
    for arg in args {
        let rewritten = match arg.to_str() {
            Some("--") => {
                passthrough = true;
                None
            }
            Some(s) if !passthrough && is_single_dash_long(s) => {
                Some(OsString::from(format!("-{s}")))
            }
            _ => None,
        };
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

fn is_single_dash_long(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('-') else {
        return false;
    };
    let name = rest.split('=').next().unwrap_or_default();
    !rest.starts_with('-')
        && name.len() > 1
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().expect("utf-8"))
            .collect()
    }

    #[test]
    fn rewrites_single_dash_long_flags() {
        assert_eq!(
            norm(&[
                "caravan",
                "job",
                "run",
                "-output",
                "-var",
                "a=b",
                "-var-file=x.hcl",
                "job.nomad"
            ]),
            [
                "caravan",
                "job",
                "run",
                "--output",
                "--var",
                "a=b",
                "--var-file=x.hcl",
                "job.nomad"
            ]
        );
    }

    #[test]
    fn leaves_short_flags_stdin_and_values_alone() {
        assert_eq!(
            norm(&["caravan", "-h", "-", "-5", "--var", "x"]),
            ["caravan", "-h", "-", "-5", "--var", "x"]
        );
        assert_eq!(
            norm(&["caravan", "--", "-output"]),
            ["caravan", "--", "-output"]
        );
    }
}
