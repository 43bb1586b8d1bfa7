//! The SQL reads: an order by id, a page of the listing (through the status or creation-time
//! index, with cursors), the change records after a sequence number.

use rusqlite::{Connection, OptionalExtension, params};

use super::encoding::{decode_order, encode_cursor, parse_kind};
use super::schema::Db;
use crate::order::Order;
use crate::store::{ChangeKind, ChangeRecord, Page, StoreError};

pub(super) fn load_order(conn: &Connection, order_id: &str) -> Result<Option<Order>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM orders WHERE order_id = ?1")
        .and_then(|mut s| s.query_row([order_id], |row| row.get(0)).optional())
        .db()?;
    body.as_deref().map(decode_order).transpose()
}

/// The listing query: through `orders_by_status` with a status, `orders_by_created` without.
fn list_sql(by_status: bool, after: bool) -> String {
    let filter = match (by_status, after) {
        (true, true) => "WHERE status = ?1 AND (created_at, order_id) < (?2, ?3)",
        (true, false) => "WHERE status = ?1",
        (false, true) => "WHERE (created_at, order_id) < (?2, ?3)",
        (false, false) => "",
    };
    format!("SELECT created_at, order_id, body FROM orders {filter} ORDER BY created_at DESC, order_id DESC LIMIT ?4")
}

pub(super) fn list(
    conn: &Connection,
    status: Option<&str>,
    after: Option<&(String, String)>,
    limit: u32,
) -> Result<Page, StoreError> {
    if limit == 0 {
        return Ok(Page { orders: Vec::new(), next: None });
    }
    let fetch = i64::from(limit) + 1;
    let sql = list_sql(status.is_some(), after.is_some());
    let (created_at, order_id) = match after {
        Some((c, o)) => (Some(c.as_str()), Some(o.as_str())),
        None => (None, None),
    };
    let mut statement = conn.prepare_cached(&sql).db()?;
    let mut rows = statement.query(params![status, created_at, order_id, fetch]).db()?;
    let mut orders = Vec::new();
    let mut read = 0;
    let mut last: Option<(String, String)> = None;
    let mut more = false;
    while let Some(row) = rows.next().db()? {
        if read == limit as usize {
            more = true;
            break;
        }
        read += 1;
        let created_at: String = row.get(0).db()?;
        let order_id: String = row.get(1).db()?;
        let body: String = row.get(2).db()?;
        match decode_order(&body) {
            Ok(order) => orders.push(order),
            // One damaged row does not take the listing down with it: it is left out (the page
            // holds one order less, the cursor goes past it) and logged; reading it alone
            // (`get_order`) reports it.
            Err(e) => tracing::error!(%order_id, error = %e, "an order cannot be read: left out of the listing"),
        }
        last = Some((created_at, order_id));
    }
    let next = if more { last.map(|(c, o)| encode_cursor(&c, &o)) } else { None };
    Ok(Page { orders, next })
}

/// The change records after `after`. A record whose kind or image cannot be read is still
/// delivered, as a modification without an image: the engine then works from the stored order
/// (the image is only a staleness hint), so one damaged row never stops the feed — when the stored
/// order is damaged too, the record fails, is retried and dead-lettered like any failing record.
pub(super) fn changes_after(conn: &Connection, after: i64, limit: i64) -> Result<Vec<ChangeRecord>, StoreError> {
    let mut statement = conn
        .prepare_cached("SELECT seq, order_id, kind, new_image FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2")
        .db()?;
    let mut rows = statement.query(params![after, limit]).db()?;
    let mut records = Vec::new();
    while let Some(row) = rows.next().db()? {
        let seq: i64 = row.get(0).db()?;
        let order_id: String = row.get(1).db()?;
        let kind: String = row.get(2).db()?;
        let image: Option<String> = row.get(3).db()?;
        let decoded = parse_kind(&kind).and_then(|kind| Ok((kind, image.as_deref().map(decode_order).transpose()?)));
        let (kind, new_image) = decoded.unwrap_or_else(|e| {
            tracing::warn!(
                sequence_number = seq,
                order_id = %order_id,
                error = %e,
                "a change record cannot be read; it is delivered without its image and the stored order drives it"
            );
            (ChangeKind::Modify, None)
        });
        records.push(ChangeRecord { sequence_number: seq.to_string(), kind, order_id, new_image });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::schema::migrate;

    #[test]
    fn a_damaged_change_row_is_delivered_without_its_image_and_the_feed_goes_on() {
        let conn = Connection::open_in_memory().expect("open");
        migrate(&conn).expect("migrate");
        conn.execute_batch(
            "INSERT INTO changes (order_id, kind, new_image) VALUES ('a', 'INSERT', '{ not an order');
             INSERT INTO changes (order_id, kind, new_image) VALUES ('b', 'MODIFY', '[]');
             INSERT INTO changes (order_id, kind, new_image) VALUES ('c', 'REMOVE', NULL);",
        )
        .expect("rows written");
        let records = changes_after(&conn, 0, 10).expect("the feed reads past damaged rows");
        let seen: Vec<(&str, &str, ChangeKind, bool)> = records
            .iter()
            .map(|r| (r.sequence_number.as_str(), r.order_id.as_str(), r.kind, r.new_image.is_some()))
            .collect();
        assert_eq!(
            seen,
            [
                ("1", "a", ChangeKind::Modify, false),
                ("2", "b", ChangeKind::Modify, false),
                ("3", "c", ChangeKind::Remove, false)
            ]
        );
    }

    #[test]
    fn listing_uses_the_indexes() {
        let conn = Connection::open_in_memory().expect("open");
        migrate(&conn).expect("migrate");
        migrate(&conn).expect("migrate is idempotent");
        for (by_status, after, index) in [
            (true, true, "orders_by_status"),
            (true, false, "orders_by_status"),
            (false, true, "orders_by_created"),
            (false, false, "orders_by_created"),
        ] {
            let sql = list_sql(by_status, after);
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("explain")
                .query_map(params!["A", "x", "y", 5], |row| row.get::<_, String>(3))
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("rows");
            let plan = plan.join("; ");
            assert!(plan.contains(index), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            // A cursor or a status is a range of the index, not a scan from its start.
            assert_eq!(plan.contains("SEARCH"), by_status || after, "{plan}");
        }
    }
}
