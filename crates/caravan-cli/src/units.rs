//! Sizes for people: `256 MiB`, `4.0 KiB`.

/// Bytes in binary units with one decimal above KiB (`1.5 GiB`), whole below.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Megabytes as the job file gives them (`memory = 256`): `256 MiB`, `2.0 GiB`.
pub(crate) fn megabytes(mb: i64) -> String {
    if mb >= 1024 {
        bytes(mb.unsigned_abs() * 1024 * 1024)
    } else {
        format!("{mb} MiB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(4096), "4.0 KiB");
        assert_eq!(bytes(1536 * 1024 * 1024), "1.5 GiB");
        assert_eq!(megabytes(256), "256 MiB");
        assert_eq!(megabytes(2048), "2.0 GiB");
    }
}
