//! The wasm heap: talc, over linear memory grown in large steps.
//!
//! Every `memory.grow` costs the JS engine a new `ArrayBuffer` and a look at its garbage
//! collector. Growing by exactly what each allocation needs (talc's and dlmalloc's stock
//! sources) made a 300-node simulation spend half its time there; growing by half the
//! current size (at most 256 MiB at once) makes the number of grows logarithmic.
//!
//! This is the crate's only `unsafe`: talc's `Source` contract (below).

#![allow(unsafe_code)]

use core::alloc::Layout;
use core::arch::wasm32::{memory_grow, memory_size};
use core::ptr::NonNull;

use talc::base::Talc;
use talc::base::binning::Binning;
use talc::cell::TalcSyncCell;
use talc::wasm::WasmBinning;

const PAGE: usize = 64 * 1024;
const MAX_STEP_PAGES: usize = 4096;

/// Grows linear memory geometrically and extends talc's single heap over it.
#[derive(Debug)]
pub struct GrowGeometric {
    end: Option<NonNull<u8>>,
}

/// Grows memory by `pages`, falling back to `needed` near the 4 GiB limit; returns the first
/// new page and how many were added.
fn grow(pages: usize, needed: usize) -> Option<(usize, usize)> {
    [pages, needed]
        .into_iter()
        .find_map(|p| match memory_grow(0, p) {
            usize::MAX => None,
            prev => Some((prev, p)),
        })
}

// SAFETY: `acquire` touches the allocator only through the `talc` it is given, never
// allocates, and hands talc only pages it has just grown (memory no one else uses: nothing
// else in this module grows linear memory).
unsafe impl talc::source::Source for GrowGeometric {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        let needed = (layout.size() + layout.align() + 4 * talc::base::CHUNK_UNIT).div_ceil(PAGE);
        let step = needed.max((memory_size(0) / 2).min(MAX_STEP_PAGES));
        let (first, pages) = grow(step, needed).ok_or(())?;
        let base = (first * PAGE) as *mut u8;
        let bytes = pages * PAGE;
        if let Some(old_end) = talc.source.end.take()
            && old_end.as_ptr() == base
        {
            // SAFETY: `[old_end, base + bytes)` was just grown and follows the heap's end.
            talc.source.end = Some(unsafe { talc.extend(old_end, base.wrapping_add(bytes)) });
            return Ok(());
        }
        // SAFETY: `[base, base + bytes)` was just grown; nothing else refers to it.
        talc.source.end = unsafe { talc.claim(base, bytes) };
        talc.source.end.map(|_| ()).ok_or(())
    }
}

#[global_allocator]
static HEAP: TalcSyncCell<GrowGeometric, WasmBinning> =
    TalcSyncCell::new_wasm(GrowGeometric { end: None });
