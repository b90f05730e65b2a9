//! The global allocator: mimalloc, entered through its plain entry points.
//!
//! mimalloc returns freed memory to the system promptly; glibc's allocator
//! kept the transient buffers of large lists and watch fan-out as resident
//! memory. Why not the `mimalloc` crate's `MiMalloc`: it passes every request
//! to mimalloc's aligned entry points, which check the alignment before
//! reaching the same fast path. Nearly every Rust allocation asks for at most
//! pointer alignment, which every mimalloc block has, and the server makes
//! about 160 allocations per create.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// mimalloc's smallest block is a pointer, and blocks are aligned to it.
const ALWAYS_ALIGNED: usize = std::mem::size_of::<usize>();

pub struct Mimalloc;

// SAFETY: mimalloc's functions meet GlobalAlloc's contract; requests for more
// than pointer alignment go to its aligned entry points.
unsafe impl GlobalAlloc for Mimalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain C allocation calls; a null result is passed on.
        unsafe {
            if layout.align() <= ALWAYS_ALIGNED {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if layout.align() <= ALWAYS_ALIGNED {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (GlobalAlloc's contract).
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; the new block
        // keeps the alignment (mi_realloc's blocks are pointer-aligned too).
        unsafe {
            if layout.align() <= ALWAYS_ALIGNED {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_have_the_alignment_asked_for_and_keep_their_contents() {
        let a = Mimalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 7, 8, 24, 100, 4000, 100_000] {
                let layout = Layout::from_size_align(size, align).expect("layout");
                // SAFETY: the block is used only within its size and freed once.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    p.write_bytes(0xab, size);
                    let q = a.realloc(p, layout, size * 3);
                    assert_eq!(q as usize % align, 0, "realloc size {size} align {align}");
                    assert!((0..size).all(|i| *q.add(i) == 0xab));
                    a.dealloc(q, Layout::from_size_align(size * 3, align).expect("layout"));
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
