//! Push and pull against an OCI registry (oci-client over rustls/ring).
//!
//! Pull: the manifest (and, for an index, this platform's manifest) is
//! fetched raw and checked against its digest; each blob's declared size is
//! checked against the limit before a byte is downloaded, streamed into the
//! store and checked against its digest; the image must be a probe image
//! (bumblebee or bpfman) before its ref is set. On any failure the blobs this
//! pull wrote are removed: nothing partial stays.
//!
//! HTTPS by default; for a registry on this machine, HTTPS when it speaks
//! it and else plain HTTP (docker's rule); plain HTTP for every registry with
//! `plain_http`; `insecure` accepts a self-signed certificate.

use crate::auth::{self, Credentials};
use crate::digest::Digest;
use crate::image;
use crate::manifest::{self, Descriptor, Document};
use crate::store::{Session, Store};
use crate::{media, Error, Ref, Result};
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use std::path::PathBuf;
use std::time::Duration;

/// How to talk to registries.
#[derive(Debug, Clone)]
pub struct Options {
    /// Plain HTTP for every registry (loopback ones use it anyway).
    pub plain_http: bool,
    /// Accept invalid TLS certificates (self-signed registries).
    pub insecure: bool,
    /// The largest blob accepted, checked before downloading it.
    pub max_blob: u64,
    /// Credentials files, searched in order (see [`auth::default_files`]).
    pub auth_files: Vec<PathBuf>,
    /// Credentials that override the files.
    pub credentials: Option<Credentials>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Read timeout.
    pub read_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            plain_http: false,
            insecure: false,
            max_blob: crate::store::DEFAULT_MAX_BLOB,
            auth_files: auth::default_files(),
            credentials: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// Reports transfer progress (a front end draws bars; the default draws
/// nothing).
pub trait Progress {
    /// A blob of `total` bytes starts (`what`: its short digest and kind).
    fn begin(&self, _what: &str, _total: u64) {}
    /// `n` more bytes moved.
    fn advance(&self, _n: u64) {}
    /// The blob is done (or was already there).
    fn end(&self) {}
}

/// No progress reporting.
pub struct Quiet;
impl Progress for Quiet {}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The digest of what the ref now points at.
    pub digest: Digest,
    /// Whether it differs from what the ref pointed at before.
    pub changed: bool,
    /// Bytes downloaded (blobs already in the store are not).
    pub downloaded: u64,
}

/// A registry client.
pub struct Client {
    opts: Options,
    rt: tokio::runtime::Runtime,
    /// Whether reqwest can set up a default client here (checked once).
    tls: std::cell::OnceCell<std::result::Result<(), String>>,
}

impl Client {
    /// A client with `opts`.
    pub fn new(opts: Options) -> Result<Client> {
        // ring, once per process; a second call finds it installed
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        Ok(Client { opts, rt, tls: std::cell::OnceCell::new() })
    }

    /// The oci-client for `registry` (errors name `what`). Built with
    /// `try_from`: `oci_client::Client::new` answers a failed setup with a
    /// default client (without these options) whose own setup panics the
    /// same way, e.g. on a system without CA certificates, where even a
    /// plain-HTTP registry cannot be used (reqwest sets up TLS up front).
    fn oci(&self, registry: &str, what: &str) -> Result<oci_client::Client> {
        let protocol = if self.opts.plain_http {
            ClientProtocol::Http
        } else if crate::reference::is_loopback_host(registry) && !self.speaks_tls(registry) {
            ClientProtocol::HttpsExcept(vec![registry.to_string()])
        } else {
            ClientProtocol::Https
        };
        self.client_with(protocol, self.opts.insecure, self.opts.connect_timeout, what)
    }

    fn client_with(
        &self,
        protocol: ClientProtocol,
        insecure: bool,
        connect: Duration,
        what: &str,
    ) -> Result<oci_client::Client> {
        // oci-client's `try_from` also builds reqwest's default client (its
        // struct update `..Default::default()`), which panics where that
        // cannot be set up (no CA certificates): find out first, once
        let ready = self.tls.get_or_init(|| reqwest::Client::builder().build().map(|_| ()).map_err(|e| chain(&e)));
        if let Err(detail) = ready {
            return Err(tls_error(what, detail));
        }
        oci_client::Client::try_from(ClientConfig {
            protocol,
            accept_invalid_certificates: insecure,
            platform_resolver: None,
            connect_timeout: Some(connect),
            read_timeout: Some(self.opts.read_timeout),
            user_agent: concat!("bee/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        })
        .map_err(|e| tls_error(what, &chain(&e)))
    }

    /// Whether a registry on this machine answers TLS (docker's rule for
    /// loopback registries: HTTPS when they speak it, else plain HTTP).
    /// Any certificate is accepted for this probe only; the real client
    /// checks it unless `insecure`.
    fn speaks_tls(&self, registry: &str) -> bool {
        let Ok(r) = Ref::parse(&format!("{registry}/bee/probe:latest")) else { return false };
        let Ok(probe) = self.client_with(ClientProtocol::Https, true, Duration::from_secs(2), registry) else {
            return false;
        };
        let res = self.rt.block_on(probe.auth(r.oci(), &RegistryAuth::Anonymous, oci_client::RegistryOperation::Pull));
        !matches!(res, Err(OciDistributionError::RequestError(_)))
    }

    fn auth(&self, registry: &str) -> Result<RegistryAuth> {
        let creds = match &self.opts.credentials {
            Some(c) => Some(c.clone()),
            None => auth::lookup(&self.opts.auth_files, registry)?,
        };
        Ok(creds.map_or(RegistryAuth::Anonymous, |c| RegistryAuth::Basic(c.username, c.password)))
    }

    /// Checks that `registry` accepts `creds` (a request that needs them).
    pub fn login(&self, registry: &str, creds: &Credentials) -> Result<()> {
        let r = Ref::parse(&format!("{registry}/bee/login-check:latest"))?;
        let client = self.oci(registry, registry)?;
        let auth = RegistryAuth::Basic(creds.username.clone(), creds.password.clone());
        let res = self.rt.block_on(async {
            client.auth(r.oci(), &auth, oci_client::RegistryOperation::Pull).await?;
            client.list_tags(r.oci(), &auth, Some(1), None).await.map(|_| ())
        });
        match res {
            Ok(()) => Ok(()),
            Err(e) => match registry_error(registry, e) {
                // the check repository need not exist: the credentials passed
                Error::Registry { msg, .. } if msg.contains("not found") => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Pulls `r` for `arch` (OCI name) into `store`.
    pub fn pull(&self, store: &Store, r: &Ref, arch: &str, progress: &dyn Progress) -> Result<Pulled> {
        let name = r.name();
        let client = self.oci(r.registry(), &name)?;
        let auth = self.auth(r.registry())?;
        let session = store.session()?;
        let mut written: Vec<Digest> = Vec::new();
        let res = self.rt.block_on(self.pull_into(&client, &auth, &session, r, arch, progress, &mut written));
        let (top, downloaded) = match res {
            Ok(t) => t,
            Err(e) => {
                for d in &written {
                    let _ = std::fs::remove_file(store.blob_path(d));
                }
                return Err(e);
            }
        };
        let digest = top.digest().ok_or_else(|| Error::format(&name, "bad digest"))?;
        let old = session.set_ref(&name, &top)?;
        let changed = old.map(|o| o.digest != top.digest).unwrap_or(true);
        Ok(Pulled { digest, changed, downloaded })
    }

    #[allow(clippy::too_many_arguments)]
    async fn pull_into(
        &self,
        client: &oci_client::Client,
        auth: &RegistryAuth,
        session: &Session<'_>,
        r: &Ref,
        arch: &str,
        progress: &dyn Progress,
        written: &mut Vec<Digest>,
    ) -> Result<(Descriptor, u64)> {
        let name = r.name();
        let store = session.store();
        let (bytes, top) = fetch_manifest(client, auth, r, r.digest()).await?;
        let top: Descriptor = top;
        let mut downloaded = 0;
        let manifest = match manifest::parse(&bytes, &top.media_type).map_err(|e| Error::format(&name, e))? {
            Document::Manifest(m) => m,
            Document::Index(ix) => {
                let d = image::select(&name, &ix, arch)?.clone();
                let (mbytes, mdesc) = fetch_manifest(client, auth, &r.at_digest(&d.digest), Some(&d.digest)).await?;
                let Document::Manifest(m) =
                    manifest::parse(&mbytes, &mdesc.media_type).map_err(|e| Error::format(&name, e))?
                else {
                    return Err(Error::format(&name, "an index nested in an index"));
                };
                keep(session, &mbytes, written)?;
                m
            }
        };
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            downloaded += self.fetch_blob(client, r, session, blob, progress, written).await?;
        }
        keep(session, &bytes, written)?;
        let mut top = top;
        if !top.is_index() {
            top.platform = image::platform_of(store, &manifest.config, self.opts.max_blob);
        }
        // a probe image, or nothing is kept
        image::load_descriptor(store, &name, &top, arch, self.opts.max_blob)?;
        Ok((top, downloaded))
    }

    async fn fetch_blob(
        &self,
        client: &oci_client::Client,
        r: &Ref,
        session: &Session<'_>,
        blob: &Descriptor,
        progress: &dyn Progress,
        written: &mut Vec<Digest>,
    ) -> Result<u64> {
        let name = r.name();
        let digest = blob
            .digest()
            .ok_or_else(|| Error::format(&name, format!("blob digest `{}` is not sha256", blob.digest)))?;
        let blob_err = |msg: String| Error::Blob { reference: name.clone(), digest: digest.to_string(), msg };
        if blob.size > self.opts.max_blob {
            return Err(blob_err(format!(
                "{} ({}) is {} bytes, above the limit of {} bytes (raise it with --max-blob-size)",
                blob.media_type, "not downloaded", blob.size, self.opts.max_blob
            )));
        }
        if session.store().read_blob(&digest, self.opts.max_blob).is_ok() {
            return Ok(0);
        }
        let desc = OciDescriptor {
            media_type: blob.media_type.clone(),
            digest: blob.digest.clone(),
            size: i64::try_from(blob.size).unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        };
        let mut stream = client.pull_blob_stream(r.oci(), &desc).await.map_err(|e| registry_error(&name, e))?;
        let mut w = session.blob_writer(&digest, blob.size)?;
        written.push(digest.clone());
        progress.begin(&format!("{} {}", digest.short(), kind(&blob.media_type)), blob.size);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| blob_err(format!("download failed: {e}")))?;
            w.write(&chunk).map_err(|e| match e {
                Error::Blob { msg, .. } => blob_err(msg),
                e => e,
            })?;
            progress.advance(chunk.len() as u64);
        }
        progress.end();
        w.finish().map_err(|e| match e {
            Error::Blob { msg, .. } => blob_err(msg),
            e => e,
        })?;
        Ok(blob.size)
    }

    /// Pushes what `r` names in `store` to its registry; returns the digest
    /// of the pushed manifest or index.
    pub fn push(&self, store: &Store, r: &Ref, progress: &dyn Progress) -> Result<Digest> {
        let name = r.name();
        let top = store.resolve(&name)?.ok_or_else(|| Error::NotFound(name.clone()))?;
        let client = self.oci(r.registry(), &name)?;
        let auth = self.auth(r.registry())?;
        let digest = top.digest().ok_or_else(|| Error::format(&name, "bad digest in the store"))?;
        let max = self.opts.max_blob;
        self.rt.block_on(async {
            client
                .auth(r.oci(), &auth, oci_client::RegistryOperation::Push)
                .await
                .map_err(|e| registry_error(&name, e))?;
            match image::read_document(store, &name, &top, max)? {
                Document::Manifest(m) => self.push_manifest(&client, store, r, &m, &top, progress).await?,
                Document::Index(ix) => {
                    for md in &ix.manifests {
                        let Document::Manifest(m) = image::read_document(store, &name, md, max)? else {
                            return Err(Error::format(&name, "an index nested in an index"));
                        };
                        self.push_manifest(&client, store, &r.at_digest(&md.digest), &m, md, progress).await?;
                    }
                    let bytes = store.read_blob(&digest, max)?;
                    put_manifest(&client, r, bytes, &top.media_type).await?;
                }
            }
            Ok(digest)
        })
    }

    async fn push_manifest(
        &self,
        client: &oci_client::Client,
        store: &Store,
        r: &Ref,
        m: &manifest::Manifest,
        desc: &Descriptor,
        progress: &dyn Progress,
    ) -> Result<()> {
        let name = r.name();
        for blob in std::iter::once(&m.config).chain(&m.layers) {
            let d = blob.digest().ok_or_else(|| Error::format(&name, "bad blob digest in the store"))?;
            progress.begin(&format!("{} {}", d.short(), kind(&blob.media_type)), blob.size);
            let exists = client.blob_exists(r.oci(), d.as_str()).await.map_err(|e| registry_error(&name, e))?;
            if !exists {
                let bytes = store.read_blob(&d, self.opts.max_blob)?;
                let n = bytes.len() as u64;
                client.push_blob(r.oci(), bytes, d.as_str()).await.map_err(|e| registry_error(&name, e))?;
                progress.advance(n);
            } else {
                progress.advance(blob.size);
            }
            progress.end();
        }
        let d = desc.digest().ok_or_else(|| Error::format(&name, "bad manifest digest in the store"))?;
        let bytes = store.read_blob(&d, self.opts.max_blob)?;
        put_manifest(client, r, bytes, &desc.media_type).await
    }
}

/// Stores manifest bytes fetched for this pull, remembering them for cleanup.
fn keep(session: &Session<'_>, bytes: &[u8], written: &mut Vec<Digest>) -> Result<()> {
    let d = Digest::of(bytes);
    if !session.store().has_blob(&d) {
        written.push(d);
    }
    session.put_blob(bytes).map(|_| ())
}

async fn put_manifest(client: &oci_client::Client, r: &Ref, bytes: Vec<u8>, media_type: &str) -> Result<()> {
    let ct = media_type
        .parse()
        .map_err(|_| Error::format(&r.name(), format!("media type `{media_type}` is not a header value")))?;
    client.push_manifest_raw(r.oci(), bytes, ct).await.map(|_| ()).map_err(|e| registry_error(&r.name(), e))
}

/// Fetches a manifest and checks its digest (against `pinned` when given);
/// returns its bytes and a descriptor of them.
async fn fetch_manifest(
    client: &oci_client::Client,
    auth: &RegistryAuth,
    r: &Ref,
    pinned: Option<&str>,
) -> Result<(Vec<u8>, Descriptor)> {
    let name = r.name();
    let (bytes, _) =
        client.pull_manifest_raw(r.oci(), auth, media::MANIFESTS).await.map_err(|e| registry_error(&name, e))?;
    let got = Digest::of(&bytes);
    if let Some(p) = pinned.filter(|p| *p != got.as_str()) {
        return Err(Error::Blob {
            reference: name,
            digest: p.into(),
            msg: format!("the registry sent a manifest with digest {got}"),
        });
    }
    let media_type = manifest::media_type_of(&bytes).map_err(|e| Error::format(&name, e))?;
    Ok((bytes.to_vec(), Descriptor { media_type, ..Descriptor::of("", &bytes) }))
}

fn kind(media_type: &str) -> &'static str {
    match media_type {
        media::BEE_PROGRAM => "program",
        media::BEE_CONFIG | media::OCI_CONFIG | media::DOCKER_CONFIG => "config",
        _ => "layer",
    }
}

/// A client that could not be set up (no CA certificates, most often).
fn tls_error(what: &str, detail: &str) -> Error {
    let hint = if detail.contains("CA certificates") {
        " (install the ca-certificates package, or set SSL_CERT_FILE to a CA bundle; \
         plain-HTTP registries need it too)"
    } else {
        ""
    };
    Error::Registry {
        reference: what.to_string(),
        msg: format!("cannot set up TLS: {detail}{hint}"),
        unreachable: false,
    }
}

/// One registry failure as a message naming the ref and what happened.
fn registry_error(reference: &str, e: OciDistributionError) -> Error {
    let (msg, unreachable) = match &e {
        OciDistributionError::RequestError(re) if re.status().is_some_and(|s| s == 401 || s == 403) => {
            let code = re.status().map(|s| s.to_string()).unwrap_or_default();
            (format!("the registry refused the request without valid credentials ({code}): check `bee login`"), false)
        }
        OciDistributionError::RequestError(re) if re.status().is_some() => {
            let hint =
                if re.status().is_some_and(|st| st.as_u16() == 400) { " (is it HTTPS? drop --plain-http)" } else { "" };
            (format!("the registry answered: {}{hint}", chain(re)), false)
        }
        OciDistributionError::RequestError(re) => {
            let detail = chain(re);
            let unreachable = re.is_connect() || re.is_timeout();
            let hint = if detail.contains("certificate") {
                " (a self-signed registry: --insecure)"
            } else if detail.contains("InvalidContentType") || detail.contains("corrupt message") {
                " (is it plain HTTP? --plain-http)"
            } else {
                ""
            };
            (format!("cannot reach the registry: {detail}{hint}"), unreachable)
        }
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
            ("the registry refused the credentials (401 Unauthorized): check `bee login`".to_string(), false)
        }
        OciDistributionError::ImageManifestNotFoundError(_) => {
            ("not found in the registry (unknown tag or repository)".into(), false)
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<String> = envelope.errors.iter().map(|x| format!("{:?}: {}", x.code, x.message)).collect();
            let text = codes.join("; ");
            let nf = text.contains("ManifestUnknown") || text.contains("NameUnknown") || text.contains("NotFound");
            if nf {
                (format!("not found in the registry ({text})"), false)
            } else if text.contains("Unauthorized") || text.contains("Denied") {
                (format!("the registry refused the credentials ({text}): check `bee login`"), false)
            } else {
                (format!("the registry answered: {text}"), false)
            }
        }
        OciDistributionError::ServerError { code, message, .. } => {
            let nf = *code == 404;
            (
                if nf {
                    format!("not found in the registry ({code} {message})")
                } else {
                    format!("the registry answered {code}: {message}")
                },
                false,
            )
        }
        other => (format!("registry: {other}"), false),
    };
    Error::Registry { reference: reference.into(), msg, unreachable }
}

/// An error and its sources, `: `-joined (reqwest's own text is terse).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
