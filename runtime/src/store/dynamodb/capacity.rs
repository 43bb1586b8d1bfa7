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
