//! Deterministic randomness for the renderer: every choice is a pure
//! function of the day's seed and a few labels, so the same plan renders
//! byte-identically and no state is shared between renders.

/// One step of splitmix64: a good 64-bit mix of `x`.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash of `seed` and two labels (order matters).
pub(crate) fn hash3(seed: u64, a: u64, b: u64) -> u64 {
    mix(mix(seed ^ mix(a)).wrapping_add(b))
}

/// A uniform-enough value in `lo..=hi` (returns `lo` when `hi < lo`).
pub(crate) fn in_range(h: u64, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let Some(span) = (hi - lo).checked_add(1) else {
        return h;
    };
    // Multiply-shift instead of `%`: no division and no modulo bias worth
    // speaking of for spans this small.
    lo + ((u128::from(h) * u128::from(span)) >> 64) as u64
}

/// Labels for [`hash3`], so each choice draws from its own stream.
pub(crate) mod label {
    pub const MAC: u64 = 1;
    pub const PORT_START: u64 = 2;
    pub const HOST_IP_ID: u64 = 3;
    pub const PROFILE: u64 = 4;
    pub const SERVER: u64 = 5;
    pub const CONN: u64 = 6;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_range_stays_inside() {
        for i in 0..10_000u64 {
            let v = in_range(mix(i), 20, 200);
            assert!((20..=200).contains(&v));
        }
        assert_eq!(in_range(u64::MAX, 5, 5), 5);
        assert_eq!(in_range(u64::MAX, 5, 4), 5);
        assert_eq!(in_range(u64::MAX, 0, u64::MAX - 1), u64::MAX - 1);
        assert_eq!(in_range(7, 0, u64::MAX), 7);
    }

    #[test]
    fn labels_give_different_streams() {
        assert_ne!(hash3(1, 2, 3), hash3(1, 3, 2));
        assert_ne!(hash3(1, 2, 3), hash3(2, 2, 3));
    }
}
