//! Makes a self-signed certificate and its key, to try TLS in a minute:
//!
//! ```text
//! cargo run --example gen_cert -- --out /tmp/tls
//! cargo run --release --example echo_server -- --tls-cert /tmp/tls/cert.pem --tls-key /tmp/tls/key.pem
//! openssl s_client -connect 127.0.0.1:7000 -CAfile /tmp/tls/cert.pem -quiet
//! ```
//!
//! Writes `DIR/cert.pem` and `DIR/key.pem` (the key readable by its owner
//! only). The certificate names `localhost` and `127.0.0.1` unless
//! `--name` says otherwise (repeat it for several names; an IP address
//! becomes an IP name). It is for trying things out: clients must be told
//! to trust it (`--cafile`, `-CAfile`), as no authority signed it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

mod support;

/// Writes a self-signed certificate (cert.pem) and its private key
/// (key.pem) into a directory, for the TLS examples.
#[derive(Debug, Parser)]
#[command(name = "gen_cert", args_override_self = true)]
struct Args {
    /// The directory to write cert.pem and key.pem into (created if
    /// missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A name the certificate is for (DNS name or IP address); repeatable.
    /// Default: localhost and 127.0.0.1.
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
}

fn main() -> ExitCode {
    support::init_logging();
    let args = Args::parse();
    match generate(&args) {
        Ok((cert, key)) => {
            println!("gen_cert: wrote {}", cert.display());
            println!("gen_cert: wrote {}", key.display());
            let cert = cert.display();
            println!(
                "gen_cert: try `cargo run --example echo_server -- --tls-cert {cert} --tls-key {}`, \
                 then `openssl s_client -connect 127.0.0.1:7000 -CAfile {cert} -quiet`; \
                 http_client trusts it with `--cafile {cert}`",
                key.display()
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("gen_cert: {message}");
            ExitCode::FAILURE
        }
    }
}

fn generate(args: &Args) -> Result<(PathBuf, PathBuf), String> {
    let names = if args.names.is_empty() {
        vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
    } else {
        args.names.clone()
    };
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot make the certificate: {e}"))?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let cert = args.out.join("cert.pem");
    let key = args.out.join("key.pem");
    write(&cert, made.cert.pem().as_bytes(), 0o644)?;
    write(&key, made.signing_key.serialize_pem().as_bytes(), 0o600)?;
    Ok((cert, key))
}

/// Writes `data` to a new file with `mode` (the key is its owner's only,
/// from the moment it exists).
fn write(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    // An existing file keeps its old mode through `open`: set it.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(fail)?;
    file.write_all(data).map_err(fail)
}
