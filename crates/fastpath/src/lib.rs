//! Fort's kernel fast path (work in progress).
