//! Log lines written in batches by a thread of their own.
//!
//! A thread that logs appends its formatted line to a shared buffer and goes on; a writer thread
//! wakes when the first line of a batch arrives, lets the batch gather for [`GATHER`] (or until
//! it holds [`BATCH_BYTES`]), and writes it with one `write`. Under load that is one wake-up and
//! one system call per batch instead of per line (tracing-appender's `non_blocking` wakes its
//! worker for nearly every line; BENCHMARKS.md, "Stop 23"). Nothing is dropped: a thread that
//! logs while [`MAX_BYTES`] wait for the writer (standard error blocked) waits for room, and
//! [`FlushGuard`]'s drop writes every line still queued before it returns.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the first line of a batch may wait for others before the batch is written.
pub const GATHER: Duration = Duration::from_millis(25);
/// A batch this large is written at once, without waiting out [`GATHER`].
pub const BATCH_BYTES: usize = 64 * 1024;
/// Queued bytes at which a thread that logs waits for the writer (backpressure, not loss).
pub const MAX_BYTES: usize = 1024 * 1024;

/// The [`tracing_subscriber::fmt::MakeWriter`] that queues lines for the writer thread.
#[derive(Clone)]
pub struct LogLines {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it has written every queued line.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// The writer waits here: for the first line of a batch, a full batch, or the close.
    batch: Condvar,
    /// Threads that log wait here while [`MAX_BYTES`] are queued.
    room: Condvar,
}

#[derive(Default)]
struct Queue {
    bytes: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves the queue whole (appends and swaps only).
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts the writer thread (named `log-writer`) over `out`.
///
/// # Errors
/// The thread could not be spawned.
pub fn start<W: Write + Send + 'static>(out: W) -> std::io::Result<(LogLines, FlushGuard)> {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        batch: Condvar::new(),
        room: Condvar::new(),
    });
    let writer = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("log-writer".to_owned())
        .spawn(move || write_batches(&writer, out))?;
    Ok((
        LogLines {
            shared: Arc::clone(&shared),
        },
        FlushGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn write_batches<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::new();
    loop {
        let closed = {
            let queue = shared.lock();
            let queue = shared
                .batch
                .wait_while(queue, |q| q.bytes.is_empty() && !q.closed)
                .unwrap_or_else(PoisonError::into_inner);
            let (mut queue, _) = shared
                .batch
                .wait_timeout_while(queue, GATHER, |q| q.bytes.len() < BATCH_BYTES && !q.closed)
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::swap(&mut queue.bytes, &mut batch);
            queue.closed
        };
        shared.room.notify_all();
        // A failed write (standard error closed) loses this batch, as a failed `eprintln!`
        // would lose its line; the next batch is tried again.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        // One burst does not keep a large buffer for the life of the process.
        batch.shrink_to(2 * BATCH_BYTES);
        if closed && shared.lock().bytes.is_empty() {
            return;
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.batch.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One line's writer: appends to the queue.
pub struct Line<'a> {
    shared: &'a Shared,
}

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let queue = self.shared.lock();
        let mut queue = self
            .shared
            .room
            .wait_while(queue, |q| q.bytes.len() >= MAX_BYTES && !q.closed)
            .unwrap_or_else(PoisonError::into_inner);
        let before = queue.bytes.len();
        queue.bytes.extend_from_slice(buf);
        let after = queue.bytes.len();
        drop(queue);
        // The writer sleeps until a batch starts, then gathers it: wake it only for that, and
        // when the batch is full.
        if before == 0 || (before < BATCH_BYTES && after >= BATCH_BYTES) {
            self.shared.batch.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogLines {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tracing_subscriber::fmt::MakeWriter as _;

    /// A sink the test can read while the writer thread holds it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A sink that takes a while for every write, as a blocked standard error would.
    struct Slow(Shared);

    impl Write for Slow {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_millis(2));
            self.0.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(out: &Shared) -> Vec<String> {
        String::from_utf8(out.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_line_of_every_thread_is_written_whole_and_in_each_threads_order() {
        let out = Shared::default();
        // Slow writes make the loggers outrun the writer and wait for room.
        let (lines_in, guard) = start(Slow(out.clone())).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let lines_in = lines_in.clone();
                std::thread::spawn(move || {
                    for i in 0..3_000 {
                        let line = format!("thread {t} line {i} {}\n", "x".repeat(200));
                        lines_in.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let written = lines(&out);
        assert_eq!(written.len(), 12_000);
        for t in 0..4 {
            let mine: Vec<_> = written
                .iter()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            assert_eq!(mine.len(), 3_000);
            for (i, line) in mine.iter().enumerate() {
                assert_eq!(**line, format!("thread {t} line {i} {}", "x".repeat(200)));
            }
        }
    }

    #[test]
    fn a_lone_line_is_written_without_waiting_for_more() {
        let out = Shared::default();
        let (lines_in, _guard) = start(out.clone()).unwrap();
        lines_in.make_writer().write_all(b"listening\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while lines(&out).is_empty() {
            assert!(
                Instant::now() < deadline,
                "the line was not written within 5 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(lines(&out), ["listening"]);
        // And the writer goes back to sleep and wakes for the next one.
        lines_in.make_writer().write_all(b"answered\n").unwrap();
        while lines(&out).len() < 2 {
            assert!(
                Instant::now() < deadline,
                "the second line was not written within 5 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(lines(&out), ["listening", "answered"]);
    }

    #[test]
    fn many_lines_are_written_in_few_batches() {
        #[derive(Clone, Default)]
        struct Counting(Shared, Arc<Mutex<usize>>);
        impl Write for Counting {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                *self.1.lock().unwrap() += 1;
                self.0.write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let out = Counting::default();
        let (lines_in, guard) = start(out.clone()).unwrap();
        for i in 0..1_000 {
            lines_in
                .make_writer()
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        drop(guard);
        assert_eq!(lines(&out.0).len(), 1_000);
        let writes = *out.1.lock().unwrap();
        assert!(writes < 100, "{writes} writes for 1,000 lines");
    }
}
