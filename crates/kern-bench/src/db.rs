//! Fresh databases for benchmarks: a temporary SQLite file, or a new schema on a PostgreSQL
//! server (found through `--pg-url`, `KERN_TEST_PG_URL`, or started with `scripts/pg start`).

use anyhow::{bail, Context, Result};
use kern_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use kern_store::Store;
use std::sync::Arc;

use crate::report::PgInfo;

/// The database a benchmark runs against.
#[derive(Clone, Debug)]
pub enum Setup {
    /// A fresh SQLite file per benchmark, with this `synchronous` setting.
    Sqlite(Synchronous),
    /// A fresh schema per benchmark on the server at this base URL.
    Postgres(String),
}

impl Setup {
    /// The backend's label in the report.
    pub fn label(&self) -> String {
        match self {
            Self::Sqlite(Synchronous::Full) => "sqlite".into(),
            Self::Sqlite(Synchronous::Normal) => "sqlite (synchronous=NORMAL)".into(),
            Self::Sqlite(Synchronous::Off) => "sqlite (synchronous=OFF)".into(),
            Self::Postgres(_) => "postgres".into(),
        }
    }

    /// The backend's name on the command line (`sqlite` or `postgres`).
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Creates an empty database and opens a store on it.
    pub async fn fresh(&self) -> Result<BenchDb> {
        match self {
            Self::Sqlite(sync) => {
                let dir = tempfile::Builder::new().prefix("kern-bench").tempdir()?;
                let path = dir.path().join("kern.db");
                let mut options = SqliteOptions::new(&path);
                options.synchronous = *sync;
                let store = SqliteStore::open_with(options)
                    .await
                    .context("open the SQLite store")?;
                Ok(BenchDb {
                    store: Arc::new(store),
                    url: path.display().to_string(),
                    cleanup: Cleanup::Dir(dir),
                })
            }
            Self::Postgres(base) => {
                let url = kern_testkit::pg_schema_url(base).await;
                let schema = url
                    .rsplit_once("search_path%3D")
                    .map(|(_, s)| s.to_owned())
                    .context("schema name in the test URL")?;
                let store = kern_store::connect(&url)
                    .await
                    .context("open the PostgreSQL store")?;
                Ok(BenchDb {
                    store,
                    url,
                    cleanup: Cleanup::Schema {
                        base: base.clone(),
                        schema,
                    },
                })
            }
        }
    }
}

/// A benchmark's database; [`BenchDb::remove`] deletes it.
pub struct BenchDb {
    /// The store the benchmark's engine uses.
    pub store: Arc<dyn Store>,
    /// A URL a second store (as another process would) can open to reach the same data.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(tempfile::TempDir),
    Schema { base: String, schema: String },
}

impl BenchDb {
    /// Closes the store and deletes the data (the file, or the schema). Call after the
    /// engines using it have shut down.
    pub async fn remove(self) -> Result<()> {
        self.store.close().await;
        match self.cleanup {
            Cleanup::Dir(dir) => {
                dir.close()?;
            }
            Cleanup::Schema { base, schema } => {
                let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await?;
                let handle = tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await
                    .with_context(|| format!("drop schema {schema}"))?;
                drop(client);
                let _ = handle.await;
            }
        }
        Ok(())
    }
}

/// The repository's `scripts/pg`.
fn scripts_pg() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg")
}

/// Finds the PostgreSQL server: `--pg-url`, else `KERN_TEST_PG_URL`, else `scripts/pg start`.
/// Returns the URL and where it came from.
pub fn resolve_pg_url(cli_url: Option<&str>) -> Result<(String, String)> {
    if let Some(url) = cli_url.filter(|u| !u.is_empty()) {
        return Ok((url.to_owned(), "--pg-url".into()));
    }
    if let Ok(url) = std::env::var("KERN_TEST_PG_URL") {
        if !url.is_empty() {
            return Ok((url, "KERN_TEST_PG_URL".into()));
        }
    }
    let script = scripts_pg();
    let already = std::process::Command::new(&script)
        .arg("status")
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    eprintln!(
        "kern-bench: neither --pg-url nor KERN_TEST_PG_URL is set; running `{} start`",
        script.display()
    );
    let out = std::process::Command::new(&script)
        .arg("start")
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("run {} start", script.display()))?;
    if !out.status.success() {
        bail!("`scripts/pg start` failed ({})", out.status);
    }
    let url = String::from_utf8(out.stdout)?.trim().to_owned();
    if url.is_empty() {
        bail!("`scripts/pg start` printed no URL");
    }
    let source = if already {
        "scripts/pg start; the server was already running"
    } else {
        "scripts/pg start, run by kern-bench; stop it with `scripts/pg stop`"
    };
    Ok((url, source.into()))
}

/// Connects to the server and reads what the report should say about it.
pub async fn pg_info(url: &str, source: &str) -> Result<PgInfo> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connect to {url}"))?;
    let handle = tokio::spawn(conn);
    let server_version = show(&client, "server_version").await?;
    let fsync = show(&client, "fsync").await?;
    let synchronous_commit = show(&client, "synchronous_commit").await?;
    drop(client);
    let _ = handle.await;
    Ok(PgInfo {
        url: url.to_owned(),
        source: source.to_owned(),
        server_version,
        fsync,
        synchronous_commit,
    })
}

async fn show(client: &tokio_postgres::Client, setting: &str) -> Result<String> {
    let row = client.query_one(&format!("SHOW {setting}"), &[]).await?;
    Ok(row.get(0))
}
