//! `S3Store`: the [`Store`] on Amazon S3 or an S3-compatible server (aws-sdk-s3).
//!
//! The store owns a small tokio runtime and exposes the blocking [`Store`] interface:
//! - listings page through `ListObjectsV2`;
//! - reads are (range) `GetObject`s streamed through a bounded channel;
//! - writes up to one part are a single `PutObject`; larger bodies are multipart uploads with
//!   parts of at least 5 MiB (default 8 MiB, doubled every 1000 parts so objects up to
//!   terabytes fit in 10 000 parts), a bounded number in flight, aborted on any failure so no
//!   partial object ever becomes visible;
//! - deletes use `DeleteObjects` in batches of 1000 (one by one where a server lacks it);
//! - `checksum_when_required` turns off the SDK's default CRC32 / aws-chunked uploads, which
//!   many S3 clones reject.
//!
//! Credentials come from [`S3Options::credentials`] or the standard AWS chain; they are never
//! logged or put into error messages.

use std::collections::HashMap;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, ServerSideEncryption,
};
use aws_sdk_s3::Client;
use tokio::runtime::Runtime;

use super::store::{Meta, ObjectInfo, Store, StoreError};
use super::S3Options;

const MIN_PART: usize = 5 * 1024 * 1024;
const DEFAULT_PART: usize = 8 * 1024 * 1024;

/// A bucket (and key prefix) on S3 or an S3-compatible server.
pub struct S3Store {
    rt: Arc<Runtime>,
    client: Client,
    bucket: String,
    prefix: String,
    sse: Option<String>,
    sse_kms_key_id: Option<String>,
    part_size: usize,
    concurrency: usize,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn err_text<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(se) => {
            let inner = se.err();
            match (inner.code(), inner.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => format!("{}", aws_sdk_s3::error::DisplayErrorContext(e)),
            }
        }
        other => format!("{}", aws_sdk_s3::error::DisplayErrorContext(other)),
    }
}

fn is_404<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(se) => {
            matches!(se.err().code(), Some("NoSuchKey") | Some("NotFound"))
        }
        _ => false,
    }
}

impl S3Store {
    /// Connects to `bucket` with keys under `prefix` (no leading or trailing `/`).
    pub fn new(bucket: &str, prefix: &str, opts: &S3Options) -> Result<S3Store, StoreError> {
        let url = format!("s3://{bucket}/{prefix}");
        let fail = |m: String| StoreError::Other {
            store: url.clone(),
            op: "open",
            key: String::new(),
            message: m,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("redsafe-s3")
            .enable_all()
            .build()
            .map_err(|e| fail(format!("tokio runtime: {e}")))?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        let env_region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .ok();
        match (&opts.region, &opts.endpoint_url, env_region) {
            (Some(r), _, _) => loader = loader.region(Region::new(r.clone())),
            // A custom endpoint with no region anywhere: S3 clones ignore it; never probe the
            // instance-metadata service for one.
            (None, Some(_), None) => loader = loader.region(Region::new("us-east-1")),
            _ => {}
        }
        if let Some(ep) = &opts.endpoint_url {
            loader = loader.endpoint_url(ep.clone());
        }
        if let Some((ak, sk)) = &opts.credentials {
            loader = loader.credentials_provider(Credentials::new(
                ak.clone(),
                sk.clone(),
                None,
                None,
                "redsafe",
            ));
        }
        let sdk = rt.block_on(loader.load());
        let mut b = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(opts.path_style);
        if opts.checksum_when_required {
            b = b
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        let client = Client::from_conf(b.build());
        let part_size = opts.part_size.unwrap_or(DEFAULT_PART).max(MIN_PART);
        Ok(S3Store {
            rt: Arc::new(rt),
            client,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            sse: opts.sse.clone(),
            sse_kms_key_id: opts.sse_kms_key_id.clone(),
            part_size,
            concurrency: opts.concurrency.unwrap_or(4).clamp(1, 64),
        })
    }

    /// Creates the bucket (for tests and first-time setup); an existing bucket is fine.
    pub fn create_bucket(&self) -> Result<(), StoreError> {
        let r = self
            .rt
            .block_on(self.client.create_bucket().bucket(&self.bucket).send());
        match r {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.code().unwrap_or("").to_string();
                if code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
                    Ok(())
                } else {
                    Err(self.err("create-bucket", "", err_text(&e)))
                }
            }
        }
    }

    fn full(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn rel(&self, full: &str) -> Option<String> {
        if self.prefix.is_empty() {
            Some(full.to_string())
        } else {
            full.strip_prefix(&self.prefix)?
                .strip_prefix('/')
                .map(str::to_string)
        }
    }

    fn err(&self, op: &'static str, key: &str, message: String) -> StoreError {
        StoreError::Other {
            store: self.url(),
            op,
            key: key.to_string(),
            message,
        }
    }

    fn not_found(&self, key: &str) -> StoreError {
        StoreError::NotFound {
            store: self.url(),
            key: key.to_string(),
        }
    }

    fn sdk_meta(meta: &Meta) -> HashMap<String, String> {
        meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn put_single(&self, key: &str, data: Vec<u8>, meta: &Meta) -> Result<(), StoreError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .set_metadata(Some(Self::sdk_meta(meta)))
            .body(ByteStream::from(data));
        if let Some(s) = &self.sse {
            req = req.server_side_encryption(ServerSideEncryption::from(s.as_str()));
        }
        if let Some(k) = &self.sse_kms_key_id {
            req = req.ssekms_key_id(k);
        }
        self.rt
            .block_on(req.send())
            .map_err(|e| self.err("put", key, err_text(&e)))?;
        Ok(())
    }

    fn put_multipart(
        &self,
        key: &str,
        first: Vec<u8>,
        body: &mut dyn Read,
        meta: &Meta,
    ) -> Result<u64, StoreError> {
        let full = self.full(key);
        let mut req = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .set_metadata(Some(Self::sdk_meta(meta)));
        if let Some(s) = &self.sse {
            req = req.server_side_encryption(ServerSideEncryption::from(s.as_str()));
        }
        if let Some(k) = &self.sse_kms_key_id {
            req = req.ssekms_key_id(k);
        }
        let created = self
            .rt
            .block_on(req.send())
            .map_err(|e| self.err("put", key, err_text(&e)))?;
        let Some(upload_id) = created.upload_id().map(str::to_string) else {
            return Err(self.err("put", key, "server returned no upload id".into()));
        };
        let result = self.upload_parts(key, &full, &upload_id, first, body);
        match result {
            Ok((parts, total)) => {
                let done = CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build();
                let r = self.rt.block_on(
                    self.client
                        .complete_multipart_upload()
                        .bucket(&self.bucket)
                        .key(&full)
                        .upload_id(&upload_id)
                        .multipart_upload(done)
                        .send(),
                );
                match r {
                    Ok(_) => Ok(total),
                    Err(e) => {
                        self.abort(&full, &upload_id);
                        Err(self.err(
                            "put",
                            key,
                            format!("completing multipart upload: {}", err_text(&e)),
                        ))
                    }
                }
            }
            Err(e) => {
                self.abort(&full, &upload_id);
                Err(e)
            }
        }
    }

    fn abort(&self, full: &str, upload_id: &str) {
        let _ = self.rt.block_on(
            self.client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(full)
                .upload_id(upload_id)
                .send(),
        );
    }

    fn upload_parts(
        &self,
        key: &str,
        full: &str,
        upload_id: &str,
        first: Vec<u8>,
        body: &mut dyn Read,
    ) -> Result<(Vec<CompletedPart>, u64), StoreError> {
        type PartResult = Result<CompletedPart, String>;
        let mut inflight: std::collections::VecDeque<tokio::task::JoinHandle<PartResult>> =
            Default::default();
        let mut parts = Vec::new();
        let mut total = 0u64;
        let mut number: i32 = 0;
        let mut next = Some(first);
        let mut part_size = self.part_size;
        let wait = |h: tokio::task::JoinHandle<PartResult>,
                    parts: &mut Vec<CompletedPart>|
         -> Result<(), StoreError> {
            match self.rt.block_on(h) {
                Ok(Ok(p)) => {
                    parts.push(p);
                    Ok(())
                }
                Ok(Err(m)) => Err(self.err("put", key, m)),
                Err(j) => Err(self.err("put", key, format!("upload task failed: {j}"))),
            }
        };
        while let Some(data) = next.take() {
            number += 1;
            if number > 10_000 {
                return Err(self.err("put", key, "more than 10000 parts".into()));
            }
            if number % 1000 == 0 {
                part_size = part_size.saturating_mul(2);
            }
            total += data.len() as u64;
            let client = self.client.clone();
            let (bucket, full_key, uid) =
                (self.bucket.clone(), full.to_string(), upload_id.to_string());
            let n = number;
            let handle = self.rt.spawn(async move {
                let out = client
                    .upload_part()
                    .bucket(bucket)
                    .key(full_key)
                    .upload_id(uid)
                    .part_number(n)
                    .body(ByteStream::from(data))
                    .send()
                    .await
                    .map_err(|e| format!("part {n}: {}", err_text(&e)))?;
                Ok(CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .set_checksum_crc32(out.checksum_crc32().map(str::to_string))
                    .set_checksum_crc32_c(out.checksum_crc32_c().map(str::to_string))
                    .set_checksum_sha1(out.checksum_sha1().map(str::to_string))
                    .set_checksum_sha256(out.checksum_sha256().map(str::to_string))
                    .build())
            });
            inflight.push_back(handle);
            while inflight.len() >= self.concurrency {
                if let Some(h) = inflight.pop_front() {
                    wait(h, &mut parts)?;
                }
            }
            let buf = read_up_to(body, part_size)
                .map_err(|e| self.err("put", key, format!("reading the source: {e}")))?;
            if !buf.is_empty() {
                next = Some(buf);
            }
        }
        while let Some(h) = inflight.pop_front() {
            wait(h, &mut parts)?;
        }
        Ok((parts, total))
    }
}

/// Reads until `n` bytes or the end of input.
fn read_up_to(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Blocking reader over an object body streamed by a runtime task through a bounded channel.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, String>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Some(Err(m)) => {
                    self.done = true;
                    return Err(io::Error::new(io::ErrorKind::ConnectionAborted, m));
                }
                None => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn to_meta(m: Option<&HashMap<String, String>>) -> Meta {
    m.map(|m| {
        m.iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect()
    })
    .unwrap_or_default()
}

impl Store for S3Store {
    fn kind(&self) -> &'static str {
        "s3"
    }

    fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let full_prefix = self.full(prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let r = self.rt.block_on(
                self.client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(&full_prefix)
                    .set_continuation_token(token.take())
                    .send(),
            );
            let page = r.map_err(|e| self.err("list", prefix, err_text(&e)))?;
            for o in page.contents() {
                let Some(k) = o.key() else { continue };
                let Some(rel) = self.rel(k) else { continue };
                out.push(ObjectInfo {
                    key: rel,
                    size: o.size().unwrap_or(0).max(0) as u64,
                    modified: o.last_modified().map(|t| t.secs()),
                    meta: Meta::new(),
                });
            }
            match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(t)) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn head(&self, key: &str) -> Result<ObjectInfo, StoreError> {
        let r = self.rt.block_on(
            self.client
                .head_object()
                .bucket(&self.bucket)
                .key(self.full(key))
                .send(),
        );
        match r {
            Ok(o) => Ok(ObjectInfo {
                key: key.to_string(),
                size: o.content_length().unwrap_or(0).max(0) as u64,
                modified: o.last_modified().map(|t| t.secs()),
                meta: to_meta(o.metadata()),
            }),
            Err(e)
                if is_404(&e) || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                Err(self.not_found(key))
            }
            Err(e) => Err(self.err("head", key, err_text(&e))),
        }
    }

    fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<(ObjectInfo, Box<dyn Read + Send>), StoreError> {
        if let Some(r) = &range {
            if r.start >= r.end {
                let info = self.head(key)?;
                return Ok((info, Box::new(io::empty())));
            }
        }
        let mut req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key));
        if let Some(r) = &range {
            req = req.range(format!("bytes={}-{}", r.start, r.end - 1));
        }
        let out = match self.rt.block_on(req.send()) {
            Ok(o) => o,
            Err(e)
                if is_404(&e) || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
            {
                return Err(self.not_found(key));
            }
            Err(e) => return Err(self.err("get", key, err_text(&e))),
        };
        let size = match (&range, out.content_range()) {
            (Some(_), Some(cr)) => cr
                .rsplit('/')
                .next()
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(0),
            _ => out.content_length().unwrap_or(0).max(0) as u64,
        };
        let info = ObjectInfo {
            key: key.to_string(),
            size,
            modified: out.last_modified().map(|t| t.secs()),
            meta: to_meta(out.metadata()),
        };
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let mut body = out.body;
        self.rt.spawn(async move {
            loop {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        if tx.send(Ok(chunk.to_vec())).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => {
                        let _ = tx.send(Err(e.to_string())).await;
                        return;
                    }
                    None => return,
                }
            }
        });
        Ok((
            info,
            Box::new(ChannelReader {
                rx,
                cur: Vec::new(),
                pos: 0,
                done: false,
            }),
        ))
    }

    fn put(&self, key: &str, body: &mut dyn Read, meta: &Meta) -> Result<u64, StoreError> {
        let first = read_up_to(body, self.part_size)
            .map_err(|e| self.err("put", key, format!("reading the source: {e}")))?;
        if first.len() < self.part_size {
            let n = first.len() as u64;
            self.put_single(key, first, meta)?;
            return Ok(n);
        }
        self.put_multipart(key, first, body, meta)
    }

    fn delete(&self, keys: &[String]) -> Result<(), StoreError> {
        for batch in keys.chunks(1000) {
            let ids: Vec<ObjectIdentifier> = batch
                .iter()
                .filter_map(|k| ObjectIdentifier::builder().key(self.full(k)).build().ok())
                .collect();
            let del = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| self.err("delete", "", e.to_string()))?;
            let r = self.rt.block_on(
                self.client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(del)
                    .send(),
            );
            match r {
                Ok(out) => {
                    if let Some(e) = out.errors().first() {
                        return Err(self.err(
                            "delete",
                            e.key().unwrap_or(""),
                            format!(
                                "{}: {}",
                                e.code().unwrap_or("error"),
                                e.message().unwrap_or("")
                            ),
                        ));
                    }
                }
                Err(e)
                    if matches!(e.code(), Some("NotImplemented"))
                        || e.raw_response().is_some_and(|r| r.status().as_u16() == 501) =>
                {
                    for k in batch {
                        let r = self.rt.block_on(
                            self.client
                                .delete_object()
                                .bucket(&self.bucket)
                                .key(self.full(k))
                                .send(),
                        );
                        if let Err(e) = r {
                            if !is_404(&e) {
                                return Err(self.err("delete", k, err_text(&e)));
                            }
                        }
                    }
                }
                Err(e) => return Err(self.err("delete", &batch[0], err_text(&e))),
            }
        }
        Ok(())
    }
}
