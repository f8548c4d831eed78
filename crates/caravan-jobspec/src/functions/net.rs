//! IP network arithmetic: cidrhost, cidrnetmask, cidrsubnet, cidrsubnets, for IPv4 and
//! IPv6 prefixes. Addresses are handled as `u128` with the family's bit width.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hcl::Value;
use hcl::eval::FuncArgs;

use super::{Args, FnResult};

/// A parsed prefix: the network address (host bits cleared) and its length.
#[derive(Debug, Clone, Copy)]
struct Prefix {
    v6: bool,
    network: u128,
    len: u32,
}

impl Prefix {
    fn parse(a: &Args<'_>, text: &str) -> Result<Prefix, String> {
        let bad = || a.err(format_args!("invalid CIDR expression {text:?}"));
        let (addr, len) = text.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let len: u32 = len.parse().map_err(|_| bad())?;
        let (v6, value) = match addr {
            IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
            IpAddr::V6(v6) => (true, u128::from(v6)),
        };
        let bits = if v6 { 128 } else { 32 };
        if len > bits {
            return Err(bad());
        }
        let host_bits = bits - len;
        Ok(Prefix {
            v6,
            network: value & !low_mask(host_bits),
            len,
        })
    }

    fn bits(&self) -> u32 {
        if self.v6 { 128 } else { 32 }
    }

    fn host_bits(&self) -> u32 {
        self.bits() - self.len
    }

    fn addr_text(&self, value: u128) -> String {
        if self.v6 {
            Ipv6Addr::from(value).to_string()
        } else {
            #[allow(clippy::cast_possible_truncation)]
            Ipv4Addr::from(value as u32).to_string()
        }
    }
}

/// A mask of the lowest `bits` bits.
fn low_mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// `cidrhost(prefix, hostnum)`: the address of host number `hostnum` in the prefix; a
/// negative number counts back from the end.
pub(super) fn cidrhost(args: FuncArgs) -> FnResult {
    let a = Args::new("cidrhost", &args);
    let prefix = Prefix::parse(&a, &a.string(0)?)?;
    let hostnum = a.int(1)?;
    let size = low_mask(prefix.host_bits());
    let offset = if hostnum >= 0 {
        Some(u128::from(hostnum.unsigned_abs())).filter(|n| *n <= size)
    } else {
        // -1 is the last address: size - (|n| - 1).
        size.checked_sub(u128::from(hostnum.unsigned_abs()) - 1)
    };
    let offset = offset.ok_or_else(|| {
        a.err(format_args!(
            "prefix of {} bits cannot accommodate a host numbered {hostnum}",
            prefix.len
        ))
    })?;
    Ok(Value::String(prefix.addr_text(prefix.network | offset)))
}

/// `cidrnetmask(prefix)`: the dotted netmask of an IPv4 prefix.
pub(super) fn cidrnetmask(args: FuncArgs) -> FnResult {
    let a = Args::new("cidrnetmask", &args);
    let prefix = Prefix::parse(&a, &a.string(0)?)?;
    if prefix.v6 {
        return Err(a.err("IPv6 addresses cannot have a netmask"));
    }
    let mask = !low_mask(prefix.host_bits()) & low_mask(32);
    Ok(Value::String(prefix.addr_text(mask)))
}

/// `cidrsubnet(prefix, newbits, netnum)`: subnet number `netnum` among those `newbits`
/// longer than the prefix.
pub(super) fn cidrsubnet(args: FuncArgs) -> FnResult {
    let a = Args::new("cidrsubnet", &args);
    let prefix = Prefix::parse(&a, &a.string(0)?)?;
    let (newbits, netnum) = (a.int(1)?, a.int(2)?);
    let new_len = extend(&a, &prefix, newbits)?;
    let count = low_mask(new_len - prefix.len);
    let fits = u128::try_from(netnum).ok().filter(|n| *n <= count);
    let netnum = fits.ok_or_else(|| {
        a.err(format_args!(
            "prefix extension of {newbits} does not accommodate a subnet numbered {netnum}"
        ))
    })?;
    let shift = prefix.bits() - new_len;
    let network = prefix.network | netnum.checked_shl(shift).unwrap_or(0);
    Ok(Value::String(format!(
        "{}/{new_len}",
        prefix.addr_text(network)
    )))
}

/// `cidrsubnets(prefix, newbits...)`: consecutive subnets, each `newbits` longer than the
/// prefix and aligned to its own size, allocated in order without overlap.
pub(super) fn cidrsubnets(args: FuncArgs) -> FnResult {
    let a = Args::new("cidrsubnets", &args);
    let prefix = Prefix::parse(&a, &a.string(0)?)?;
    let end = prefix.network | low_mask(prefix.host_bits());
    let mut next = Some(prefix.network);
    let mut out = Vec::new();
    for i in 1..a.len() {
        let newbits = a.int(i)?;
        let new_len = extend(&a, &prefix, newbits)?;
        let step = low_mask(prefix.bits() - new_len);
        // Align the next free address up to a boundary of this subnet's size.
        let start = next
            .and_then(|n| {
                if n & step == 0 {
                    Some(n)
                } else {
                    (n | step).checked_add(1)
                }
            })
            .filter(|s| s.checked_add(step).is_some_and(|last| last <= end));
        let Some(start) = start else {
            return Err(a.err(format_args!(
                "not enough remaining address space for a subnet with a prefix of {new_len} bits"
            )));
        };
        out.push(Value::String(format!(
            "{}/{new_len}",
            prefix.addr_text(start)
        )));
        next = (start | step).checked_add(1);
    }
    Ok(Value::Array(out))
}

/// The prefix length after adding `newbits`, checked against the address width.
fn extend(a: &Args<'_>, prefix: &Prefix, newbits: i64) -> Result<u32, String> {
    let new_len = u32::try_from(newbits)
        .ok()
        .and_then(|n| n.checked_add(prefix.len))
        .filter(|n| *n <= prefix.bits());
    new_len.ok_or_else(|| {
        a.err(format_args!(
            "insufficient address space to extend prefix of {} by {newbits}",
            prefix.len
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fails, lit, ok, s};

    #[test]
    fn cidrhost_numbers_hosts() {
        assert_eq!(ok(r#"cidrhost("10.12.112.0/20", 16)"#), s("10.12.112.16"));
        assert_eq!(ok(r#"cidrhost("10.12.112.0/20", 268)"#), s("10.12.113.12"));
        assert_eq!(ok(r#"cidrhost("10.12.112.0/20", -1)"#), s("10.12.127.255"));
        assert_eq!(ok(r#"cidrhost("10.12.113.7/20", 0)"#), s("10.12.112.0"));
        assert_eq!(
            ok(r#"cidrhost("fd00:fd12:3456:7890:00a2::/72", 34)"#),
            s("fd00:fd12:3456:7890::22")
        );
        fails(
            r#"cidrhost("10.0.0.0/30", 4)"#,
            "cidrhost: prefix of 30 bits cannot accommodate a host numbered 4",
        );
        fails(
            r#"cidrhost("10.0.0.0/30", -5)"#,
            "cannot accommodate a host numbered -5",
        );
        fails(
            r#"cidrhost("10.0.0.0", 1)"#,
            "cidrhost: invalid CIDR expression \"10.0.0.0\"",
        );
        fails(r#"cidrhost("10.0.0.0/33", 1)"#, "invalid CIDR expression");
    }

    #[test]
    fn cidrnetmask_is_ipv4_only() {
        assert_eq!(ok(r#"cidrnetmask("172.16.0.0/12")"#), s("255.240.0.0"));
        assert_eq!(ok(r#"cidrnetmask("10.0.0.0/32")"#), s("255.255.255.255"));
        assert_eq!(ok(r#"cidrnetmask("0.0.0.0/0")"#), s("0.0.0.0"));
        fails(
            r#"cidrnetmask("fd00::/8")"#,
            "cidrnetmask: IPv6 addresses cannot have a netmask",
        );
    }

    #[test]
    fn cidrsubnet_extends_prefixes() {
        assert_eq!(
            ok(r#"cidrsubnet("172.16.0.0/12", 4, 2)"#),
            s("172.18.0.0/16")
        );
        assert_eq!(
            ok(r#"cidrsubnet("10.1.2.0/24", 4, 15)"#),
            s("10.1.2.240/28")
        );
        assert_eq!(
            ok(r#"cidrsubnet("fd00:fd12:3456:7890::/56", 16, 162)"#),
            s("fd00:fd12:3456:7800:a200::/72")
        );
        assert_eq!(ok(r#"cidrsubnet("10.0.0.0/8", 0, 0)"#), s("10.0.0.0/8"));
        fails(
            r#"cidrsubnet("10.1.2.0/24", 4, 16)"#,
            "cidrsubnet: prefix extension of 4 does not accommodate a subnet numbered 16",
        );
        fails(
            r#"cidrsubnet("10.1.2.0/24", 9, 0)"#,
            "cidrsubnet: insufficient address space to extend prefix of 24 by 9",
        );
        fails(
            r#"cidrsubnet("10.1.2.0/24", -1, 0)"#,
            "insufficient address space",
        );
    }

    #[test]
    fn cidrsubnets_allocates_in_order() {
        assert_eq!(
            ok(r#"cidrsubnets("10.1.0.0/16", 4, 4, 8, 4)"#),
            lit(r#"["10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/24", "10.1.48.0/20"]"#)
        );
        assert_eq!(
            ok(r#"cidrsubnets("fd00:fd12:3456:7890::/56", 16, 16, 16, 32)"#),
            lit(
                r#"["fd00:fd12:3456:7800::/72", "fd00:fd12:3456:7800:100::/72", "fd00:fd12:3456:7800:200::/72", "fd00:fd12:3456:7800:300::/88"]"#
            )
        );
        assert_eq!(ok(r#"cidrsubnets("10.0.0.0/8")"#), lit("[]"));
        assert_eq!(
            ok(r#"cidrsubnets("10.0.0.0/31", 1, 1)"#),
            lit(r#"["10.0.0.0/32", "10.0.0.1/32"]"#)
        );
        fails(
            r#"cidrsubnets("10.0.0.0/31", 1, 1, 1)"#,
            "cidrsubnets: not enough remaining address space",
        );
        fails(
            r#"cidrsubnets("10.0.0.0/24", 9)"#,
            "insufficient address space to extend prefix of 24 by 9",
        );
    }
}
