//! The live dashboard of `orchgen dev` in a real browser: headless Chromium driven over WebDriver
//! (chromedriver + fantoccini). The page is opened first, then orders flow — some complete, some
//! are paid with `declined_card`, some are out of stock, some ship to a country the pipeline
//! refuses — and the test waits until the page shows the final counts, then checks that every count
//! it shows equals what the order API says (`GET /orders?status=…`, `GET /_orchgen/inventory`).
//! A click on a recent order must show its timeline as `GET /orders/{id}` gives it. A screenshot
//! is kept as `target/test-artefacts/dashboard.png`.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (installed by
//! `scripts/install-test-tools`; `ORCHGEN_CHROMIUM` / `ORCHGEN_CHROMEDRIVER` point elsewhere); the
//! test is skipped loudly without them, and fails under `ORCHGEN_REQUIRE_TOOLS=1`.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::dashboard_support::{Mix, api_count, settle, start, temp};
use fantoccini::{Client, ClientBuilder, Locator};
use orchgen_tests::dev_server::DevServer;
use orchgen_tests::{tool, workspace_root};
use serde_json::{Value, json};

const MIX: Mix = Mix { completing: 6, declined: 4, out_of_stock: 3, rejected: 2 };
/// Longest wait for the page to show what the API says.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

fn executable(what: &str, env: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    tool(what, path)
}

/// chromedriver on a free loopback port (killed when dropped).
struct Driver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Driver {
    fn start(chromedriver: &Path, dir: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log = dir.join("chromedriver.log");
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let driver = Driver { child, url, log };
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = client
                .get(format!("{}/status", driver.url))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|s| s["value"]["ready"] == true);
            if ready {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver is not ready after 20 s:\n{}", driver.log_tail());
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                format!("--user-data-dir={}", profile.display()), "--window-size=1500,1900"
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("a Chromium session: {e}\n{}", driver.log_tail()))
}

/// Text of every element with a `data-testid` (the last one of a repeated id) and the number of
/// elements per id.
async fn shown(client: &Client) -> (BTreeMap<String, String>, BTreeMap<String, u64>) {
    let script = "const text = {}, count = {};
        for (const e of document.querySelectorAll('[data-testid]')) {
          const id = e.getAttribute('data-testid');
          text[id] = e.textContent; count[id] = (count[id] || 0) + 1;
        }
        return [text, count];";
    let value = client.execute(script, Vec::new()).await.expect("the page runs a script");
    let text = serde_json::from_value(value[0].clone()).expect("texts");
    let count = serde_json::from_value(value[1].clone()).expect("counts");
    (text, count)
}

#[test]
fn the_dashboard_shows_what_the_api_says() {
    let Some(chromium) = executable("chromium (Debian package `chromium`)", "ORCHGEN_CHROMIUM", "/usr/bin/chromium")
    else {
        return;
    };
    let Some(chromedriver) =
        executable("chromedriver (Debian package `chromium-driver`)", "ORCHGEN_CHROMEDRIVER", "/usr/bin/chromedriver")
    else {
        return;
    };
    let dir = temp("orchgen-dashboard-browser");
    let profile = dir.path().join("chromium-profile");
    std::fs::create_dir_all(&profile).expect("a fresh profile dir");
    let server = start(dir.path());
    let driver = Driver::start(&chromedriver, dir.path());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let client = rt.block_on(browser(&driver, &chromium, &profile));
    let page = server.url("/_orchgen/");

    // Open the page; it connects and shows an idle pipeline.
    rt.block_on(async {
        client.goto(&page).await.expect("the page loads");
        assert!(client.title().await.expect("a title").contains("shop"));
    });
    wait_page(&rt, &client, &server, "the page goes live", |text, _| {
        text.get("connection").is_some_and(|c| c == "live") && text.get("orders-created").is_some_and(|c| c == "0")
    });

    // Orders flow while the page is open: two batches, the second once the page shows the first.
    let bodies = MIX.bodies();
    let (first, second) = bodies.split_at(bodies.len() / 2);
    let mut ids: Vec<String> = first.iter().map(|b| server.submit(b)).collect();
    let created = first.len().to_string();
    wait_page(&rt, &client, &server, "the page shows the first batch", |text, _| {
        text.get("orders-created").is_some_and(|c| *c == created)
    });
    ids.extend(second.iter().map(|b| server.submit(b)));
    let api = settle(&server, &ids);
    let (_, inventory) = server.get("/_orchgen/inventory");
    assert_eq!(api["COMPLETED"], MIX.completing as u64, "{api:?}");
    assert_eq!(api["CANCELLED"], MIX.declined as u64, "{api:?}");
    assert_eq!(api.get("FAILED").copied().unwrap_or(0), 0, "no fault in the mix: {api:?}");
    assert_eq!(api["REJECTED"], (MIX.rejected + MIX.out_of_stock) as u64, "{api:?}");
    let failed = MIX.declined + MIX.out_of_stock + MIX.rejected;

    // The page shows the final counts.
    let (text, count) = wait_page(&rt, &client, &server, "the page shows the final counts", |text, count| {
        let is = |id: &str, v: u64| text.get(id).is_some_and(|t| t == &v.to_string());
        is("orders-completed", api["COMPLETED"])
            && is("orders-cancelled", api["CANCELLED"])
            && is("orders-failed", api["FAILED"])
            && is("orders-rejected", api["REJECTED"])
            && is("orders-in-flight", 0)
            && is("status-COMPLETED", api["COMPLETED"])
            && is("feed-backlog", 0)
            && is("dead-letters", 0)
            && count.get("failure-row") == Some(&(failed as u64))
    });
    // Every count shown equals the API's.
    let num = |id: &str| -> u64 {
        let t = text.get(id).unwrap_or_else(|| panic!("the page shows no {id}: {text:#?}"));
        t.trim().parse().unwrap_or_else(|_| panic!("{id} is not a number: {t:?}"))
    };
    assert_eq!(num("orders-created"), ids.len() as u64);
    for (card, status) in
        [("completed", "COMPLETED"), ("cancelled", "CANCELLED"), ("failed", "FAILED"), ("rejected", "REJECTED")]
    {
        assert_eq!(num(&format!("orders-{card}")), api[status], "card {card}");
        assert_eq!(num(&format!("status-{status}")), api[status], "store count of {status}");
        assert_eq!(text[&format!("graph-count-{status}")], format!("{} orders", api[status]), "graph node {status}");
    }
    for status in ["RECEIVED", "COMPENSATING"] {
        assert_eq!(num(&format!("status-{status}")), api_count(&server, status), "{status}");
    }
    // Per step, from the mix: declined cards fail at charge-payment and are released; out-of-stock
    // orders fail at reserve-inventory; rejected ones at validate.
    assert_eq!(num("step-validate-failed"), MIX.rejected as u64);
    assert_eq!(num("step-reserve-inventory-failed"), MIX.out_of_stock as u64);
    assert_eq!(num("step-charge-payment-failed"), MIX.declined as u64);
    assert_eq!(num("step-charge-payment-succeeded"), api["COMPLETED"]);
    assert_eq!(num("step-release-inventory-compensated"), MIX.declined as u64);
    assert_eq!(num("step-notify-succeeded"), api["COMPLETED"]);
    assert_eq!(num("step-charge-payment-attempts"), (MIX.completing + MIX.declined) as u64);
    assert!(text["step-charge-payment-p50"].parse::<u64>().is_ok(), "a latency is shown");
    let badge = &text["graph-count-charge-payment"];
    assert!(
        badge.contains(&format!("✓{}", api["COMPLETED"])) && badge.contains(&format!("✗{}", MIX.declined)),
        "{badge}"
    );
    // Stock, throughput, failures, recent orders.
    for (product, stock) in inventory.as_object().expect("inventory") {
        assert_eq!(num(&format!("stock-{product}-available")), stock["available"].as_u64().unwrap(), "{product}");
        assert_eq!(num(&format!("stock-{product}-reserved")), stock["reserved"].as_u64().unwrap(), "{product}");
    }
    assert_eq!(num("throughput-created"), ids.len() as u64);
    assert_eq!(num("throughput-finished"), ids.len() as u64);
    assert_eq!(count["failure-code"], failed as u64);
    assert_eq!(count["recent-row"], ids.len() as u64);

    // A click on the newest order shows its timeline, as the API gives it.
    let newest = ids.last().expect("orders").clone();
    let (_, order) = server.get(&format!("/orders/{newest}"));
    rt.block_on(async {
        let row = client
            .find(Locator::Css(&format!("tr[data-order-id='{newest}']")))
            .await
            .expect("the newest order is listed");
        row.click().await.expect("the row is clickable");
    });
    let history = order["history"].as_array().expect("a history").len() as u64;
    let (text, _) = wait_page(&rt, &client, &server, "the timeline shows", |text, count| {
        text.get("timeline-status").is_some_and(|s| Some(s.as_str()) == order["status"].as_str())
            && count.get("timeline-entry") == Some(&history)
    });
    assert!(text["timeline"].contains(&newest), "{}", text["timeline"]);

    // Keep a screenshot.
    let png = rt.block_on(async { client.screenshot().await.expect("a screenshot") });
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "a real PNG ({} bytes)", png.len());
    let artefacts = workspace_root().join("target/test-artefacts");
    std::fs::create_dir_all(&artefacts).expect("target/test-artefacts is created");
    let path = artefacts.join("dashboard.png");
    std::fs::write(&path, &png).expect("the screenshot is written");
    println!("dashboard screenshot saved to {} ({} bytes)", path.display(), png.len());
    eprintln!("dashboard screenshot saved to {}", path.display());

    rt.block_on(async { client.close().await.expect("the session closes") });
    drop(driver);
    drop(server);
}

type Shown = (BTreeMap<String, String>, BTreeMap<String, u64>);

/// Polls the page until `ready` holds (bounded); returns what it showed.
fn wait_page(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    server: &DevServer,
    what: &str,
    ready: impl Fn(&BTreeMap<String, String>, &BTreeMap<String, u64>) -> bool,
) -> Shown {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        let (text, count) = rt.block_on(shown(client));
        if ready(&text, &count) {
            return (text, count);
        }
        if Instant::now() > deadline {
            let (_, status) = server.get("/_orchgen/status");
            panic!(
                "{what}: not within {PAGE_TIMEOUT:?}\npage: {text:#?}\ncounts: {count:?}\nstatus: {status:#}\n{}",
                server.log_tail()
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
}
