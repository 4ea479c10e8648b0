//! A thin VFS over SQLite's default one that writes a WAL commit in a few large `pwrite`s
//! instead of two per page.
//!
//! SQLite appends a commit to the WAL frame by frame, and each frame with two writes: its 24-byte
//! header, then the page. A gateway commit of a few mails touches some 70 pages, so it cost ~140
//! `pwrite64` calls, each a trip into the kernel and through ext4's write path (inode lock, mtime,
//! journal). This shim holds the writes to a WAL file in memory while they run on contiguously,
//! and hands them to the real file in one write (of at most [`MAX_HELD`] bytes):
//!
//! * when the commit frame is complete (the page written right after a frame header whose
//!   "database size after commit" field is non-zero): so the file holds the whole commit before
//!   SQLite syncs it and before it publishes the frames to other connections in the WAL index,
//!   whatever `synchronous` is;
//! * before anything else touches the file: a read, a sync, a size, a truncate, a file control, a
//!   mapping, closing it;
//! * when the next write is not contiguous, or the held bytes would pass [`MAX_HELD`].
//!
//! So what reaches the disk, in what order relative to every sync and every reader, is what
//! SQLite wrote; only the number of calls changes. Files other than WALs (the database, the
//! shared-memory index, temporary files) are the default VFS's own, opened in place: the shim
//! adds nothing to their calls.
//!
//! This is the crate's (and the workspace's) one module with `unsafe` code: SQLite's VFS is a C
//! interface of function pointers and caller-allocated structs, and there is no safe way to sit
//! in it. Each `unsafe` block relies only on SQLite's documented VFS contract; [`MAX_HELD`]
//! relies on the unix VFS's largest write, which its source states.
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use rusqlite::ffi;

/// The name connections open the store with.
pub const NAME: &str = "etraq-wal";
const C_NAME: &CStr = c"etraq-wal";

/// The most bytes held, and written in one call. SQLite's unix VFS takes at most 128 KiB − 1 per
/// write (it masks the length with `0x1ffff`), so a commit of a few mails (~300 KB) goes out in
/// three writes; this is a whole number of 4 KiB blocks under that limit.
pub const MAX_HELD: usize = 0x1_f000;

/// Size of a WAL frame header (SQLite's file format).
const FRAME_HEADER: usize = 24;

/// The default VFS this one forwards to.
static BASE: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(ptr::null_mut());

/// Writes the shim handed to WAL files, counted for tests and benchmarks.
static WRITES: AtomicU64 = AtomicU64::new(0);

/// Registers the VFS (once per process) and returns its name, or `None` when SQLite has no
/// default VFS to sit on (then stores open with SQLite's default, as before).
pub fn name() -> Option<&'static str> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    // SAFETY: `register` is called once, and only reads SQLite's own default VFS.
    REGISTERED
        .get_or_init(|| unsafe { register() })
        .then_some(NAME)
}

/// How many writes the shim has made to WAL files in this process: each one carries what SQLite
/// wrote in one or many calls.
pub fn wal_writes() -> u64 {
    WRITES.load(Ordering::Relaxed)
}

unsafe fn register() -> bool {
    // SAFETY: sqlite3_vfs_find initialises SQLite if needed and returns a VFS that lives as long
    // as the process (or null).
    let base = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if base.is_null() {
        return false;
    }
    BASE.store(base, Ordering::Release);
    // SAFETY: `base` is a valid VFS; copying it keeps its methods and its app data, which its
    // other methods (delete, access, full path, time, …) read through the pointer we pass.
    let mut vfs = unsafe { *base };
    vfs.szOsFile += WAL_FILE_SIZE as c_int;
    vfs.zName = C_NAME.as_ptr();
    vfs.pNext = ptr::null_mut();
    vfs.xOpen = Some(open);
    let vfs = Box::into_raw(Box::new(vfs));
    // SAFETY: the struct is leaked, so it outlives every connection; makeDflt = 0 leaves
    // SQLite's default alone for everyone else.
    unsafe { ffi::sqlite3_vfs_register(vfs, 0) == ffi::SQLITE_OK }
}

/// A WAL file: SQLite's `sqlite3_file` header pointing at [`METHODS`], what is held, and the
/// default VFS's file, which lives in the same allocation right after this struct.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    held: *mut Held,
    real: *mut ffi::sqlite3_file,
}

/// Bytes of [`WalFile`], rounded to 8 so the real file after it is aligned.
const WAL_FILE_SIZE: usize = std::mem::size_of::<WalFile>().next_multiple_of(8);

/// Writes not yet handed to the file: `buf` goes at offset `start`.
struct Held {
    buf: Vec<u8>,
    start: i64,
    /// The last write was a commit frame's header: the next one completes the commit.
    commit_next: bool,
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let base = BASE.load(Ordering::Acquire);
    // SAFETY: BASE was set before this VFS was registered; it is SQLite's default VFS.
    let Some(base_open) = (unsafe { base.as_ref() }).and_then(|b| b.xOpen) else {
        return ffi::SQLITE_ERROR;
    };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // SAFETY: `file` has room for the default VFS's file (szOsFile is larger).
        return unsafe { base_open(base, name, file, flags, out_flags) };
    }
    let shim = file.cast::<WalFile>();
    // SAFETY: SQLite allocated szOsFile = WAL_FILE_SIZE + the default's size bytes at `file`.
    let real = unsafe { file.cast::<u8>().add(WAL_FILE_SIZE) }.cast::<ffi::sqlite3_file>();
    // SAFETY: both point into that allocation; null methods mean "not open" to SQLite.
    unsafe {
        (*shim).base.pMethods = ptr::null();
        (*real).pMethods = ptr::null();
    }
    // SAFETY: as above; the default VFS initialises `real`.
    let rc = unsafe { base_open(base, name, real, flags, out_flags) };
    if rc != ffi::SQLITE_OK {
        // A failed open with methods set must still be closed; ours stay null, so SQLite will
        // not call us.
        // SAFETY: the default VFS set `pMethods` or left it null; a set one may be closed.
        unsafe {
            if let Some(close) = (*real).pMethods.as_ref().and_then(|m| m.xClose) {
                close(real);
            }
        }
        return rc;
    }
    let held = Box::into_raw(Box::new(Held {
        buf: Vec::new(),
        start: 0,
        commit_next: false,
    }));
    // SAFETY: `shim` points at WAL_FILE_SIZE writable bytes owned by SQLite for this file.
    unsafe {
        ptr::write(
            shim,
            WalFile {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                held,
                real,
            },
        );
    }
    ffi::SQLITE_OK
}

/// The shim's parts of an open WAL file.
///
/// # Safety
/// `f` must be a file this VFS opened as a WAL (its methods are [`METHODS`]) and not closed.
unsafe fn parts<'a>(f: *mut ffi::sqlite3_file) -> (&'a mut Held, *mut ffi::sqlite3_file) {
    let w = f.cast::<WalFile>();
    // SAFETY: per the contract, `held` is the live box made in `open`; SQLite uses a file from
    // one thread at a time.
    unsafe { (&mut *(*w).held, (*w).real) }
}

/// The default VFS's methods of `real`.
unsafe fn methods<'a>(real: *mut ffi::sqlite3_file) -> Option<&'a ffi::sqlite3_io_methods> {
    // SAFETY: `real` was opened successfully by the default VFS.
    unsafe { (*real).pMethods.as_ref() }
}

/// Writes what is held to `real`, in one call.
///
/// # Safety
/// `real` must be the file underneath the WAL file `held` belongs to.
unsafe fn flush(held: &mut Held, real: *mut ffi::sqlite3_file) -> c_int {
    held.commit_next = false;
    if held.buf.is_empty() {
        return ffi::SQLITE_OK;
    }
    let len = c_int::try_from(held.buf.len());
    // SAFETY: `real` was opened by the default VFS (this function's contract).
    let write = unsafe { methods(real) }.and_then(|m| m.xWrite);
    let rc = match (len, write) {
        (Ok(len), Some(write)) => {
            WRITES.fetch_add(1, Ordering::Relaxed);
            // SAFETY: `buf` holds `len` initialised bytes; `real` is open.
            unsafe { write(real, held.buf.as_ptr().cast(), len, held.start) }
        }
        _ => ffi::SQLITE_IOERR_WRITE,
    };
    held.buf.clear();
    rc
}

unsafe extern "C" fn write(
    f: *mut ffi::sqlite3_file,
    data: *const c_void,
    amt: c_int,
    offset: i64,
) -> c_int {
    let Ok(n) = usize::try_from(amt) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    if n > MAX_HELD {
        // Larger than the shim may hold (no page is): written as it came, after what is held.
        WRITES.fetch_add(1, Ordering::Relaxed);
        // SAFETY: SQLite calls METHODS only on a WAL file this VFS opened, with `amt` readable
        // bytes at `data`.
        return unsafe { forward(f, true, |m, r| m.xWrite.map(|w| w(r, data, amt, offset))) };
    }
    // SAFETY: as above.
    let (bytes, (held, real)) =
        unsafe { (std::slice::from_raw_parts(data.cast::<u8>(), n), parts(f)) };
    let contiguous = i64::try_from(held.buf.len()).is_ok_and(|l| held.start + l == offset);
    if !held.buf.is_empty() && (!contiguous || held.buf.len() + n > MAX_HELD) {
        // SAFETY: `real` is the file under `held`.
        let rc = unsafe { flush(held, real) };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    if held.buf.is_empty() {
        held.start = offset;
    }
    held.buf.extend_from_slice(bytes);
    let completes_commit = held.commit_next;
    // Frame header: page number (4 bytes), then the database size after commit (4 bytes,
    // non-zero only in a commit's last frame).
    held.commit_next = n == FRAME_HEADER && bytes[4..8] != [0; 4];
    if completes_commit {
        // SAFETY: `real` is the file under `held`.
        return unsafe { flush(held, real) };
    }
    ffi::SQLITE_OK
}

/// Runs `call` on the real file with its methods; with `flush_first`, what is held is written
/// first (and an error there is the answer).
///
/// # Safety
/// As [`parts`].
unsafe fn forward(
    f: *mut ffi::sqlite3_file,
    flush_first: bool,
    call: impl FnOnce(&ffi::sqlite3_io_methods, *mut ffi::sqlite3_file) -> Option<c_int>,
) -> c_int {
    // SAFETY: per this function's contract.
    let (held, real) = unsafe { parts(f) };
    if flush_first {
        // SAFETY: `real` is the file under `held`.
        let rc = unsafe { flush(held, real) };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    // SAFETY: `real` was opened by the default VFS.
    unsafe { methods(real) }
        .and_then(|m| call(m, real))
        .unwrap_or(ffi::SQLITE_IOERR)
}

/// A method of [`METHODS`] that forwards to the default VFS's method of the same name, after
/// writing what is held when `flush` is true (anything that reads or syncs the file, or depends
/// on its size) and without when false (locks, sector size, shared memory: they do not touch
/// the file's bytes).
macro_rules! forwarded {
    ($name:ident, $method:ident, flush: $flush:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(f: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            // SAFETY: SQLite calls METHODS only on a WAL file this VFS opened and has not
            // closed, with arguments valid for the same method of the file underneath.
            unsafe { forward(f, $flush, |m, r| m.$method.map(|x| x(r, $($arg),*))) }
        }
    };
}

forwarded!(read, xRead, flush: true, (buf: *mut c_void, amt: c_int, off: i64));
forwarded!(truncate, xTruncate, flush: true, (size: i64));
forwarded!(sync, xSync, flush: true, (flags: c_int));
forwarded!(file_size, xFileSize, flush: true, (size: *mut i64));
forwarded!(file_control, xFileControl, flush: true, (op: c_int, arg: *mut c_void));
forwarded!(fetch, xFetch, flush: true, (off: i64, amt: c_int, out: *mut *mut c_void));
forwarded!(lock, xLock, flush: false, (level: c_int));
forwarded!(unlock, xUnlock, flush: false, (level: c_int));
forwarded!(check_reserved_lock, xCheckReservedLock, flush: false, (out: *mut c_int));
forwarded!(sector_size, xSectorSize, flush: false, ());
forwarded!(device_characteristics, xDeviceCharacteristics, flush: false, ());
forwarded!(shm_map, xShmMap, flush: false, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void));
forwarded!(shm_lock, xShmLock, flush: false, (offset: c_int, n: c_int, flags: c_int));
forwarded!(shm_unmap, xShmUnmap, flush: false, (delete: c_int));
forwarded!(unfetch, xUnfetch, flush: false, (off: i64, p: *mut c_void));

unsafe extern "C" fn shm_barrier(f: *mut ffi::sqlite3_file) {
    // SAFETY: as for the forwarded methods; the barrier returns nothing.
    unsafe {
        forward(f, false, |m, r| {
            m.xShmBarrier.map(|x| {
                x(r);
                ffi::SQLITE_OK
            })
        });
    }
}

unsafe extern "C" fn close(f: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes a file it opened through this VFS once; nothing uses it after.
    unsafe {
        let (held, real) = parts(f);
        let flushed = flush(held, real);
        let w = f.cast::<WalFile>();
        drop(Box::from_raw((*w).held));
        (*w).held = ptr::null_mut();
        let closed = methods(real)
            .and_then(|m| m.xClose)
            .map_or(ffi::SQLITE_OK, |c| c(real));
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            closed
        }
    }
}

/// The methods of a WAL file: [`write`] holds, the rest flush first where order matters and
/// forward to the default VFS's file.
static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};
