//! What `/proc/<pid>/stat` says about a process: enough to tell a live task from a
//! dead one or from a stranger that reuses its pid, and to list its process group.

use std::io;

/// The fields of `/proc/<pid>/stat` the drivers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: u32,
    /// `R`, `S`, `D`, `Z` (zombie: exited, not yet reaped), `X`, ...
    pub state: char,
    pub pgrp: u32,
    /// Start time in clock ticks since boot (field 22).
    pub start_ticks: u64,
}

impl ProcStat {
    /// Reads `/proc/<pid>/stat`; `Ok(None)` when there is no such process.
    pub fn read(pid: u32) -> io::Result<Option<Self>> {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(text) => Ok(Self::parse(pid, &text)),
            Err(e)
                if matches!(e.kind(), io::ErrorKind::NotFound) || e.raw_os_error() == Some(3) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Parses the text of a stat file. The command name (field 2) is in parentheses
    /// and may itself hold spaces and parentheses, so fields are counted from the last `)`.
    pub fn parse(pid: u32, text: &str) -> Option<Self> {
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        // `fields[0]` is field 3 (state), so field N is `fields[N - 3]`.
        Some(Self {
            pid,
            state: fields.first()?.chars().next()?,
            pgrp: fields.get(2)?.parse().ok()?,
            start_ticks: fields.get(19)?.parse().ok()?,
        })
    }

    /// Still running: neither a zombie nor dead.
    pub fn is_alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }

    /// Whether `pid` is alive and still the process that started at `start_ticks`.
    pub fn is_same_live(pid: u32, start_ticks: u64) -> bool {
        matches!(Self::read(pid), Ok(Some(s)) if s.start_ticks == start_ticks && s.is_alive())
    }

    /// The live (non-zombie) members of process group `pgrp`.
    pub fn group_members(pgrp: u32) -> io::Result<Vec<u32>> {
        let mut members = Vec::new();
        for entry in std::fs::read_dir("/proc")? {
            let Some(pid) = entry?
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Ok(Some(stat)) = Self::read(pid)
                && stat.pgrp == pgrp
                && stat.is_alive()
            {
                members.push(pid);
            }
        }
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_name_with_spaces_and_parens() {
        let text = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615";
        let s = ProcStat::parse(4242, text).expect("parse");
        assert_eq!(s.state, 'S');
        assert_eq!(s.pgrp, 4242);
        assert_eq!(s.start_ticks, 987654);
        assert!(s.is_alive());
    }

    #[test]
    fn reads_this_very_process() {
        let me = std::process::id();
        let s = ProcStat::read(me).expect("read").expect("exists");
        assert!(s.is_alive());
        assert!(ProcStat::is_same_live(me, s.start_ticks));
        assert!(!ProcStat::is_same_live(me, s.start_ticks + 1));
    }

    #[test]
    fn a_missing_process_is_none() {
        // pid_max is at most 2^22, so this pid cannot exist.
        assert_eq!(ProcStat::read(u32::MAX - 1).expect("read"), None);
    }
}
