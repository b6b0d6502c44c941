//! The stdout event output without back-pressure on the engine: lines are
//! gathered into chunks that a writer thread writes out. The queue holds at
//! most [`QUEUE_CHUNKS`] chunks and [`QUEUE_BYTES`] bytes (one line can be
//! far larger than a chunk: a print hash map's walk is one line with every
//! changed entry); when the reader of stdout stalls (`beed | sleep 30`),
//! further chunks are dropped and their lines counted, so the engine keeps
//! polling, walking and answering signals whatever the reader does. A write
//! error (EPIPE: the reader went away) is logged once and every line after
//! it is counted as an output error.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus::IntCounter;

/// Bytes gathered before a chunk is handed to the writer.
const CHUNK: usize = 64 * 1024;
/// Chunks waiting for the writer at most.
const QUEUE_CHUNKS: usize = 64;
/// Bytes waiting for the writer at most, except that a chunk larger than
/// this is queued when nothing else is.
pub const QUEUE_BYTES: usize = QUEUE_CHUNKS * CHUNK;
/// Emptied buffers larger than this are freed, not reused.
const KEEP_CAPACITY: usize = 4 * CHUNK;
/// How long [`LineQueue::finish`] waits for the writer at shutdown.
pub const FINISH_WAIT: Duration = Duration::from_secs(2);

struct Chunk {
    bytes: String,
    lines: u64,
}

/// Lines for stdout, written by a thread of their own.
pub struct LineQueue {
    cur: Chunk,
    tx: Option<SyncSender<Chunk>>,
    /// Emptied chunks coming back from the writer, reused.
    spare: Receiver<String>,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
    dropped: IntCounter,
    /// Bytes handed to the writer and not yet written.
    queued: Arc<AtomicUsize>,
}

impl LineQueue {
    /// Starts the writer on a duplicate of stdout. `dropped` counts lines
    /// refused because the queue was full, `errors` lines the writer failed
    /// to write.
    pub fn stdout(dropped: IntCounter, errors: IntCounter) -> std::io::Result<Self> {
        let out = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
        let (tx, rx) = mpsc::sync_channel::<Chunk>(QUEUE_CHUNKS);
        let (spare_tx, spare) = mpsc::sync_channel::<String>(4);
        let (done_tx, done) = mpsc::sync_channel::<()>(1);
        let queued = Arc::new(AtomicUsize::new(0));
        let in_queue = queued.clone();
        let thread = std::thread::Builder::new().name("beed-stdout".into()).spawn(move || {
            let mut out = out;
            let mut failed = false;
            for mut chunk in rx {
                if failed {
                    errors.inc_by(chunk.lines);
                } else if let Err(e) = out.write_all(chunk.bytes.as_bytes()) {
                    tracing::error!(
                        "writing events to stdout failed ({e}); events are no longer written and are counted in beed_output_errors_total"
                    );
                    errors.inc_by(chunk.lines);
                    failed = true;
                }
                in_queue.fetch_sub(chunk.bytes.len(), Ordering::Relaxed);
                if chunk.bytes.capacity() <= KEEP_CAPACITY {
                    chunk.bytes.clear();
                    let _ = spare_tx.try_send(chunk.bytes);
                }
            }
            let _ = out.flush();
            let _ = done_tx.send(());
        })?;
        Ok(LineQueue {
            cur: Chunk { bytes: String::with_capacity(CHUNK), lines: 0 },
            tx: Some(tx),
            spare,
            done,
            thread: Some(thread),
            dropped,
            queued,
        })
    }

    /// Adds one line (with its newline).
    pub fn push(&mut self, line: &str) {
        self.cur.bytes.push_str(line);
        self.end_line();
    }

    /// Where the next line is written in place (no copy): append exactly
    /// one line, newline included, then call [`Self::end_line`].
    #[inline]
    pub fn line_buf(&mut self) -> &mut String {
        &mut self.cur.bytes
    }

    /// Ends a line written into [`Self::line_buf`].
    #[inline]
    pub fn end_line(&mut self) {
        self.cur.lines += 1;
        if self.cur.bytes.len() >= CHUNK {
            self.flush();
        }
    }

    /// Hands what was gathered to the writer, or drops and counts it when
    /// the writer is QUEUE_CHUNKS chunks or QUEUE_BYTES bytes behind.
    pub fn flush(&mut self) {
        if self.cur.lines == 0 {
            return;
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| String::with_capacity(CHUNK));
        let chunk = std::mem::replace(&mut self.cur, Chunk { bytes: next, lines: 0 });
        let Some(tx) = &self.tx else {
            self.dropped.inc_by(chunk.lines);
            return;
        };
        let len = chunk.bytes.len();
        let queued = self.queued.load(Ordering::Relaxed);
        let refused = if queued > 0 && queued.saturating_add(len) > QUEUE_BYTES {
            Some(chunk)
        } else {
            self.queued.fetch_add(len, Ordering::Relaxed);
            match tx.try_send(chunk) {
                Ok(()) => None,
                Err(TrySendError::Full(c)) | Err(TrySendError::Disconnected(c)) => {
                    self.queued.fetch_sub(len, Ordering::Relaxed);
                    Some(c)
                }
            }
        };
        if let Some(c) = refused {
            self.dropped.inc_by(c.lines);
            let mut bytes = c.bytes;
            bytes.clear();
            if self.cur.bytes.capacity() < bytes.capacity() && bytes.capacity() <= KEEP_CAPACITY {
                self.cur.bytes = bytes;
            }
        }
    }

    /// Flushes, closes the queue and waits up to `wait` for the writer;
    /// a writer stuck on a stalled reader is left behind (the process is
    /// about to exit).
    pub fn finish(&mut self, wait: Duration) {
        self.flush();
        self.tx = None;
        if self.done.recv_timeout(wait).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for LineQueue {
    fn drop(&mut self) {
        if self.tx.is_some() {
            self.finish(FINISH_WAIT);
        }
    }
}
