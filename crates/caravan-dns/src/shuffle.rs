//! The answer order: a seeded shuffle, so that the resolver stays a function of its
//! inputs and the server brings the randomness.

/// SplitMix64 (Steele, Lea and Flood): tiny, fast and good enough to spread load.
#[derive(Debug, Clone)]
pub(crate) struct Shuffle {
    state: u64,
}

impl Shuffle {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher-Yates over `items`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            // i + 1 <= items.len() fits in u64; the modulo bias is irrelevant here.
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_order_and_every_order_reachable() {
        let order = |seed| {
            let mut v = [1, 2, 3];
            Shuffle::new(seed).shuffle(&mut v);
            v
        };
        assert_eq!(order(7), order(7));
        let seen: std::collections::BTreeSet<_> = (0..200).map(order).collect();
        assert_eq!(seen.len(), 6, "all 3! orders appear: {seen:?}");
    }
}
