//! Key layouts of the trees. Numbers are big-endian so byte order is numeric order, and every
//! secondary index key ends in the 8-byte number it points to, so keyset pagination is a range
//! scan. Text parts are separated by a NUL byte, which addresses and Message-IDs never contain.

/// 8-byte big-endian.
pub(crate) fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// `prefix` + NUL.
pub(crate) fn text_prefix(text: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(text.len() + 1);
    k.extend_from_slice(text.as_bytes());
    k.push(0);
    k
}

/// `prefix` + `n` as 8-byte big-endian.
pub(crate) fn with_number(prefix: &[u8], n: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&be(n));
    k
}

/// The trailing 8-byte number of an index key.
pub(crate) fn trailing_number(key: &[u8]) -> Option<u64> {
    let start = key.len().checked_sub(8)?;
    let bytes: [u8; 8] = key[start..].try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// A signed time in seconds mapped to an order-preserving unsigned key.
pub(crate) fn time_key(secs: i64) -> [u8; 8] {
    etraq_core::copy::time_key(secs).to_be_bytes()
}

/// One-byte codes for DR statuses in the status index.
pub(crate) fn status_code(s: etraq_core::DrStatus) -> u8 {
    match s {
        etraq_core::DrStatus::Open => b'o',
        etraq_core::DrStatus::Replied => b'r',
        etraq_core::DrStatus::Closed => b'c',
    }
}

/// One-byte codes for directions in the Message-ID index.
pub(crate) fn direction_code(d: etraq_core::Direction) -> u8 {
    match d {
        etraq_core::Direction::Inbound => b'i',
        etraq_core::Direction::Outbound => b'o',
        etraq_core::Direction::Internal => b'n',
        etraq_core::Direction::External => b'x',
    }
}

/// `message_id` NUL `direction`.
pub(crate) fn message_id_key(message_id: &str, d: etraq_core::Direction) -> Vec<u8> {
    let mut k = text_prefix(message_id);
    k.push(direction_code(d));
    k
}
