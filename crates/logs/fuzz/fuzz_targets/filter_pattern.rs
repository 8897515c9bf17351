//! Filter patterns and events on arbitrary text: parsing and matching never panic, and a
//! match is decided within the matcher's step bound (a slow input shows as a timeout).
//! The input is `PATTERN\nEVENT`.
#![no_main]

use fort_logs::Pattern;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, event) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(p) = Pattern::parse(pattern) {
        let _ = p.matches(event);
        // a pattern that parses once parses the same again
        assert_eq!(Pattern::parse(pattern).ok(), Some(p));
    }
});
