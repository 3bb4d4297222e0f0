//! A PostgreSQL database of a test's own, on the server `TC_POSTGRES_URL` names: created empty
//! for the test and dropped after it, even when it fails.

use std::sync::atomic::{AtomicU32, Ordering};

/// A database made for one test; dropped with it.
pub struct TestDatabase {
    server: String,
    name: String,
}

impl TestDatabase {
    /// Creates an empty database on the server of `TC_POSTGRES_URL`.
    pub async fn create() -> TestDatabase {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let server = std::env::var("TC_POSTGRES_URL")
            .expect("TC_POSTGRES_URL names the PostgreSQL server the tests use");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "tc_relay_test_{}_{}_{nanos}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::SeqCst)
        );
        execute(&server, &format!("CREATE DATABASE {name}")).await;
        TestDatabase { server, name }
    }

    /// The URL of the test's database (the server's, with the database replaced).
    pub fn url(&self) -> String {
        let (base, query) = match self.server.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (self.server.as_str(), String::new()),
        };
        let authority_end = base
            .find("://")
            .map(|at| at + 3)
            .and_then(|start| base[start..].find('/').map(|at| start + at))
            .unwrap_or(base.len());
        format!("{}/{}{query}", &base[..authority_end], self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own
        // with a small runtime drops the database.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(execute(
                &server,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ));
        });
        let _ = dropped.join();
    }
}

async fn execute(server: &str, statement: &str) {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the PostgreSQL of TC_POSTGRES_URL: {e}"));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(statement)
        .await
        .unwrap_or_else(|e| panic!("`{statement}` failed: {e}"));
    drop(client);
    let _ = driver.await;
}
