//! The opaque handles C holds (`benchfs_context_t`, `benchfs_file_t`) and checked
//! conversion of every C argument: NULL handles and strings are EINVAL, NULL data
//! buffers EFAULT, negative offsets and sizes EINVAL.
//!
//! A context is a `Box::into_raw` pointer, freed exactly once by `benchfs_finalize`.
//! A file handle is no pointer at all: it encodes a slot of [`FILES`] and that slot's
//! generation, and is never dereferenced. Closing empties the slot and bumps its
//! generation, so a stale handle (double close, I/O after close) is EBADF, as a closed
//! descriptor is for `close(2)`, instead of a use of freed memory.

use std::ffi::{c_char, c_void, CStr};
use std::mem::MaybeUninit;
use std::sync::{Arc, PoisonError, RwLock};

use super::error::FfiError;
use crate::{Client, File};

/// `benchfs_context_t`: a connected client.
pub struct Context {
    pub(super) client: Client,
}

/// `benchfs_file_t`: only ever seen behind a pointer that encodes a [`FILES`] slot.
pub struct FileHandle {
    _opaque: [u8; 0],
}

/// One slot of the file table. A slot's generation changes when its file is closed.
struct Slot {
    generation: u32,
    file: Option<Arc<File>>,
}

/// The open files of the process. Lookups (every read and write) share the lock; the
/// file is cloned out, so no call holds it across I/O.
struct FileTable {
    slots: Vec<Slot>,
    /// Indices of empty slots, reused before the table grows.
    free: Vec<u32>,
}

static FILES: RwLock<FileTable> = RwLock::new(FileTable { slots: Vec::new(), free: Vec::new() });

/// Handle value: (slot + 1) in the low half, generation in the high half of the pointer
/// bits; never NULL. A stale handle could alias only after 2^32 closes of one slot
/// (2^16 on 32-bit targets).
const HALF: u32 = usize::BITS / 2;
const GENERATION_MASK: u32 = u32::MAX >> (32 - HALF);

fn encode(index: u32, generation: u32) -> *mut FileHandle {
    let low = (index as usize + 1) & ((1usize << HALF) - 1);
    let high = (generation as usize) << HALF;
    std::ptr::without_provenance_mut(high | low)
}

fn decode(f: *const FileHandle) -> Result<(usize, u32), FfiError> {
    if f.is_null() {
        return Err(FfiError::null("file handle"));
    }
    let v = f.addr();
    let (low, generation) = (v & ((1usize << HALF) - 1), (v >> HALF) as u32);
    Ok((low.wrapping_sub(1), generation))
}

fn bad_handle(f: *const FileHandle) -> FfiError {
    FfiError::new(libc::EBADF, format!("file handle {f:p} is closed or was never opened"))
}

/// Registers an open file and returns its handle for C.
pub(super) fn insert_file(file: File) -> Result<*mut FileHandle, FfiError> {
    let mut t = FILES.write().unwrap_or_else(PoisonError::into_inner);
    let index = match t.free.pop() {
        Some(i) => i,
        None => {
            let i = u32::try_from(t.slots.len())
                .ok()
                .filter(|&i| (i as usize) < (1usize << HALF) - 1)
                .ok_or_else(|| FfiError::new(libc::EMFILE, "too many open files"))?;
            t.slots.push(Slot { generation: 0, file: None });
            i
        }
    };
    let slot = &mut t.slots[index as usize];
    slot.file = Some(Arc::new(file));
    Ok(encode(index, slot.generation))
}

/// The file behind handle `f`; EBADF once it is closed.
pub(super) fn file(f: *const FileHandle) -> Result<Arc<File>, FfiError> {
    let (index, generation) = decode(f)?;
    let t = FILES.read().unwrap_or_else(PoisonError::into_inner);
    match t.slots.get(index) {
        Some(Slot { generation: g, file: Some(file) }) if *g == generation => Ok(file.clone()),
        _ => Err(bad_handle(f)),
    }
}

/// Takes the file out of handle `f`, which is stale from now on; EBADF if it already was.
pub(super) fn remove_file(f: *const FileHandle) -> Result<Arc<File>, FfiError> {
    let (index, generation) = decode(f)?;
    let mut t = FILES.write().unwrap_or_else(PoisonError::into_inner);
    let file = match t.slots.get_mut(index) {
        Some(slot) if slot.generation == generation && slot.file.is_some() => {
            slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
            slot.file.take()
        }
        _ => None,
    };
    let file = file.ok_or_else(|| bad_handle(f))?;
    t.free.push(index as u32);
    Ok(file)
}

/// Borrows the context behind `ctx`.
///
/// # Safety
/// `ctx` is NULL or came from `benchfs_init` and has not been finalized.
pub(super) unsafe fn context<'a>(ctx: *const Context) -> Result<&'a Context, FfiError> {
    // SAFETY: non-NULL handles are live `Box<Context>`s (caller's contract).
    unsafe { ctx.as_ref() }.ok_or_else(|| FfiError::null("context"))
}

/// Borrows a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string that outlives the call.
pub(super) unsafe fn string<'a>(s: *const c_char, what: &str) -> Result<&'a str, FfiError> {
    if s.is_null() {
        return Err(FfiError::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated (caller's contract).
    unsafe { CStr::from_ptr(s) }.to_str().map_err(|_| FfiError::invalid(format!("{what} is not valid UTF-8")))
}

/// Borrows a caller's buffer of `len` bytes for reading.
///
/// # Safety
/// `buf` is NULL or valid for reads of `len` bytes for the whole call.
pub(super) unsafe fn bytes<'a>(buf: *const c_void, len: usize) -> Result<&'a [u8], FfiError> {
    if buf.is_null() {
        return Err(FfiError::fault("buffer"));
    }
    check_len(len)?;
    // SAFETY: non-NULL, `len` readable bytes (caller's contract), len <= isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) })
}

/// Borrows a caller's buffer of `len` bytes for writing.
///
/// # Safety
/// `buf` is NULL or valid for writes of `len` bytes for the whole call, and nothing
/// else accesses it meanwhile.
pub(super) unsafe fn bytes_mut<'a>(buf: *mut c_void, len: usize) -> Result<&'a mut [u8], FfiError> {
    if buf.is_null() {
        return Err(FfiError::fault("buffer"));
    }
    check_len(len)?;
    // SAFETY: non-NULL, `len` writable bytes not aliased during the call (caller's
    // contract), len <= isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) })
}

/// The return value (`ssize_t`) must be able to hold the byte count.
fn check_len(len: usize) -> Result<(), FfiError> {
    if isize::try_from(len).is_err() {
        return Err(FfiError::invalid(format!("length {len} exceeds SSIZE_MAX")));
    }
    Ok(())
}

/// An `off_t` offset or size, which must not be negative.
pub(super) fn offset(off: libc::off_t, what: &str) -> Result<u64, FfiError> {
    u64::try_from(off).map_err(|_| FfiError::invalid(format!("negative {what} {off}")))
}

/// Borrows a caller's output struct, checked up front so a NULL fails before any RPC.
///
/// # Safety
/// `out` is NULL or valid for a write of one `T`, not aliased during the call.
pub(super) unsafe fn out<'a, T>(out: *mut T, what: &str) -> Result<&'a mut MaybeUninit<T>, FfiError> {
    // SAFETY: non-NULL pointers are valid and unaliased (caller's contract); viewing the
    // target as `MaybeUninit` means its old, possibly uninitialised contents are never read.
    unsafe { out.cast::<MaybeUninit<T>>().as_mut() }.ok_or_else(|| FfiError::fault(what))
}
