//! Address and port ranges: pure arithmetic, no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Usable addresses are capped (upstream's bitmap allocator also limits
/// IPv6 service ranges); a /12 of IPv4 fits.
const MAX_RANGE_SIZE: u128 = 1 << 20;

/// A service CIDR such as `10.96.0.0/12` or `fd00:10:96::/112`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CidrRange {
    base: u128,
    prefix: u8,
    v6: bool,
}

impl CidrRange {
    /// Parses `ip/prefix`; the address is masked to the network.
    pub fn parse(s: &str) -> Result<CidrRange, String> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR {s:?}: missing prefix length"))?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("invalid CIDR {s:?}: bad address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("invalid CIDR {s:?}: bad prefix length"))?;
        let (bits, v6, value) = match ip {
            IpAddr::V4(a) => (32u8, false, u128::from(u32::from(a))),
            IpAddr::V6(a) => (128u8, true, u128::from(a)),
        };
        if prefix > bits {
            return Err(format!(
                "invalid CIDR {s:?}: prefix longer than the address"
            ));
        }
        let host_bits = u32::from(bits - prefix);
        let mask = if host_bits >= 128 {
            0
        } else {
            !((1u128 << host_bits) - 1)
        };
        let range = CidrRange {
            base: value & mask,
            prefix,
            v6,
        };
        if range.size() == 0 {
            return Err(format!("invalid CIDR {s:?}: no usable addresses"));
        }
        Ok(range)
    }

    fn bits(&self) -> u8 {
        if self.v6 { 128 } else { 32 }
    }

    fn total(&self) -> u128 {
        let host_bits = u32::from(self.bits() - self.prefix);
        if host_bits >= 127 {
            u128::MAX
        } else {
            1u128 << host_bits
        }
    }

    /// Number of allocatable addresses: the network address is never
    /// handed out, nor an IPv4 broadcast address; capped at 2^20.
    pub fn size(&self) -> u128 {
        let total = self.total();
        let usable = if self.v6 {
            total.saturating_sub(1)
        } else {
            total.saturating_sub(2)
        };
        usable.min(MAX_RANGE_SIZE)
    }

    /// The address at `offset` (0 is the first address after the network).
    pub fn nth(&self, offset: u128) -> Option<IpAddr> {
        if offset >= self.size() {
            return None;
        }
        Some(self.addr(self.base + 1 + offset))
    }

    fn addr(&self, v: u128) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(v))
        } else {
            IpAddr::V4(Ipv4Addr::from(v as u32))
        }
    }

    /// The offset of an allocatable address, `None` outside the range.
    pub fn offset_of(&self, ip: IpAddr) -> Option<u128> {
        let v = match (ip, self.v6) {
            (IpAddr::V4(a), false) => u128::from(u32::from(a)),
            (IpAddr::V6(a), true) => u128::from(a),
            _ => return None,
        };
        let offset = v.checked_sub(self.base + 1)?;
        (offset < self.size()).then_some(offset)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.offset_of(ip).is_some()
    }

    /// "IPv4" or "IPv6".
    pub fn family(&self) -> &'static str {
        if self.v6 { "IPv6" } else { "IPv4" }
    }

    /// Upstream (KEP-3070) reserves the lower band of a range for static
    /// assignment: dynamic allocation tries the upper band first. The band
    /// is `min(max(16, size/16), 256)` addresses.
    pub fn static_band(&self) -> u128 {
        (self.size() / 16).clamp(16, 256).min(self.size())
    }
}

impl std::fmt::Display for CidrRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr(self.base), self.prefix)
    }
}

/// A node port range such as `30000-32767` (both ends included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub base: u16,
    pub size: u32,
}

impl PortRange {
    /// Parses `first-last` or `first+count` (upstream's two forms).
    pub fn parse(s: &str) -> Result<PortRange, String> {
        let bad = || format!("invalid port range {s:?}");
        if let Some((a, b)) = s.split_once('-') {
            let a: u16 = a.trim().parse().map_err(|_| bad())?;
            let b: u16 = b.trim().parse().map_err(|_| bad())?;
            if b < a || a == 0 {
                return Err(bad());
            }
            return Ok(PortRange {
                base: a,
                size: u32::from(b - a) + 1,
            });
        }
        if let Some((a, n)) = s.split_once('+') {
            let a: u16 = a.trim().parse().map_err(|_| bad())?;
            let n: u32 = n.trim().parse().map_err(|_| bad())?;
            if a == 0 || u32::from(a) + n > 65536 {
                return Err(bad());
            }
            return Ok(PortRange {
                base: a,
                size: n + 1,
            });
        }
        Err(bad())
    }

    pub fn contains(&self, port: u16) -> bool {
        port >= self.base && u32::from(port - self.base) < self.size
    }

    pub fn nth(&self, offset: u32) -> Option<u16> {
        (offset < self.size).then(|| self.base + offset as u16)
    }

    /// The lower band kept for static assignment, as for IPs.
    pub fn static_band(&self) -> u32 {
        (self.size / 16).clamp(16, 128).min(self.size)
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.base, u32::from(self.base) + self.size - 1)
    }
}

/// Offsets in the order dynamic allocation tries them: a random start in
/// the upper band, wrapping within it, then the lower (static) band from a
/// random start. Every offset of `0..size` appears exactly once.
pub fn probe_order(size: u128, band: u128, seed: u128) -> impl Iterator<Item = u128> {
    let band = band.min(size);
    let upper = size - band;
    let upper_start = if upper == 0 { 0 } else { seed % upper };
    let lower_start = if band == 0 { 0 } else { seed % band };
    let upper_iter = (0..upper).map(move |i| band + (upper_start + i) % upper);
    let lower_iter = (0..band).map(move |i| (lower_start + i) % band);
    upper_iter.chain(lower_iter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_ranges_skip_network_and_broadcast() {
        let r = CidrRange::parse("10.96.0.0/12").expect("valid");
        assert_eq!(r.size(), (1 << 20) - 2);
        assert_eq!(r.nth(0), Some("10.96.0.1".parse().expect("ip")));
        assert_eq!(r.to_string(), "10.96.0.0/12");
        assert!(r.contains("10.111.255.254".parse().expect("ip")));
        assert!(!r.contains("10.111.255.255".parse().expect("ip")));
        assert!(!r.contains("10.96.0.0".parse().expect("ip")));
        assert!(!r.contains("10.112.0.1".parse().expect("ip")));
        let small = CidrRange::parse("192.168.1.7/29").expect("valid");
        assert_eq!(small.to_string(), "192.168.1.0/29");
        assert_eq!(small.size(), 6);
        assert_eq!(small.nth(5), Some("192.168.1.6".parse().expect("ip")));
        assert_eq!(small.nth(6), None);
        assert_eq!(small.offset_of("192.168.1.3".parse().expect("ip")), Some(2));
        assert!(CidrRange::parse("10.0.0.0/32").is_err());
        assert!(CidrRange::parse("10.0.0.0").is_err());
        assert!(CidrRange::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn ipv6_ranges() {
        let r = CidrRange::parse("fd00:10:96::/112").expect("valid");
        assert_eq!(r.size(), 65535);
        assert_eq!(r.nth(0), Some("fd00:10:96::1".parse().expect("ip")));
        assert_eq!(r.family(), "IPv6");
        assert!(!r.contains("10.0.0.1".parse().expect("ip")));
        let big = CidrRange::parse("fd00::/64").expect("valid");
        assert_eq!(big.size(), 1 << 20);
    }

    #[test]
    fn port_ranges() {
        let p = PortRange::parse("30000-32767").expect("valid");
        assert_eq!(p.size, 2768);
        assert!(p.contains(30000) && p.contains(32767) && !p.contains(32768));
        assert_eq!(p.to_string(), "30000-32767");
        assert_eq!(PortRange::parse("30000+10").expect("valid").size, 11);
        assert!(PortRange::parse("5-1").is_err());
        assert!(PortRange::parse("x").is_err());
    }

    #[test]
    fn probe_order_covers_everything_upper_band_first() {
        for seed in [0u128, 7, 12345] {
            let order: Vec<u128> = probe_order(100, 16, seed).collect();
            assert_eq!(order.len(), 100);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..100).collect::<Vec<_>>());
            assert!(order[..84].iter().all(|o| *o >= 16));
        }
        assert_eq!(probe_order(3, 16, 5).count(), 3);
    }
}
