//! Identifiers: time-ordered record ids and random tokens.

/// Crockford base32, as ULID uses.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A ULID (26 characters, sortable by time) from a millisecond timestamp and 10 random
/// bytes.
pub fn ulid(now_ms: u64, random: [u8; 10]) -> String {
    let mut value: u128 = u128::from(now_ms & 0xFFFF_FFFF_FFFF) << 80;
    for (i, b) in random.iter().enumerate() {
        value |= u128::from(*b) << (72 - 8 * i);
    }
    (0..26)
        .rev()
        .map(|i| CROCKFORD[((value >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// `n` random bytes from the platform's CSPRNG (`crypto.getRandomValues` in workerd).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulid_matches_the_spec_layout() {
        // ulid/spec: 48-bit time then 80 random bits, 26 Crockford characters.
        assert_eq!(ulid(0, [0; 10]), "00000000000000000000000000");
        assert_eq!(
            ulid(1_469_918_176_385, [0; 10]),
            "01ARYZ6S410000000000000000"
        );
        assert_eq!(ulid(0, [0xFF; 10]), "0000000000ZZZZZZZZZZZZZZZZ");
    }

    #[test]
    fn ulids_sort_by_time() {
        assert!(ulid(1000, [0xFF; 10]) < ulid(1001, [0; 10]));
    }
}
