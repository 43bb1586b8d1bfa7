//! What the dashboard and conformance tests share: `orchgen dev` on the reference pipeline (through
//! the harness, `orchgen_tests::dev_server`), the mix of orders they submit, and the counts the API
//! gives.

use std::collections::BTreeMap;
use std::path::Path;

use orchgen_tests::dev_server::{Dev, DevServer, TERMINAL};
use orchgen_tests::{fixtures, workspace_root};
use reqwest::StatusCode;
use serde_json::Value;

/// Starts `orchgen dev pipelines/orders.yaml --port 0 --data-dir <dir>/data` and waits until it
/// listens.
pub fn start(dir: &Path) -> DevServer {
    Dev::new(crate::orchgen_bin(), &workspace_root().join("pipelines/orders.yaml"), &dir.join("data")).start()
}

/// How many orders `GET /orders?status=…` lists, over every page.
pub fn api_count(server: &DevServer, status: &str) -> u64 {
    let mut count = 0;
    let mut path = format!("/orders?status={status}&limit=100");
    loop {
        let (code, page) = server.get(&path);
        assert_eq!(code, StatusCode::OK, "GET {path}: {page}");
        count += page["orders"].as_array().expect("orders").len() as u64;
        match page["next"].as_str() {
            Some(next) => path = format!("/orders?status={status}&limit=100&next={next}"),
            None => return count,
        }
    }
}

/// Waits until `orders` are all terminal; returns the API's count per terminal status.
pub fn settle(server: &DevServer, orders: &[String]) -> BTreeMap<String, u64> {
    for id in orders {
        server.wait_terminal(id);
    }
    TERMINAL.iter().map(|s| (s.to_string(), api_count(server, s))).collect()
}

/// One unit of `product` paid with `payment_method`, shipped to `country`.
pub fn order(product: &str, payment_method: &str, country: &str) -> Value {
    fixtures::order().one_unit(product).payment_method(payment_method).country(country).json()
}

/// The mix both tests submit: how many of each kind.
pub struct Mix {
    /// Orders that complete.
    pub completing: usize,
    /// Orders paid with `declined_card` (CANCELLED after releasing their stock).
    pub declined: usize,
    /// Orders of a product with no stock (REJECTED, OUT_OF_STOCK: nothing to undo).
    pub out_of_stock: usize,
    /// Orders to a country the pipeline does not ship to (REJECTED by validate).
    pub rejected: usize,
}

impl Mix {
    /// The bodies, interleaved.
    pub fn bodies(&self) -> Vec<Value> {
        let mut bodies = Vec::new();
        let most = self.completing.max(self.declined).max(self.out_of_stock).max(self.rejected);
        for i in 0..most {
            if i < self.completing {
                bodies.push(order("product-1", "credit_card", "US"));
            }
            if i < self.declined {
                bodies.push(order("product-2", "declined_card", "US"));
            }
            if i < self.out_of_stock {
                bodies.push(order("product-5", "credit_card", "US"));
            }
            if i < self.rejected {
                bodies.push(order("product-1", "credit_card", "ZZ"));
            }
        }
        bodies
    }

    /// Every order.
    pub fn total(&self) -> usize {
        self.completing + self.declined + self.out_of_stock + self.rejected
    }
}

/// A new empty temporary directory.
pub fn temp(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("a temp dir")
}
