//! Consumed capacity, added up over every call of a [`DynamoStore`](super::DynamoStore).
//!
//! Every request asks for `ReturnConsumedCapacity = TOTAL`; the units DynamoDB reports (indexes
//! included) are added here, split into read units (GetItem, BatchGetItem, Query, Scan) and write
//! units (PutItem, TransactWriteItems, …). A request that fails reports no capacity but is counted.
//! Units are kept in thousandths so that half read units (eventually consistent reads) add up
//! exactly.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::types::ConsumedCapacity;

/// The counters.
#[derive(Debug, Default)]
pub struct Capacity {
    read_milli: AtomicU64,
    write_milli: AtomicU64,
    read_requests: AtomicU64,
    write_requests: AtomicU64,
    failed_writes: AtomicU64,
}

/// The counters at one moment. Subtract two snapshots to measure a piece of work.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CapacitySnapshot {
    /// Read capacity units consumed.
    pub read_units: f64,
    /// Write capacity units consumed.
    pub write_units: f64,
    /// Read requests sent.
    pub read_requests: u64,
    /// Write requests sent (transactions count once), failed ones included.
    pub write_requests: u64,
    /// Write requests whose condition failed or that were cancelled (no capacity reported).
    pub failed_writes: u64,
}

impl std::ops::Sub for CapacitySnapshot {
    type Output = CapacitySnapshot;
    fn sub(self, earlier: CapacitySnapshot) -> CapacitySnapshot {
        CapacitySnapshot {
            read_units: self.read_units - earlier.read_units,
            write_units: self.write_units - earlier.write_units,
            read_requests: self.read_requests.saturating_sub(earlier.read_requests),
            write_requests: self.write_requests.saturating_sub(earlier.write_requests),
            failed_writes: self.failed_writes.saturating_sub(earlier.failed_writes),
        }
    }
}

fn milli<'a>(consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) -> u64 {
    consumed.into_iter().map(|c| (c.capacity_units().unwrap_or(0.0).max(0.0) * 1000.0).round() as u64).sum()
}

impl Capacity {
    /// Counts a read request and the capacity it consumed.
    pub fn read<'a>(&self, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        self.read_requests.fetch_add(1, Ordering::Relaxed);
        self.read_milli.fetch_add(milli(consumed), Ordering::Relaxed);
    }

    /// Counts a successful write request and the capacity it consumed.
    pub fn write<'a>(&self, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        self.write_requests.fetch_add(1, Ordering::Relaxed);
        self.write_milli.fetch_add(milli(consumed), Ordering::Relaxed);
    }

    /// Counts a write request that did not succeed.
    pub fn failed_write(&self) {
        self.write_requests.fetch_add(1, Ordering::Relaxed);
        self.failed_writes.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> CapacitySnapshot {
        CapacitySnapshot {
            read_units: self.read_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            write_units: self.write_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            read_requests: self.read_requests.load(Ordering::Relaxed),
            write_requests: self.write_requests.load(Ordering::Relaxed),
            failed_writes: self.failed_writes.load(Ordering::Relaxed),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Item sizes and capacity units by DynamoDB's documented rules (what `orchgen cost` sizes with).
// ---------------------------------------------------------------------------------------------

/// Bytes of one write capacity unit: a standard write of up to 1 KB costs 1 WCU.
pub const WRITE_UNIT_BYTES: u64 = 1024;
/// Bytes of one read capacity unit: a strongly consistent read of up to 4 KB costs 1 RCU (half for
/// an eventually consistent read).
pub const READ_UNIT_BYTES: u64 = 4096;
/// Overhead DynamoDB adds to every global secondary index entry when sizing it.
pub const INDEX_ENTRY_OVERHEAD_BYTES: u64 = 100;

/// The size of an attribute value by DynamoDB's rules: strings and binaries their length in bytes;
/// numbers 1 byte plus 1 per two significant digits; booleans and nulls 1 byte; maps and lists 3
/// bytes plus, per element, 1 byte plus its name and value; sets the sum of their elements.
pub fn value_size(value: &aws_sdk_dynamodb::types::AttributeValue) -> u64 {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    match value {
        V::S(s) => s.len() as u64,
        V::N(n) => number_size(n),
        V::B(b) => b.as_ref().len() as u64,
        V::Bool(_) | V::Null(_) => 1,
        V::Ss(set) => set.iter().map(|s| s.len() as u64).sum(),
        V::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        V::Bs(set) => set.iter().map(|b| b.as_ref().len() as u64).sum(),
        V::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        V::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() as u64 + value_size(v)).sum::<u64>(),
        _ => 0,
    }
}

/// The size of a number attribute: 1 byte plus 1 byte per two significant digits (leading and
/// trailing zeroes trimmed).
pub fn number_size(number: &str) -> u64 {
    let digits: String = number.chars().take_while(|c| *c != 'e' && *c != 'E').filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1) as u64;
    1 + significant.div_ceil(2)
}

/// The size of an item: the sum over its attributes of the name's length and the value's size.
pub fn item_size(item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> u64 {
    item.iter().map(|(name, value)| name.len() as u64 + value_size(value)).sum()
}

/// Write units of one standard write of an item of `bytes` (at least 1); a transactional write costs
/// twice this.
pub fn write_units(bytes: u64) -> u64 {
    bytes.div_ceil(WRITE_UNIT_BYTES).max(1)
}

/// Read units of reading one item of `bytes` with GetItem (at least 1 for a strongly consistent
/// read; half for an eventually consistent one).
pub fn read_units(bytes: u64, consistent: bool) -> f64 {
    let units = bytes.div_ceil(READ_UNIT_BYTES).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

#[cfg(test)]
mod size_tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue as V;

    use super::*;

    #[test]
    fn sizes_follow_the_documented_rules() {
        assert_eq!(number_size("0"), 2);
        assert_eq!(number_size("12345"), 4);
        assert_eq!(number_size("-1200.00"), 2);
        assert_eq!(value_size(&V::S("héllo".into())), 6);
        let map = V::M(HashMap::from([("ab".to_owned(), V::Bool(true))]));
        assert_eq!(value_size(&map), 3 + 1 + 2 + 1);
        let item = HashMap::from([("id".to_owned(), V::S("x".repeat(1021))), ("n".to_owned(), V::N("7".into()))]);
        assert_eq!(item_size(&item), 2 + 1021 + 1 + 2);
        assert_eq!(write_units(item_size(&item)), 2);
        assert_eq!(write_units(0), 1);
        assert_eq!(read_units(4096, true), 1.0);
        assert_eq!(read_units(4097, false), 1.0);
    }
}
