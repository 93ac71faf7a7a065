//! Hands the allocator's free memory back to the system. Both daemons
//! allocate in bursts (a thousand programs started, a config reloaded)
//! and then sit idle for days: glibc keeps the pages freed inside its heap
//! resident until told otherwise, and `malloc_trim` is how it is told.
//! This lives beside the other audited `unsafe` of the pair so that the
//! broker itself stays `unsafe`-free.

/// Returns the free pages of the heap to the kernel (`malloc_trim(0)`).
/// Cheap next to the burst it follows (it walks the free lists, with one
/// `madvise` per free run of pages); call it once a burst is over, not in
/// a loop. Without glibc it does nothing.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and touches only the
    // allocator's own free chunks, under the allocator's lock; memory in
    // use is never moved or released, so it is sound at any point, from
    // any thread.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
