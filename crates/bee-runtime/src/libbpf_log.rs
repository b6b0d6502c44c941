//! libbpf's own messages: routed through `tracing` (target `libbpf`), and
//! captured while a probe loads or attaches so a verifier rejection can be
//! reported with its log.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};

use libbpf_rs::PrintLevel;

/// The C signature of a libbpf print callback, with the `va_list` as the
/// pointer it is on every ABI beed builds for (x86-64 passes a pointer to
/// `__va_list_tag`; AArch64 passes its 32-byte `va_list` by reference).
type PrintFn = unsafe extern "C" fn(libbpf_sys::libbpf_print_level, *const c_char, *mut c_void) -> c_int;

unsafe extern "C" {
    /// glibc and musl: formats into a buffer it allocates (free with `free`).
    fn vasprintf(out: *mut *mut c_char, fmt: *const c_char, ap: *mut c_void) -> c_int;
}

/// Routes libbpf's messages through [`libbpf_print`]. libbpf-rs' own
/// callback formats into a `String` and panics (aborting the process inside
/// an `extern "C"` frame) on any byte that is not UTF-8, which a verifier log
/// quoting a Latin-1 source line or a hostile section name is enough for:
/// this one formats bytes with the C library and converts them lossily, and
/// never lets a panic cross into libbpf.
pub fn install() {
    let cb: PrintFn = print_cb;
    // SAFETY: libbpf calls the callback with (level, format, va_list); the
    // only difference from bindgen's type is the va_list parameter, a
    // pointer in both (see PrintFn), so the transmuted pointer has the ABI
    // libbpf calls it with.
    let cb: unsafe extern "C" fn(
        libbpf_sys::libbpf_print_level,
        *const c_char,
        *mut libbpf_sys::__va_list_tag,
    ) -> c_int = unsafe { std::mem::transmute(cb) };
    // SAFETY: installing a callback is a plain store in libbpf.
    unsafe { libbpf_sys::libbpf_set_print(Some(cb)) };
}

/// The level libbpf gave a message.
fn level_of(level: libbpf_sys::libbpf_print_level) -> PrintLevel {
    match level {
        libbpf_sys::LIBBPF_WARN => PrintLevel::Warn,
        libbpf_sys::LIBBPF_INFO => PrintLevel::Info,
        _ => PrintLevel::Debug,
    }
}

unsafe extern "C" fn print_cb(level: libbpf_sys::libbpf_print_level, fmt: *const c_char, ap: *mut c_void) -> c_int {
    if fmt.is_null() {
        return 0;
    }
    let mut buf: *mut c_char = std::ptr::null_mut();
    // SAFETY: fmt and ap are the format and arguments libbpf passed us, used
    // once; vasprintf allocates `buf` (or leaves it unusable and returns < 0).
    let n = unsafe { vasprintf(&mut buf, fmt, ap) };
    if n < 0 || buf.is_null() {
        return 0;
    }
    // SAFETY: vasprintf wrote `n` bytes (plus a NUL) into `buf`.
    let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), n as usize) };
    let msg = String::from_utf8_lossy(bytes).into_owned();
    // SAFETY: `buf` came from vasprintf's malloc and is not used after this.
    unsafe { libc::free(buf.cast()) };
    // a panic must not unwind into libbpf's C frames
    let _ = std::panic::catch_unwind(|| libbpf_print(level_of(level), msg));
    0
}

thread_local! {
    static CAPTURE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` while capturing libbpf's messages on this thread; returns the
/// result and what libbpf printed.
pub fn capture_libbpf<T>(f: impl FnOnce() -> T) -> (T, String) {
    CAPTURE.with(|c| *c.borrow_mut() = Some(String::new()));
    let r = f();
    let log = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (r, log)
}

fn libbpf_print(level: PrintLevel, msg: String) {
    let msg = msg.trim_end();
    let captured = CAPTURE.with(|c| {
        if let Some(buf) = c.borrow_mut().as_mut() {
            buf.push_str(msg);
            buf.push('\n');
            true
        } else {
            false
        }
    });
    // libbpf retries a RINGBUF whose value type we had to drop without BTF;
    // that is expected for every bee ringbuf and not worth a warning.
    let benign = msg.contains("Retrying without BTF") || msg.contains("Error in bpf_create_map_xattr");
    match level {
        PrintLevel::Warn if !benign && !captured => tracing::warn!(target: "libbpf", "{msg}"),
        PrintLevel::Warn | PrintLevel::Info => tracing::debug!(target: "libbpf", "{msg}"),
        PrintLevel::Debug => tracing::trace!(target: "libbpf", "{msg}"),
    }
}
