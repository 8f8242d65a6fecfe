//! `PostgresStore` honours `sslmode` and `sslrootcert` in its URL, against the
//! server named by `EVENTFOLD_POSTGRES_URL` (its TLS certificate is Debian's
//! self-signed `ssl-cert-snakeoil`, issued to `localhost`). Without the
//! variable, or on a server without TLS, the tests print a notice and pass.

use eventfold::prelude::*;
use eventfold::store::StoreError;

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// The base URL (no query), or `None` after a printed notice.
async fn server() -> Option<String> {
    let url = eventfold::store::conformance::TestServer::Postgres.url()?;
    let base = url.split('?').next().unwrap_or(&url).to_owned();
    let (client, conn) =
        eventfold::tokio_postgres::connect(&base, eventfold::tokio_postgres::NoTls)
            .await
            .expect("EVENTFOLD_POSTGRES_URL is set but does not connect");
    tokio::spawn(conn);
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    if ssl != "on" || !std::path::Path::new(SNAKEOIL).exists() {
        eprintln!(
            "skipping: the PostgreSQL server has no TLS (ssl = {ssl}) or {SNAKEOIL} is missing"
        );
        return None;
    }
    Some(base)
}

/// Connects a store with `query` added to the URL, under a unique
/// application name, and answers whether its pooled connections use TLS.
async fn connect(base: &str, query: &str) -> Result<(PostgresStore, bool), StoreError> {
    let app = format!("tls_{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let url = format!("{base}?application_name={app}&{query}");
    let store = PostgresStore::options(url)
        .schema(app.clone())
        .connect()
        .await?;
    store.head_position().await?;
    let (client, conn) = eventfold::tokio_postgres::connect(base, eventfold::tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT count(*), coalesce(bool_and(s.ssl), false) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    let (count, ssl): (i64, bool) = (row.get(0), row.get(1));
    assert!(count > 0, "no connection of the store found");
    client
        .batch_execute(&format!("DROP SCHEMA \"{app}\" CASCADE"))
        .await
        .unwrap();
    Ok((store, ssl))
}

fn certificate_error(err: &StoreError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[tokio::test]
async fn sslmode_decides_whether_connections_are_encrypted() {
    let Some(base) = server().await else { return };
    let (_, ssl) = connect(&base, "sslmode=disable").await.unwrap();
    assert!(!ssl, "sslmode=disable must not encrypt");
    let (_, ssl) = connect(&base, "sslmode=require").await.unwrap();
    assert!(ssl, "sslmode=require must encrypt");
    // The default, as in libpq, is `prefer`: encrypted when the server offers it.
    let (_, ssl) = connect(&base, "sslmode=prefer").await.unwrap();
    assert!(
        ssl,
        "sslmode=prefer must encrypt when the server offers TLS"
    );
}

#[tokio::test]
async fn verify_ca_checks_the_chain_but_not_the_name() {
    let Some(base) = server().await else { return };
    // The server's certificate is its own root, issued to `localhost`, and
    // the URL names 127.0.0.1: the chain holds, the name does not.
    let (_, ssl) = connect(&base, &format!("sslmode=verify-ca&sslrootcert={SNAKEOIL}"))
        .await
        .unwrap();
    assert!(ssl);
    // `require` with a root file checks the chain too (libpq's rule).
    let (_, ssl) = connect(&base, &format!("sslmode=require&sslrootcert={SNAKEOIL}"))
        .await
        .unwrap();
    assert!(ssl);
}

#[tokio::test]
async fn verify_full_checks_the_host_name() {
    let Some(base) = server().await else { return };
    let Err(err) = connect(
        &base,
        &format!("sslmode=verify-full&sslrootcert={SNAKEOIL}"),
    )
    .await
    else {
        panic!("verify-full must refuse a certificate issued to another name");
    };
    let text = certificate_error(&err);
    eprintln!("verify-full under another name: {text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    // Under the name the certificate was issued to, it is accepted.
    let localhost = base.replacen("127.0.0.1", "localhost", 1);
    if localhost != base {
        let (_, ssl) = connect(
            &localhost,
            &format!("sslmode=verify-full&sslrootcert={SNAKEOIL}"),
        )
        .await
        .unwrap();
        assert!(ssl);
    }
}

#[tokio::test]
async fn an_untrusted_root_is_refused() {
    let Some(base) = server().await else { return };
    // Any other certificate as the only trusted root: the chain fails.
    let other = std::fs::read_dir("/etc/ssl/certs")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "pem") && !p.to_string_lossy().contains("snakeoil")
        });
    let Some(other) = other else {
        eprintln!("skipping: no other certificate in /etc/ssl/certs");
        return;
    };
    let query = format!("sslmode=verify-ca&sslrootcert={}", other.display());
    let Err(err) = connect(&base, &query).await else {
        panic!("a certificate not signed by the trusted root must be refused");
    };
    let text = certificate_error(&err);
    assert!(text.to_lowercase().contains("certificate"), "{text}");
}
