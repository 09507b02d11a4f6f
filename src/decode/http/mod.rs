//! http (filled in by its parser).
